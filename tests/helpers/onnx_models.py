"""Small ONNX models built with onnx.helper, for tests that need no TensorFlow.

Every builder ends the same way (:func:`classifier`): NHWC float ``input`` and softmax
``output`` with a dynamic batch axis, opset 17 unless asked, IR version 8, the
anime-detector metadata of ``contract`` (none when ``None``), checked by onnx. The models:

- :func:`build_tiny_model`: per-channel mean and a fixed linear layer; blue-ish images
  score high on ``anime``, red-ish ones on ``not_anime``.
- :func:`build_small_vgg`: the VGG layout (3x3 Conv+ReLU blocks ending in 2x2 MaxPool,
  global average pooling, Gemm+ReLU, Gemm), seeded and scaled so that probabilities stay
  away from 0 and 1; for engine parity in seconds.
- :func:`build_explain_model`: a 7 x 7 x 6 feature map, a dense head and the Grad-CAM
  outputs ``append_explain`` adds.
- :func:`build_batch_one_model`: loads, warms up and predicts one image, but fails at run
  time on a batch of two (a Reshape to batch 1 inside): a real engine error.
- :func:`build_slow_model`: about a second per image on one modern core (a 3x3 convolution
  of 256 channels over the whole 224 x 224 input, 59 GFLOP): inference that takes a while.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from anime_detector.contract import ModelContract
from anime_detector.graphs.explain_head import DenseLayer, append_explain
from anime_detector.preprocessing import PreprocessSpec, preprocess

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample"
EXPLAIN_CHANNELS, EXPLAIN_HIDDEN = 6, 8


def classifier(nodes: Sequence[Any], inits: Sequence[Any], name: str, *,
               size: tuple[int, int] = (224, 224), channels: int = 3, n_out: int = 2,
               opset: int = 17, contract: ModelContract | None = None,
               finish: Any = None) -> onnx.ModelProto:
    """The graph of ``nodes`` (``input`` -> ... -> ``output``) as a checked model.
    ``finish(model)`` runs before the metadata is written (``append_explain``)."""
    graph = helper.make_graph(
        list(nodes), name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *size, channels])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", n_out])],
        initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if finish is not None:
        finish(model)
    if contract is not None:
        helper.set_model_props(model, contract.to_metadata())
    onnx.checker.check_model(model)
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def build_tiny_model(height: int = 224, width: int = 224, n_out: int = 2,
                     metadata: bool = True, channels: int = 3) -> onnx.ModelProto:
    # channel order in the tensor is B, G, R: weight blue up for class 0 (anime).
    weight = np.zeros((channels, n_out), dtype=np.float32)
    weight[0, 0], weight[2, min(1, n_out - 1)] = 0.05, 0.05
    nodes = [
        helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("GlobalAveragePool", ["nchw"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["pooled"], axis=1),
        helper.make_node("MatMul", ["pooled", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["output"], axis=-1),
    ]
    return classifier(nodes, [numpy_helper.from_array(weight, "W")], "tiny",
                      size=(height, width), channels=channels, n_out=n_out, opset=18,
                      contract=ModelContract() if metadata else None)


def save_tiny_model(path: Path, **kwargs: Any) -> Path:
    return save(build_tiny_model(**kwargs), path)


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
    contract = ModelContract(spec=PreprocessSpec(height=size, width=size),
                             extra={"source_sha256": "0" * 64, "versions": {"test": "1"}})
    return classifier(nodes, inits, "small_vgg", size=(size, size), contract=contract)


def save_small_vgg(path: Path, **kwargs: Any) -> Path:
    return save(build_small_vgg(**kwargs), path)


def head_layers(seed: int = 0) -> list[DenseLayer]:
    """The explain model's dense head (its weights, for checking the Grad-CAM maths)."""
    rng = np.random.default_rng(seed)
    c, h = EXPLAIN_CHANNELS, EXPLAIN_HIDDEN
    return [DenseLayer(rng.normal(0, 0.5, (c, h)).astype(np.float32),
                       rng.normal(0, 0.2, h).astype(np.float32), relu=True),
            DenseLayer(rng.normal(0, 0.5, (h, 2)).astype(np.float32),
                       rng.normal(0, 0.2, 2).astype(np.float32), relu=False)]


def build_explain_model(opset: int = 17, explain: bool = True, seed: int = 0) -> onnx.ModelProto:
    """A 32 x 32 stride-32 convolution with ReLU gives a 7 x 7 x 6 NHWC feature map (as
    VGG19's block5_pool is 7 x 7), then global average pooling, a dense ReLU layer and two
    logits with softmax."""
    rng = np.random.default_rng(seed + 1)
    conv = rng.normal(0, 0.002, (EXPLAIN_CHANNELS, 3, 32, 32)).astype(np.float32)
    head = head_layers(seed)
    axes = [] if opset < 18 else ["axes"]
    nodes = [
        helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "conv_W"], ["conv"], kernel_shape=[32, 32],
                         strides=[32, 32]),
        helper.make_node("Relu", ["conv"], ["conv_relu"]),
        helper.make_node("Transpose", ["conv_relu"], ["fmap"], perm=[0, 2, 3, 1]),
        helper.make_node("ReduceMean", ["fmap", *axes], ["pooled"], keepdims=0,
                         **({"axes": [1, 2]} if opset < 18 else {})),
        helper.make_node("Gemm", ["pooled", "W0", "b0"], ["h0"]),
        helper.make_node("Relu", ["h0"], ["a0"]),
        helper.make_node("Gemm", ["a0", "W1", "b1"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["output"], axis=-1),
    ]
    inits = [numpy_helper.from_array(conv, "conv_W"),
             numpy_helper.from_array(np.array([1, 2], np.int64), "axes")]
    for i, layer in enumerate(head):
        inits += [numpy_helper.from_array(layer.kernel, f"W{i}"),
                  numpy_helper.from_array(layer.bias, f"b{i}")]
    finish = (lambda model: append_explain(model, "fmap", head)) if explain else None
    return classifier(nodes, inits, "explain_tiny", opset=opset, contract=ModelContract(),
                      finish=finish)


def save_explain_model(path: Path, **kwargs: Any) -> Path:
    return save(build_explain_model(**kwargs), path)


def build_batch_one_model() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Reshape", ["input", "one"], ["single"]),
        helper.make_node("ReduceMean", ["single", "axes"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["output"], axis=-1),
    ]
    inits = [numpy_helper.from_array(np.array([1, 224, 224, 3], np.int64), "one"),
             numpy_helper.from_array(np.array([1, 2], np.int64), "axes"),
             numpy_helper.from_array(np.full((3, 2), 0.01, np.float32), "W")]
    return classifier(nodes, inits, "batch-one", opset=18, contract=ModelContract())


def build_slow_model(channels: int = 256) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal(shape) * 0.01).astype(np.float32),
                                     name)
             for name, shape in (("w0", (channels, 3, 3, 3)), ("w1", (channels, channels, 3, 3)))]
    inits.append(numpy_helper.from_array(np.full((channels, 2), 0.01, np.float32), "W"))
    nodes = [helper.make_node("Transpose", ["input"], ["x0"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["x0", "w0"], ["x1"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["x1", "w1"], ["x2"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["x2"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "W"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["output"], axis=-1)]
    return classifier(nodes, inits, "slow", opset=18, contract=ModelContract())


def sample_batch(spec: PreprocessSpec, per_class: int = 4) -> np.ndarray:
    """Real images from ``examples/sample`` (both classes), preprocessed for ``spec``."""
    paths = [p for label in ("anime", "not_anime")
             for p in sorted((SAMPLE / label).iterdir())[:per_class]]
    return np.stack([preprocess(p, spec) for p in paths])


def onnxruntime_fp32(path: Path, batch: np.ndarray) -> np.ndarray:
    """``output`` of ``path`` on onnxruntime's CPU provider, one thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["output"], {"input": batch})[0], np.float32)
