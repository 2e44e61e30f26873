"""A tiny ONNX classifier built with onnx.helper, for runtime tests without TensorFlow.

It averages the preprocessed (BGR, mean-subtracted) image per channel and
applies a fixed linear layer + softmax: blue-ish images score high on
``anime``, red-ish ones on ``not_anime``. Same I/O contract as an export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from anime_detector.contract import ModelContract


def build_tiny_model(
    height: int = 224, width: int = 224, n_out: int = 2, metadata: bool = True,
    channels: int = 3,
) -> onnx.ModelProto:
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
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                       ["batch", height, width, channels])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", n_out])],
        initializer=[
            numpy_helper.from_array(weight, "W"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    if metadata:
        for key, value in ModelContract().to_metadata().items():
            model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model


def save_tiny_model(path: Path, **kwargs: object) -> Path:
    onnx.save(build_tiny_model(**kwargs), str(path))  # type: ignore[arg-type]
    return path
