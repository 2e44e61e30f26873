"""Reduced-precision variants of an fp32 ONNX model: fp16 weights/compute and int8 QDQ."""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from anime_detector.choices import INT8_TARGETS
from anime_detector.int8_support import cpu_int8_target

__all__ = ["prepare_for_int8", "quantize_prepared", "resolve_int8_target", "to_fp16",
           "to_int8"]


def to_fp16(model: Any) -> Any:
    """float16 weights and compute; the ``input``/``output`` stay float32."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=True)


class _Calibration:
    """Feeds calibration images one at a time to onnxruntime's quantizer."""

    def __init__(self, batch: np.ndarray) -> None:
        self.items = iter([{"input": batch[i : i + 1]} for i in range(len(batch))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)


def resolve_int8_target(target: str = "auto", flags: Iterable[str] | None = None,
                        machine: str | None = None) -> str:
    """The int8 target CPU family: ``auto`` means this CPU (``flags``/``machine`` override).

    ``vnni`` where the CPU has AVX-512 VNNI or AVX-VNNI, ``arm64`` on 64-bit Arm,
    else ``avx2``.

    Raises:
        ValueError: an unknown target name.
    """
    if target not in INT8_TARGETS:
        raise ValueError(f"unknown int8 target {target!r}; choose one of {', '.join(INT8_TARGETS)}")
    return target if target != "auto" else cpu_int8_target(flags, machine)


def prepare_for_int8(model: Any) -> Any:
    """``model`` as the quantizer sees it: shapes inferred, basic graph optimizations applied
    (onnxruntime's ``quant_pre_process``), and a name for every node that has none.
    Numerically the fp32 model; its node names are those ``to_int8``'s ``keep_fp32``
    refers to (an empty name there would keep every unnamed node in fp32)."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        src, prepped = Path(tmp, "fp32.onnx"), Path(tmp, "prep.onnx")
        onnx.save(model, str(src))
        quant_pre_process(str(src), str(prepped), skip_symbolic_shape=True)
        prepared = onnx.load(str(prepped))
    taken = {node.name for node in prepared.graph.node}
    for i, node in enumerate(prepared.graph.node):  # a recipe names the nodes it keeps
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)
    return prepared


def to_int8(model: Any, calibration: np.ndarray, int8_target: str = "auto", *,
            calibrate: str = "MinMax", keep_fp32: Sequence[str] = ()) -> Any:
    """Static QDQ quantization: per-channel int8 weights, uint8 activations.

    The convolutions and pools (all of VGG19's cost) are quantized; the small
    dense head stays float32, which keeps the probabilities close to fp32.
    ``int8_target`` (see :func:`resolve_int8_target`) picks the weight range: ``avx2``
    uses 7 bits (``reduce_range``) because x86 CPUs without VNNI multiply u8 x s8 with
    ``vpmaddubsw``, whose 16-bit sums saturate on full-range weights; ``vnni``
    and ``arm64`` accumulate in 32 bits and keep the full 8 bits. ``calibrate`` picks how
    activation ranges are found (``MinMax``, ``Entropy``, ``Percentile``); the nodes named
    in ``keep_fp32`` stay float32 and read their inputs in float (``export.int8_tuning``
    chooses both).
    """
    return quantize_prepared(prepare_for_int8(model), calibration, int8_target,
                             calibrate=calibrate, keep_fp32=keep_fp32)


def quantize_prepared(prepped: Any, calibration: np.ndarray, int8_target: str = "auto", *,
                      calibrate: str = "MinMax", keep_fp32: Sequence[str] = ()) -> Any:
    """:func:`to_int8` of a model :func:`prepare_for_int8` has prepared already (the search
    in ``export.int8_tuning`` prepares once, then quantizes it with each recipe)."""
    reduce_range = resolve_int8_target(int8_target) == "avx2"
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "int8.onnx")
        model = onnx.ModelProto()  # quantize_static moves the weights of the proto it gets
        model.CopyFrom(prepped)  # into files of its own: hand it a copy
        with contextlib.redirect_stdout(io.StringIO()):  # its calibrators print() progress
            quantize_static(
                model, str(out), _Calibration(calibration),
                quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=reduce_range,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                op_types_to_quantize=["Conv", "MaxPool"], nodes_to_exclude=list(keep_fp32),
                calibrate_method=getattr(CalibrationMethod, calibrate),
            )
        return _float_inputs(onnx.load(str(out)), set(keep_fp32))


def _float_inputs(model: Any, keep: set[str]) -> Any:
    """Nodes in ``keep`` read their activations in float: each Quantize/Dequantize pair in
    front of one is bypassed, and dropped when nothing else reads it. The quantizer leaves
    such a pair wherever the producer is quantized, which would keep the int8 rounding."""
    if not keep:
        return model
    producer = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        if node.name not in keep:
            continue
        for i, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producer.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[i] = q.input[0]
    while dead := _unread_qdq(model):  # a dropped Dequantize can leave its Quantize unread
        for node in dead:
            model.graph.node.remove(node)
    return model


def _unread_qdq(model: Any) -> list[Any]:
    used = {name for node in model.graph.node for name in node.input}
    used |= {o.name for o in model.graph.output}
    return [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
            and not any(out in used for out in n.output)]
