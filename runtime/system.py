"""What this machine offers: the CPUs this process may use, the CPU model and its flags.

Threads default to :func:`available_cpus` everywhere (engines, decoding, bench), and
every benchmark figure is reported next to :func:`cpu_summary`: int8, fp16 and bf16 speed
depend on the flags named in :data:`RELEVANT_FLAGS` (x86) and :data:`ARM_FLAGS` (64-bit
Arm, whose ``/proc/cpuinfo`` names no model: the core comes from its part number).
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache

__all__ = ["ARM_FLAGS", "RELEVANT_FLAGS", "available_cpus", "cpu_flags", "cpu_model",
           "cpu_summary", "is_arm64", "machine", "relevant_flags"]

RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16",
                  "amx_int8", "amx_tile")
# NEON, int8 dot product (dotprod), fp16 arithmetic, int8 matrix multiply, bf16, SVE.
ARM_FLAGS = ("asimd", "asimddp", "asimdhp", "i8mm", "bf16", "sve")
# "CPU part" of Arm Ltd. cores (implementer 0x41) found on boards and ARM cloud instances.
_ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55",
              "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd09": "Cortex-A73",
              "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0c": "Neoverse-N1",
              "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
              "0xd42": "Cortex-A78AE", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510",
              "0xd47": "Cortex-A710", "0xd48": "Cortex-X2", "0xd49": "Neoverse-N2",
              "0xd4f": "Neoverse-V2", "0xd80": "Cortex-A520", "0xd81": "Cortex-A720"}


def machine() -> str:
    """The architecture, normalised: ``x86_64``, ``aarch64`` (also for macOS ``arm64``), ..."""
    arch = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


def is_arm64(arch: str | None = None) -> bool:
    """Whether ``arch`` (default: this machine) is 64-bit Arm."""
    return (arch if arch is not None else machine()).lower() in ("aarch64", "arm64")


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
    fields: dict[str, str] = {}
    for line in _cpuinfo().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if fields.get("model name"):
        return fields["model name"]
    if fields.get("CPU implementer") == "0x41" and fields.get("CPU part") in _ARM_PARTS:
        return f"ARM {_ARM_PARTS[fields['CPU part']]}"
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


def relevant_flags() -> list[str]:
    """The flags of this architecture's list (:data:`ARM_FLAGS` or x86's) the CPU has."""
    return [f for f in (ARM_FLAGS if is_arm64() else RELEVANT_FLAGS) if f in cpu_flags()]


def cpu_summary() -> str:
    """``"<model> (avx2 avx512f ...)"``: the model and the flags that change our figures;
    on 64-bit Arm ``"ARM Cortex-A76 (asimd asimddp asimdhp)"``."""
    if is_arm64():
        return f"{cpu_model()} ({' '.join(relevant_flags()) or 'no asimd'})"
    present = relevant_flags()
    return f"{cpu_model()} ({' '.join(present) or 'none of ' + '/'.join(RELEVANT_FLAGS[:3])})"
