"""Options shared by the CPU-only engines (OpenVINO, ncnn): device check, thread count."""

from __future__ import annotations

from anime_detector.errors import DeviceError
from anime_detector.system import available_cpus

__all__ = ["check_cpu_device", "thread_count"]


def check_cpu_device(engine: str, device: str | None) -> None:
    """Accept ``auto`` and ``cpu``; anything else is a :class:`DeviceError`."""
    if (device or "auto").lower() not in ("auto", "cpu"):
        raise DeviceError(f"engine {engine!r} runs on the CPU only (asked for {device!r}); "
                          "use --engine onnxruntime for cuda")


def thread_count(threads: int | None) -> int:
    """``threads`` when positive, else the CPUs this process may use."""
    return threads if threads and threads > 0 else available_cpus()
