"""A small VGG-layout ONNX graph for engine parity tests (seconds, not minutes).

Same structure and I/O contract as an export: NHWC ``input`` -> Transpose -> 3x3
Conv+ReLU blocks each ending in a 2x2 MaxPool -> GlobalAveragePool -> Flatten ->
Gemm+ReLU -> Gemm -> Softmax ``output``. Weights are seeded and scaled so that the
probabilities stay away from 0 and 1 (a saturated softmax would hide differences).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from anime_detector.contract import ModelContract
from anime_detector.preprocessing import PreprocessSpec, preprocess

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample"


def _conv(rng: np.random.Generator, c_in: int, c_out: int, gain: float) -> list[np.ndarray]:
    std = gain * np.sqrt(2.0 / (9 * c_in))
    return [rng.normal(0, std, (c_out, c_in, 3, 3)).astype(np.float32),
            rng.normal(0, 0.05, c_out).astype(np.float32)]


def build_small_vgg(size: int = 32, blocks: tuple[tuple[int, int], ...] = ((8, 2), (16, 2)),
                    seed: int = 0, hidden: int = 16) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Transpose", ["input"], ["x0"], perm=[0, 3, 1, 2])]
    inits, x, c_in = [], "x0", 3
    for b, (c_out, n) in enumerate(blocks):
        for i in range(n):
            name = f"b{b}c{i}"
            w, bias = _conv(rng, c_in, c_out, 0.01 if x == "x0" else 1.0)  # input is ~100
            inits += [numpy_helper.from_array(w, name + "_W"),
                      numpy_helper.from_array(bias, name + "_B")]
            nodes += [helper.make_node("Conv", [x, name + "_W", name + "_B"], [name + "_c"],
                                       pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
                      helper.make_node("Relu", [name + "_c"], [name])]
            x, c_in = name, c_out
        nodes.append(helper.make_node("MaxPool", [x], [f"p{b}"], kernel_shape=[2, 2],
                                      strides=[2, 2]))
        x = f"p{b}"
    dense = [rng.normal(0, np.sqrt(2.0 / c_in), (c_in, hidden)).astype(np.float32),
             np.zeros(hidden, np.float32),
             rng.normal(0, 1.0 / np.sqrt(hidden), (hidden, 2)).astype(np.float32),
             np.zeros(2, np.float32)]
    inits += [numpy_helper.from_array(v, f"d{i}") for i, v in enumerate(dense)]
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["f"], axis=1),
              helper.make_node("Gemm", ["f", "d0", "d1"], ["h0"]),
              helper.make_node("Relu", ["h0"], ["h"]),
              helper.make_node("Gemm", ["h", "d2", "d3"], ["logits"]),
              helper.make_node("Softmax", ["logits"], ["output"], axis=-1)]
    graph = helper.make_graph(
        nodes, "small_vgg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", size, size, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    contract = ModelContract(spec=PreprocessSpec(height=size, width=size),
                             extra={"source_sha256": "0" * 64, "versions": {"test": "1"}})
    helper.set_model_props(model, contract.to_metadata())
    onnx.checker.check_model(model)
    return model


def save_small_vgg(path: Path, **kwargs: object) -> Path:
    onnx.save(build_small_vgg(**kwargs), str(path))  # type: ignore[arg-type]
    return path


def sample_batch(spec: PreprocessSpec, per_class: int = 4) -> np.ndarray:
    """Real images from ``examples/sample`` (both classes), preprocessed for ``spec``."""
    paths = [p for label in ("anime", "not_anime")
             for p in sorted((SAMPLE / label).iterdir())[:per_class]]
    return np.stack([preprocess(p, spec) for p in paths])


def onnxruntime_fp32(path: Path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["output"], {"input": batch})[0], np.float32)
