"""The onnxruntime engine: device choice, threads, honest provider reporting.

``onnxruntime`` is imported inside the functions so that ``--help`` and
``--version`` never pay for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.choices import DEVICES
from anime_detector.contract import ModelContract, check_io_shapes, contract_from_props
from anime_detector.engines.base import EngineInfo
from anime_detector.errors import DeviceError, ModelError, one_line
from anime_detector.system import available_cpus

__all__ = ["DEVICES", "OnnxRuntimeEngine", "import_onnxruntime", "load", "open_session",
           "resolve_device"]

log = logging.getLogger(__name__)

DEVICE_ENV = "ANIME_DETECTOR_DEVICE"
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module, or a one-line :class:`DeviceError` with the install hint."""
    try:
        import onnxruntime
    except ImportError:
        raise DeviceError(
            "onnxruntime is not installed: pip install 'anime-detector[cpu]' "
            "(or 'anime-detector[gpu]' for CUDA; never both)"
        ) from None
    return onnxruntime


def resolve_device(device: str | None) -> str:
    """Apply the ``ANIME_DETECTOR_DEVICE`` override and validate the name."""
    chosen = (device or "auto").lower()
    if chosen == "auto" and os.environ.get(DEVICE_ENV):
        chosen = os.environ[DEVICE_ENV].lower()
    if chosen not in DEVICES:
        raise DeviceError(f"unknown device {chosen!r}; choose one of {', '.join(DEVICES)}")
    return chosen


def _check_model_file(path: Path) -> None:
    if path.is_dir():
        raise ModelError(path, "is a directory, not an .onnx model file")
    if not path.exists():
        raise ModelError(path, "no such model file")
    if path.stat().st_size == 0:
        raise ModelError(path, "empty model file (0 bytes)")


def _session_options(threads: int | None, spin: bool = True) -> Any:
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    if not spin:  # idle worker threads sleep instead of spinning (fair when sharing CPUs)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads if threads and threads > 0 else available_cpus()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def _create(path: Path, providers: list[Any], threads: int | None, spin: bool) -> Any:
    ort = import_onnxruntime()
    try:
        return ort.InferenceSession(
            str(path), sess_options=_session_options(threads, spin), providers=providers
        )
    except Exception as exc:  # onnxruntime raises its own, unexported, exception types
        text = one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if "protobuf" in text.lower():
            raise ModelError(path, "not an ONNX model (cannot parse protobuf)") from None
        raise ModelError(path, f"onnxruntime cannot load it: {text}") from None


def open_session(
    path: str | os.PathLike[str], device: str = "auto", threads: int | None = None,
    spin: bool = True, tf32: bool = False,
) -> Any:
    """Open an ``onnxruntime.InferenceSession`` on ``device``.

    ``auto`` uses CUDA when onnxruntime has the CUDA provider and the session
    really runs on it, otherwise the CPU. ``cuda`` where CUDA cannot run is a
    :class:`DeviceError`, never a silent fallback. ``session.get_providers()``
    tells what was used. On CUDA, fp32 convolutions stay true fp32 unless ``tf32``
    (onnxruntime's own default is TF32, which moved probabilities by up to 6e-3 on an
    H200: see README).
    """
    model = Path(path)
    _check_model_file(model)
    chosen = resolve_device(device)
    available = list(import_onnxruntime().get_available_providers())
    if chosen == "cpu":
        return _create(model, [CPU], threads, spin)
    if CUDA not in available:
        if chosen == "cuda":
            raise DeviceError(
                "device 'cuda' requested but this onnxruntime has no CUDA provider "
                f"(available: {', '.join(available)}); install 'anime-detector[gpu]' "
                "instead of [cpu], or use --device cpu"
            )
        return _create(model, [CPU], threads, spin)
    # cuDNN's plan search logs "No execution plans support the graph" as errors while it
    # falls back to a plan that works: noise for a user, and real failures still raise.
    import_onnxruntime().set_default_logger_severity(4)
    cuda = (CUDA, {"use_tf32": "1" if tf32 else "0"})
    session = _create(model, [cuda, CPU], threads, spin)
    used = session.get_providers()
    if used and used[0] == CUDA:
        log.info("using %s", used)
        return session
    if chosen == "cuda":
        raise DeviceError(
            "device 'cuda' requested but the CUDA provider failed to start "
            "(check the CUDA and cuDNN libraries onnxruntime-gpu needs); use --device cpu"
        )
    log.warning("CUDA provider is installed but did not start; running on the CPU")
    return _create(model, [CPU], threads, spin)


class OnnxRuntimeEngine:
    """An exported ``.onnx`` model in an onnxruntime session (the default engine)."""

    def __init__(self, session: Any, contract: ModelContract, path: Path) -> None:
        self.session = session
        self.contract = contract
        self.path = path
        self.input_name: str = session.get_inputs()[0].name
        self.output_name: str = session.get_outputs()[0].name

    @property
    def providers(self) -> list[str]:
        """Execution providers the session really uses, best first."""
        return list(self.session.get_providers())

    @property
    def info(self) -> EngineInfo:
        return EngineInfo("onnxruntime", str(import_onnxruntime().__version__), self.providers[0],
                          self.contract.precision)

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        out = self.session.run([self.output_name], {self.input_name: batch})[0]
        return np.asarray(out, dtype=np.float32)


def load(
    path: Path, *, device: str = "auto", threads: int | None = None,
    precision: str | None = None, spin: bool = True, labels: Sequence[str] | None = None,
) -> OnnxRuntimeEngine:
    """Open ``path`` on ``device``; the precision is the file's (``precision`` must match
    it), except ``tf32``: an fp32 file on CUDA with TF32 convolutions (faster, less exact)."""
    tf32 = precision == "tf32"
    if tf32 and resolve_device(device) == "cpu":
        raise DeviceError("precision 'tf32' is a CUDA option; use --device cuda (or auto)")
    session = open_session(path, device=device, threads=threads, spin=spin, tf32=tf32)
    contract = contract_from_props(path, dict(session.get_modelmeta().custom_metadata_map), labels)
    if tf32 and (contract.precision != "fp32" or session.get_providers()[0] != CUDA):
        raise DeviceError(f"{path}: tf32 needs an fp32 model running on CUDA")
    if tf32:
        contract = replace(contract, precision="tf32")
    elif precision not in (None, contract.precision):
        raise ModelError(path, f"is a {contract.precision} model; onnxruntime runs a file at its "
                         f"own precision (export a {precision} file with --precision {precision})")
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs:
        raise ModelError(path, "expected one input and at least one output")
    check_io_shapes(path, contract, inputs[0].shape, outputs[0].shape,
                    inputs[0].type == "tensor(float)")
    return OnnxRuntimeEngine(session, contract, path)
