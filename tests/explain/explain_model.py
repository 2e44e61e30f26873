"""A small ONNX model with the explain outputs, built with onnx.helper (no TensorFlow).

A 32 x 32 stride-32 convolution with ReLU gives a 7 x 7 x 6 NHWC feature map (as
VGG19's block5_pool is 7 x 7), global average pooling, a dense ReLU layer and two
logits with softmax; ``append_explain`` adds ``feature_map`` and ``cam_weights``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from anime_detector.contract import ModelContract
from anime_detector.graphs.explain_head import DenseLayer, append_explain

CHANNELS, HIDDEN = 6, 8


def head_layers(seed: int = 0) -> list[DenseLayer]:
    rng = np.random.default_rng(seed)
    return [DenseLayer(rng.normal(0, 0.5, (CHANNELS, HIDDEN)).astype(np.float32),
                       rng.normal(0, 0.2, HIDDEN).astype(np.float32), relu=True),
            DenseLayer(rng.normal(0, 0.5, (HIDDEN, 2)).astype(np.float32),
                       rng.normal(0, 0.2, 2).astype(np.float32), relu=False)]


def build_explain_model(opset: int = 17, explain: bool = True, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed + 1)
    conv = rng.normal(0, 0.002, (CHANNELS, 3, 32, 32)).astype(np.float32)
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
    graph = helper.make_graph(
        nodes, "explain_tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 224, 224, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if explain:
        append_explain(model, "fmap", head)
    for key, value in ModelContract().to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model


def save_explain_model(path: Path, **kwargs: object) -> Path:
    onnx.save(build_explain_model(**kwargs), str(path))  # type: ignore[arg-type]
    return path
