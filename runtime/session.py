"""Opening onnxruntime sessions: device choice, threads, honest provider reporting.

``onnxruntime`` is imported inside the functions so that ``--help`` and
``--version`` never pay for it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from anime_detector.errors import DeviceError, ModelError

__all__ = ["DEVICES", "available_cpus", "open_session", "resolve_device"]

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
DEVICE_ENV = "ANIME_DETECTOR_DEVICE"
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def available_cpus() -> int:
    """CPUs this process may run on (affinity / cgroup cpuset), not the host's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _ort() -> Any:
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
    ort = _ort()
    options = ort.SessionOptions()
    if not spin:  # idle worker threads sleep instead of spinning (fair when sharing CPUs)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads if threads and threads > 0 else available_cpus()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def _create(path: Path, providers: list[str], threads: int | None, spin: bool) -> Any:
    ort = _ort()
    try:
        return ort.InferenceSession(
            str(path), sess_options=_session_options(threads, spin), providers=providers
        )
    except Exception as exc:  # onnxruntime raises its own, unexported, exception types
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "protobuf" in text.lower() or "INVALID_PROTOBUF" in text:
            raise ModelError(path, "not an ONNX model (cannot parse protobuf)") from None
        raise ModelError(path, f"onnxruntime cannot load it: {text}") from None


def open_session(
    path: str | os.PathLike[str], device: str = "auto", threads: int | None = None,
    spin: bool = True,
) -> Any:
    """Open an ``onnxruntime.InferenceSession`` on ``device``.

    ``auto`` uses CUDA when onnxruntime has the CUDA provider and the session
    really runs on it, otherwise the CPU. ``cuda`` where CUDA cannot run is a
    :class:`DeviceError`, never a silent fallback. ``session.get_providers()``
    tells what was used.
    """
    model = Path(path)
    _check_model_file(model)
    chosen = resolve_device(device)
    available = list(_ort().get_available_providers())
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
    session = _create(model, [CUDA, CPU], threads, spin)
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
