"""The VGG19-head network written with onnx.helper: ``bench`` needs no TensorFlow.

Same layers and I/O contract as an export of ``anime_detector.train.build_model``:
NHWC float input ``input`` (batch, 224, 224, 3), 16 3x3 convolutions with ReLU in
five blocks each ending in a 2x2 max-pool, global average pooling, dense 256 and
128 (ReLU) and a softmax over 2. Weights are random (latency does not depend on
their values) unless Keras-ordered weights are passed (a test does, to prove the
graph computes what the Keras model computes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from anime_detector.contract import ModelContract
from anime_detector.errors import AnimeDetectorError
from anime_detector.file_io import atomic_path, user_cache_dir
from anime_detector.preprocessing import DEFAULT_SPEC

__all__ = ["VGG19_BLOCKS", "build_reference_graph", "cached_reference_model"]

VGG19_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))
HEAD = (256, 128, 2)


def _random_weights(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    weights, c_in = [], 3
    for c_out, n in VGG19_BLOCKS:
        for _ in range(n):
            std = np.sqrt(2.0 / (9 * c_in))
            weights += [rng.normal(0, std, (3, 3, c_in, c_out)).astype(np.float32),
                        np.zeros(c_out, np.float32)]
            c_in = c_out
    for units in HEAD:
        weights += [rng.normal(0, np.sqrt(2.0 / c_in), (c_in, units)).astype(np.float32),
                    np.zeros(units, np.float32)]
        c_in = units
    return weights


def build_reference_graph(weights: Sequence[np.ndarray] | None = None, seed: int = 0,
                          explain: bool = False) -> Any:
    """An ``onnx.ModelProto``; ``weights`` in Keras order (kernel HWIO, bias, ...).

    ``explain`` adds the Grad-CAM outputs an export adds (``feature_map``, ``cam_weights``).
    """
    from onnx import TensorProto, helper, numpy_helper

    values = list(weights) if weights is not None else _random_weights(seed)
    nodes = [helper.make_node("Transpose", ["input"], ["x0"], perm=[0, 3, 1, 2])]
    inits, x, k = [], "x0", 0
    for block, (_, n) in enumerate(VGG19_BLOCKS, start=1):
        for conv in range(1, n + 1):
            name = f"block{block}_conv{conv}"
            kernel = np.ascontiguousarray(values[k].transpose(3, 2, 0, 1))  # HWIO -> OIHW
            inits += [numpy_helper.from_array(kernel, f"{name}_W"),
                      numpy_helper.from_array(values[k + 1], f"{name}_B")]
            nodes += [helper.make_node("Conv", [x, f"{name}_W", f"{name}_B"], [f"{name}_c"],
                                       pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
                      helper.make_node("Relu", [f"{name}_c"], [name])]
            x, k = name, k + 2
        pool = f"block{block}_pool"
        nodes.append(helper.make_node("MaxPool", [x], [pool], kernel_shape=[2, 2], strides=[2, 2]))
        x = pool
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["features"], axis=1)]
    x = "features"
    for i, _ in enumerate(HEAD):
        name = f"dense_{i}"
        inits += [numpy_helper.from_array(values[k], f"{name}_W"),
                  numpy_helper.from_array(values[k + 1], f"{name}_B")]
        nodes.append(helper.make_node("Gemm", [x, f"{name}_W", f"{name}_B"], [f"{name}_g"]))
        last = i == len(HEAD) - 1
        out = "output" if last else name
        nodes.append(helper.make_node("Softmax", [f"{name}_g"], [out], axis=-1) if last
                     else helper.make_node("Relu", [f"{name}_g"], [out]))
        x, k = out, k + 2
    graph = helper.make_graph(
        nodes, "vgg19_head_reference",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                       ["batch", DEFAULT_SPEC.height, DEFAULT_SPEC.width, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="anime-detector reference graph")
    model.ir_version = 8
    extra: dict[str, Any] = {"source_file": "reference graph (random weights)"}
    if explain:
        extra["explain"] = _add_explain(model, values[k - 6:k])
    for key, value in ModelContract(extra=extra).to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    return model


def _add_explain(model: Any, head: Sequence[np.ndarray]) -> dict[str, Any]:
    from onnx import helper

    from anime_detector.graphs.explain_head import DenseLayer, append_explain, explain_metadata

    model.graph.node.append(helper.make_node("Transpose", ["block5_pool"], ["feature_map"],
                                             perm=[0, 2, 3, 1]))
    layers = [DenseLayer(head[i], head[i + 1], relu=i < 4) for i in range(0, 6, 2)]
    append_explain(model, "feature_map", layers)
    meta: dict[str, Any] = explain_metadata((7, 7), VGG19_BLOCKS[-1][0], "block5_pool")
    return meta


def cached_reference_model(cache_dir: Path | None = None) -> Path:
    """Build the random-weight reference model once and keep it in the user cache."""
    path = (cache_dir or user_cache_dir()) / "bench" / "vgg19-head-random-v1.onnx"
    if not path.exists():
        try:
            import onnx
        except ImportError:
            raise AnimeDetectorError(
                "building the reference graph needs the onnx package: pip install "
                "'anime-detector[bench]' (or pass a model: anime-detector bench MODEL.onnx)"
            ) from None
        with atomic_path(path) as tmp:
            onnx.save(build_reference_graph(), str(tmp))
    return path
