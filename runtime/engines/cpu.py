"""Options shared by the CPU-only engines (OpenVINO, ncnn): device check, thread count."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from anime_detector.engines.base import EngineUnavailable
from anime_detector.errors import DeviceError
from anime_detector.system import available_cpus

__all__ = ["check_cpu_device", "checked_precision", "import_engine", "thread_count"]


def check_cpu_device(engine: str, device: str | None) -> None:
    """Accept ``auto`` and ``cpu``; anything else is a :class:`DeviceError`."""
    if (device or "auto").lower() not in ("auto", "cpu"):
        raise DeviceError(f"engine {engine!r} runs on the CPU only (asked for {device!r}); "
                          "use --engine onnxruntime for cuda")


def thread_count(threads: int | None) -> int:
    """``threads`` when positive, else the CPUs this process may use."""
    return threads if threads and threads > 0 else available_cpus()


def import_engine(engine: str) -> Any:
    """Import the engine's package (named like the engine and its extra), or raise
    :class:`EngineUnavailable` with the pip line."""
    try:
        return importlib.import_module(engine)
    except ImportError:
        raise EngineUnavailable(engine, engine) from None


def checked_precision(engine: str, precision: str | None, choices: Sequence[str]) -> str:
    """``precision`` (default fp32) if ``engine`` offers it, else a :class:`DeviceError`."""
    chosen = (precision or "fp32").lower()
    if chosen not in choices:
        raise DeviceError(f"engine {engine!r} has no precision {chosen!r}; "
                          f"choose one of {', '.join(choices)}")
    return chosen
