"""One self-contained ``.onnx`` from an ONNX encoder and the head trained on it.

``train --backbone ENCODER.onnx`` fits a Keras head on pooled features; export joins the
two graphs (``onnx.compose.merge_models``):

- the encoder as it is, its input renamed ``input`` and fixed at the trained size, with
  a ``Transpose`` in front when it takes NCHW (every engine here feeds NHWC, as
  :func:`anime_detector.preprocessing.preprocess` gives it for the exported contract);
- global average pooling of its map (``ReduceMean``), or its vector as it is, as
  ``features``;
- the head converted by tf2onnx from ``features`` to ``output``;
- when the encoder gives a map, the explain outputs
  (:func:`anime_detector.graphs.explain_head.append_explain`) on that map, NHWC.

The reference for verification is what training computed: the encoder on onnxruntime
(:class:`anime_detector.train.encoder_file.OnnxFeatures`), then the Keras head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from anime_detector.contract import DEFAULT_LABELS, POSITIVE_LABEL
from anime_detector.errors import ModelError, one_line
from anime_detector.export.keras_explain import NotExplainable, dense_head
from anime_detector.export.keras_to_onnx import rename_io
from anime_detector.export.loading import SourceModel
from anime_detector.graphs.explain_head import append_explain, explain_metadata
from anime_detector.train.encoder_file import EncoderInfo, OnnxFeatures

__all__ = ["compose_onnx", "encoder_reference"]

FEATURES = "features"
MIN_OPSET, MAX_TF2ONNX_OPSET = 13, 18


def _default_opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _reduce_mean(helper: Any, numpy_helper: Any, opset: int, source: str, axes: list[int],
                 out: str) -> tuple[list[Any], list[Any]]:
    if opset >= 18:
        axes_name = out + "/axes"
        return ([helper.make_node("ReduceMean", [source, axes_name], [out], keepdims=0)],
                [numpy_helper.from_array(np.array(axes, np.int64), axes_name)])
    return [helper.make_node("ReduceMean", [source], [out], axes=axes, keepdims=0)], []


def _prepare_encoder(info: EncoderInfo, opset: int,
                     explain_output: str | None = None) -> tuple[Any, str]:
    """The encoder graph taking NHWC ``input`` and giving ``features``; the NHWC map's name
    ("" for a vector with no map found behind it). ``explain_output``: the map a vector
    is the global average of, named by the user (checked in :func:`_checked_map`)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(info.path))
    if _default_opset(model) < opset:
        model = onnx.version_converter.convert_version(model, opset)
    named = _named_map(model, explain_output, info) if explain_output else None
    graph = model.graph
    height, width = info.size
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", height, width, 3])
    front: list[Any] = []
    if info.layout == "NCHW":
        front.append(helper.make_node("Transpose", ["input"], [info.input_name],
                                      perm=[0, 3, 1, 2], name="input_to_nchw"))
    else:
        for node in graph.node:
            node.input[:] = ["input" if n == info.input_name else n for n in node.input]
    del graph.input[:]
    graph.input.append(image)
    inits: list[Any] = []
    map_name = ""
    if info.output_kind == "map":
        axes = [2, 3] if info.map_layout == "NCHW" else [1, 2]
        back, inits = _reduce_mean(helper, numpy_helper, opset, info.output, axes, FEATURES)
        map_name = info.output
        if info.map_layout == "NCHW":
            map_name = "encoder_map_nhwc"
            back.append(helper.make_node("Transpose", [info.output], [map_name],
                                         perm=[0, 2, 3, 1]))
    else:
        back = [helper.make_node("Identity", [info.output], [FEATURES])]
        pooled = named or _pooled_map(graph, info.output)
        if pooled is not None:  # the vector is the global average of a map: explain that
            map_name, layout = pooled
            if layout == "NCHW":
                back.append(helper.make_node("Transpose", [map_name], ["encoder_map_nhwc"],
                                             perm=[0, 2, 3, 1]))
                map_name = "encoder_map_nhwc"
    nodes = [*front, *graph.node, *back]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT,
                                                      ["N", info.channels]))
    return model, map_name


def _named_map(model: Any, name: str, info: EncoderInfo) -> tuple[str, str]:
    """``--explain-output NAME``: the 4-D tensor and its layout (the axis of the vector's
    channels), or a one-line ``ModelError``."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: v for v in (*inferred.graph.value_info, *inferred.graph.output)}
    if name not in shapes:
        raise ModelError(info.path, f"--explain-output {name!r}: no such tensor in the "
                         "encoder (or its shape cannot be inferred)")
    dims = [d.dim_value or None for d in shapes[name].type.tensor_type.shape.dim]
    if len(dims) != 4 or info.channels not in (dims[1], dims[3]):
        raise ModelError(info.path, f"--explain-output {name!r} is {dims}: not a 4-D map with "
                         f"the vector's {info.channels} channels")
    return name, "NCHW" if dims[1] == info.channels else "NHWC"


def _checked_map(encoder: Any, map_name: str, path: Path) -> None:
    """A named map must be what the vector averages: the vector equals its mean over H and W
    (NHWC here) on two random images, or a one-line ``ModelError``."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(encoder)
    probe.graph.output.append(onnx.helper.make_tensor_value_info(
        map_name, onnx.TensorProto.FLOAT, None))
    shape = [d.dim_value or 1 for d in probe.graph.input[0].type.tensor_type.shape.dim]
    images = np.random.default_rng(0).uniform(0, 1, [2, *shape[1:]]).astype(np.float32)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    features, grid = session.run([FEATURES, map_name], {"input": images})
    gap = np.abs(grid.mean(axis=(1, 2)) - features).max()
    if not np.isfinite(gap) or gap > 1e-4 * max(1.0, float(np.abs(features).max())):
        raise ModelError(path, f"--explain-output {map_name!r}: the encoder's vector is not "
                         f"its average over H and W (max difference {gap:.2g}); name the map "
                         "the final pooling reads")


_RESHAPES = ("Flatten", "Reshape", "Squeeze", "Identity")


def _pooled_map(graph: Any, output: str) -> tuple[str, str] | None:
    """The map a vector output is the global average of, and its layout; ``None`` if the
    vector is not one (through Flatten/Reshape/Squeeze: ``GlobalAveragePool``, or a
    ``ReduceMean`` over axes 2,3 (NCHW) or 1,2 (NHWC))."""
    from onnx import numpy_helper

    producers = {out: node for node in graph.node for out in node.output}
    constants = {init.name: init for init in graph.initializer}
    node = producers.get(output)
    while node is not None and node.op_type in _RESHAPES:
        node = producers.get(node.input[0])
    if node is None:
        return None
    if node.op_type == "GlobalAveragePool":
        return node.input[0], "NCHW"
    if node.op_type != "ReduceMean":
        return None
    axes = next((list(a.ints) for a in node.attribute if a.name == "axes"), None)
    if axes is None and len(node.input) > 1 and node.input[1] in constants:
        axes = [int(v) for v in numpy_helper.to_array(constants[node.input[1]])]
    return {(2, 3): (node.input[0], "NCHW"), (1, 2): (node.input[0], "NHWC")}.get(
        tuple(sorted(axes or ())))


def _convert_head(head: Any, channels: int, opset: int) -> Any:
    """The head as ONNX at ``opset``: tf2onnx up to the newest opset it writes, then
    onnx's version converter (an encoder may be newer; both graphs must agree)."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    signature = (tf.TensorSpec((None, channels), tf.float32, name=FEATURES),)
    proto, _ = tf2onnx.convert.from_keras(head, input_signature=signature,
                                          opset=min(opset, MAX_TF2ONNX_OPSET))
    if _default_opset(proto) < opset:
        proto = onnx.version_converter.convert_version(proto, opset)
    return rename_io(proto, FEATURES, "output")


def _merge(encoder: Any, head: Any) -> Any:
    import onnx
    from onnx import compose

    ir = max(encoder.ir_version, head.ir_version)
    encoder.ir_version = head.ir_version = ir
    merged = compose.merge_models(encoder, head, io_map=[(FEATURES, FEATURES)],
                                  prefix2="head/")
    for node in merged.graph.node:
        node.output[:] = ["output" if n == "head/output" else n for n in node.output]
    for out in merged.graph.output:
        if out.name == "head/output":
            out.name = "output"
    versions: dict[str, int] = {}
    for entry in merged.opset_import:  # merge_models lists each domain once per graph
        versions[entry.domain] = max(versions.get(entry.domain, 0), entry.version)
    del merged.opset_import[:]
    merged.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in versions.items())
    onnx.checker.check_model(merged)
    return merged


def compose_onnx(source: SourceModel, info: EncoderInfo, opset: int,
                 warn: Callable[[str], None], explain_output: str | None = None
                 ) -> tuple[Any, dict[str, Any] | None]:
    """The encoder and ``source`` (the head) as one graph, with explain outputs on a map
    (``explain_output``: the map a vector output averages, where export cannot find it)."""
    if explain_output and info.output_kind != "vector":
        raise ModelError(info.path, f"--explain-output is for an encoder whose output is a "
                         f"vector; this one gives a {info.output_kind}, explained as it is")
    try:
        encoder_opset = max(MIN_OPSET, min(_default_opset(_load_header(info)), 99))
        head_opset = min(max(opset, encoder_opset), MAX_TF2ONNX_OPSET)
        encoder, map_name = _prepare_encoder(info, max(encoder_opset, head_opset),
                                             explain_output)
        if explain_output:
            _checked_map(encoder, map_name, info.path)
        head = _convert_head(source.keras_model, info.channels, _default_opset(encoder))
        merged = _merge(encoder, head)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(info.path, f"cannot compose the encoder with the head: "
                         f"{one_line(exc)}") from None
    if not map_name:
        warn("no explain outputs (the encoder gives a vector that is not the average of a "
             "spatial feature map); `anime-detector explain` will refuse this model")
        return merged, None
    try:
        dense = dense_head(source.keras_model)
    except NotExplainable as exc:
        warn(f"no explain outputs ({exc}); `anime-detector explain` will refuse this model")
        return merged, None
    grid = _grid(merged, map_name, info.size)
    append_explain(merged, map_name, dense, DEFAULT_LABELS.index(POSITIVE_LABEL))
    return merged, explain_metadata(grid, info.channels, f"{info.path.name}:{map_name}")


def _load_header(info: EncoderInfo) -> Any:
    import onnx

    return onnx.load(str(info.path), load_external_data=False)


def _grid(model: Any, map_name: str, size: tuple[int, int]) -> tuple[int, int]:
    """(H, W) of the NHWC map ``map_name``, from one run of ``model`` on a blank image."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(helper.make_tensor_value_info(map_name, TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    (value,) = session.run([map_name], {"input": np.zeros((1, *size, 3), np.float32)})
    return int(value.shape[1]), int(value.shape[2])


def encoder_reference(source: SourceModel, info: EncoderInfo) -> SourceModel:
    """``source`` (the head) with ``predict`` taking NHWC images: the encoder on
    onnxruntime, as training ran it, then the Keras head."""
    features = OnnxFeatures(info)
    head = source.keras_model

    def predict(batch: np.ndarray) -> np.ndarray:
        if info.layout == "NCHW":
            batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
        return np.asarray(head(features.predict_on_batch(batch), training=False))

    return replace(source, predict=predict)
