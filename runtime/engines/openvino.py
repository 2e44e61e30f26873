"""The OpenVINO engine (``[openvino]`` extra): runs the exported ``.onnx`` as it is.

OpenVINO reads ONNX directly, so there is no conversion step; the contract comes from
the file's metadata (:mod:`anime_detector.onnx_metadata`). Precision is a compile hint:
``fp32`` (default) or ``bf16``, which is only offered where the CPU computes bf16
natively (AVX-512 BF16 or AMX); an int8 QDQ export runs its convolutions in int8 either
way on x86-64, and in fp32 or fp16 on 64-bit Arm, where the CPU plugin has no int8
kernels. :attr:`OpenVinoEngine.info` reports the precision the compiled convolutions
really use, read back from the runtime model (``Detector.notes`` words the Arm case).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.choices import ENGINE_PRECISIONS
from anime_detector.contract import ModelContract
from anime_detector.engines.base import EngineInfo
from anime_detector.engines.cpu import (
    check_cpu_device,
    checked_precision,
    import_engine,
    thread_count,
)
from anime_detector.errors import DeviceError, ModelError
from anime_detector.onnx_metadata import read_contract
from anime_detector.system import cpu_flags, cpu_model

__all__ = ["BF16_FLAGS", "PRECISIONS", "OpenVinoEngine", "compile_for_cpu", "has_bf16", "load"]

ENGINE = "openvino"
PRECISIONS = ENGINE_PRECISIONS[ENGINE]
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
_HINTS = {"fp32": "f32", "bf16": "bf16"}
_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "i8": "int8", "u8": "int8"}
_HEAVY_LAYERS = ("Convolution", "FullyConnected", "MatMul")


def has_bf16(flags: Iterable[str]) -> bool:
    """Whether CPU ``flags`` (as in ``/proc/cpuinfo``) include native bf16 arithmetic."""
    return not set(BF16_FLAGS).isdisjoint(flags)


def _openvino() -> Any:
    return import_engine(ENGINE)


def _hint(precision: str | None) -> str:
    chosen = checked_precision(ENGINE, precision, PRECISIONS)
    if chosen == "bf16" and not has_bf16(cpu_flags()):
        raise DeviceError(f"this CPU ({cpu_model()}) lacks native bf16 "
                          f"({' or '.join(BF16_FLAGS)}); use --precision fp32")
    return _HINTS[chosen]


def _check_shapes(path: Path, model: Any, contract: ModelContract) -> None:
    spec = contract.spec
    want = f"(batch, {spec.height}, {spec.width}, 3) -> (batch, {len(contract.labels)})"
    if len(model.inputs) != 1 or len(model.outputs) < 1:
        raise ModelError(path, f"expected one input and one output {want}")
    shape_in = model.inputs[0].get_partial_shape()
    shape_out = model.outputs[0].get_partial_shape()
    dims_in = [d.get_length() if d.is_static else None for d in shape_in]
    dims_out = [d.get_length() if d.is_static else None for d in shape_out]
    if dims_in[1:] != [spec.height, spec.width, 3] or dims_out[1:] != [len(contract.labels)]:
        raise ModelError(path, f"model takes {shape_in} -> {shape_out}, expected {want}")


def _runtime_precision(compiled: Any) -> str:
    """The precision the heavy layers (convolutions first) run in, from the runtime model."""
    found: dict[str, str] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "layerType" in info and "runtimePrecision" in info:
            layer = info["layerType"].astype(str)
            if layer in _HEAVY_LAYERS and layer not in found:
                found[layer] = info["runtimePrecision"].astype(str).lower()
    for layer in _HEAVY_LAYERS:
        if layer in found:
            return _NAMES.get(found[layer], found[layer])
    return "unknown"


class OpenVinoEngine:
    """A model compiled for OpenVINO's CPU plugin.

    Thread-safe: ``run`` serialises on one infer request (each call already uses every
    thread it was given).
    """

    def __init__(self, compiled: Any, contract: ModelContract, path: Path,
                 info: EngineInfo) -> None:
        self.contract = contract
        self.path = path
        self._info = info
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()

    @property
    def info(self) -> EngineInfo:
        return self._info

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Class probabilities for a preprocessed NHWC float32 batch."""
        data = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            self._request.infer({0: data})
            out = self._request.get_output_tensor(0).data
            return np.array(out, dtype=np.float32)  # a copy: the request reuses its buffer


def compile_for_cpu(core: Any, model: Any, hint: str, threads: int | None = None) -> Any:
    """``model`` compiled for the CPU with a precision hint (``f32``/``bf16``), for latency."""
    return core.compile_model(model, "CPU", {
        "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": thread_count(threads),
        "PERFORMANCE_HINT": "LATENCY"})


def load(path: Path, *, device: str = "auto", threads: int | None = None,
         precision: str | None = None, spin: bool = True,
         labels: Sequence[str] | None = None) -> OpenVinoEngine:
    """Compile the ``.onnx`` at ``path`` for the CPU (``spin`` is onnxruntime's; ignored).

    Raises:
        EngineUnavailable: openvino is not installed.
        DeviceError: not a CPU device, an unknown precision, or bf16 on a CPU without it.
        ModelError: the file is not a readable anime-detector model.
    """
    del spin
    check_cpu_device(ENGINE, device)
    hint = _hint(precision)
    ov = _openvino()
    model_path = Path(path)
    contract = read_contract(model_path, labels)
    core = ov.Core()
    try:
        model = core.read_model(str(model_path))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise ModelError(model_path, f"OpenVINO cannot read it: {reason}") from None
    _check_shapes(model_path, model, contract)
    compiled = compile_for_cpu(core, model, hint, threads)
    version = str(ov.__version__).split("-")[0]
    info = EngineInfo(ENGINE, version, "cpu", _runtime_precision(compiled))
    return OpenVinoEngine(compiled, contract, model_path, info)
