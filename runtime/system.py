"""What this machine offers: the CPUs this process may use, the CPU model and its flags.

Threads default to :func:`available_cpus` everywhere (engines, decoding, bench), and
every benchmark figure is reported next to :func:`cpu_summary`: int8 and bf16 speed
depend on the flags named in :data:`RELEVANT_FLAGS`.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache

__all__ = ["RELEVANT_FLAGS", "available_cpus", "cpu_flags", "cpu_model", "cpu_summary"]

RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16",
                  "amx_int8", "amx_tile")


def available_cpus() -> int:
    """CPUs this process may run on (affinity / cgroup cpuset), not the host's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def parse_flags(cpuinfo: str) -> frozenset[str]:
    """The ``flags`` (x86) or ``Features`` (Arm) of the first CPU in ``cpuinfo`` text."""
    for line in cpuinfo.splitlines():
        key = line.split(":", 1)[0].strip()
        if key in ("flags", "Features"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags (empty where ``/proc/cpuinfo`` is missing)."""
    return parse_flags(_cpuinfo())


def cpu_summary() -> str:
    """``"<model> (avx2 avx512f ...)"``: the model and the flags that change our figures."""
    present = [f for f in RELEVANT_FLAGS if f in cpu_flags()]
    return f"{cpu_model()} ({' '.join(present) or 'none of ' + '/'.join(RELEVANT_FLAGS[:3])})"
