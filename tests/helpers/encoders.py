"""Small generated image encoders for ``train --backbone PATH``: ONNX (onnx.helper) and Keras.

Random convolutions, but their features differ between the generated drawings and
photo-alikes, so a head trained on them separates the classes. Also the broken ones
``train`` must refuse before any work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["keras_encoder", "onnx_cumsum_encoder", "onnx_encoder", "onnx_rank3_input",
           "onnx_token_output"]

CHANNELS = 8


def _conv_nodes(source: str, rng: np.random.Generator) -> tuple[list[Any], list[Any]]:
    """NCHW ``source`` -> Conv 3x3 stride 4 -> Relu -> ``map_nchw``."""
    weight = rng.normal(0, 0.3, (CHANNELS, 3, 3, 3)).astype(np.float32)
    bias = rng.normal(0, 0.1, CHANNELS).astype(np.float32)
    nodes = [helper.make_node("Conv", [source, "w", "b"], ["conv"], kernel_shape=[3, 3],
                              strides=[4, 4], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv"], ["map_nchw"])]
    return nodes, [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")]


def onnx_encoder(path: Path, *, layout: str = "NCHW", size: int | None = 32,
                 outputs: tuple[str, ...] = ("map",), seed: int = 0, opset: int = 17) -> Path:
    """An ONNX encoder: ``layout`` input (``size`` None: dynamic H and W); outputs among
    ``map`` (in the input's layout), ``vector`` (global average pool), ``avgpool`` (the
    same average by an AveragePool over the whole map, which export cannot trace back to
    the map by itself: ``--explain-output map_nchw``) and ``flat`` (the map flattened: a
    vector with no map behind it)."""
    rng = np.random.default_rng(seed)
    hw: list[Any] = [size, size] if size else ["H", "W"]
    shape = ["N", 3, *hw] if layout == "NCHW" else ["N", *hw, 3]
    nodes: list[Any] = []
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["image"], ["image_nchw"], perm=[0, 3, 1, 2]))
    conv, inits = _conv_nodes("image" if layout == "NCHW" else "image_nchw", rng)
    nodes += conv
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["map_nchw"], ["map"], perm=[0, 2, 3, 1]))
    else:
        nodes.append(helper.make_node("Identity", ["map_nchw"], ["map"]))
    nodes += [helper.make_node("GlobalAveragePool", ["map_nchw"], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["vector"]),
              helper.make_node("Flatten", ["map_nchw"], ["flat"])]
    if "avgpool" in outputs:  # an AveragePool over the whole map: no automatic explain
        side = (size or 32) // 4
        nodes += [helper.make_node("AveragePool", ["map_nchw"], ["avg"],
                                   kernel_shape=[side, side]),
                  helper.make_node("Flatten", ["avg"], ["avgpool"])]
    shapes = {"map": ["N", CHANNELS, "h", "w"] if layout == "NCHW" else ["N", "h", "w", CHANNELS],
              "vector": ["N", CHANNELS], "flat": ["N", "D"], "avgpool": ["N", CHANNELS]}
    outs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, shapes[name])
            for name in outputs]
    graph = helper.make_graph(nodes, "encoder", [helper.make_tensor_value_info(
        "image", TensorProto.FLOAT, shape)], outs, inits)
    return _save(graph, path, opset)


def onnx_rank3_input(path: Path) -> Path:
    """An ONNX model whose input is (N, 32, 32): not an image batch."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "rank3",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 32, 32])])
    return _save(graph, path)


def onnx_token_output(path: Path) -> Path:
    """An NCHW encoder whose output is (N, C, L) tokens: neither a map nor a vector."""
    conv, inits = _conv_nodes("image", np.random.default_rng(0))
    inits.append(numpy_helper.from_array(np.array([0, CHANNELS, -1], np.int64), "shape"))
    graph = helper.make_graph(
        [*conv, helper.make_node("Reshape", ["map_nchw", "shape"], ["tokens"])], "tokens",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["N", CHANNELS, "L"])],
        inits)
    return _save(graph, path)


def onnx_cumsum_encoder(path: Path) -> Path:
    """An NCHW encoder with a ``CumSum`` over the map's rows: fine for onnxruntime and
    OpenVINO, no ncnn layer."""
    conv, inits = _conv_nodes("image", np.random.default_rng(0))
    inits.append(numpy_helper.from_array(np.array(2, np.int64), "axis"))
    graph = helper.make_graph(
        [*conv, helper.make_node("CumSum", ["map_nchw", "axis"], ["map"])], "cumsum",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("map", TensorProto.FLOAT, ["N", CHANNELS, "h", "w"])],
        inits)
    return _save(graph, path)


def _save(graph: Any, path: Path, opset: int = 17) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 17 else 10
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def keras_encoder(path: Path, *, output: str = "map", size: int | None = 32,
                  seed: int = 0) -> Path:
    """A Keras encoder: two convolutions to a map, or pooled to a vector (``output``);
    a ``path`` without a suffix gets a SavedModel folder."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(CHANNELS, 3, strides=4, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(CHANNELS, 3, padding="same", activation="relu", name="last_map")(x)
    if output == "vector":
        x = keras.layers.GlobalAveragePooling2D(name="pooled")(x)
    model = keras.Model(inp, x, name="small_encoder")
    if path.suffix:
        model.save(path)
    else:
        model.export(str(path), verbose=False)  # a SavedModel folder
    return path
