"""Whether an int8 file suits the CPU that runs it, and the one line to say when it does not.

Export records the CPU family an int8 file was quantized for (``anime_detector.int8_target``,
see ``export --int8-target``): ``avx2`` keeps 7-bit weights, because x86 CPUs without VNNI
multiply u8 x s8 into 16-bit sums that saturate on full-range weights; ``vnni`` and
``arm64`` keep all 8 bits (both accumulate in 32 bits). A full-range file on an AVX2 CPU
drifts from fp32 more than the same file on a CPU with VNNI or on Arm; a 7-bit file
elsewhere only gives away precision. Either way the model still runs:
these are warnings, not errors.

An engine may also run an int8 file in another precision: OpenVINO's CPU plugin computes
int8 on x86-64 only, and runs the same file in fp32 or fp16 on 64-bit Arm.
"""

from __future__ import annotations

from collections.abc import Iterable

from anime_detector.choices import INT8_CPU_FAMILIES
from anime_detector.contract import ModelContract
from anime_detector.engines.base import EngineInfo
from anime_detector.system import cpu_flags, cpu_model, is_arm64, machine

__all__ = ["VNNI_FLAGS", "Int8Warning", "cpu_int8_target", "int8_notes"]

VNNI_FLAGS = ("avx512_vnni", "avx_vnni")
_WHY_NOT_INT8 = {"openvino": "OpenVINO's CPU plugin computes int8 on x86-64 only"}


class Int8Warning(UserWarning):
    """An int8 model runs, but not as well as it could on this CPU."""


def cpu_int8_target(flags: Iterable[str] | None = None, arch: str | None = None) -> str:
    """The int8 target that suits this CPU (``flags``/``arch`` override what is read)."""
    if is_arm64(arch if arch is not None else machine()):
        return "arm64"
    present = set(cpu_flags() if flags is None else flags)
    return "vnni" if not present.isdisjoint(VNNI_FLAGS) else "avx2"


def _target_note(name: str, target: str, here: str) -> str | None:
    if target not in INT8_CPU_FAMILIES or (target == "avx2") == (here == "avx2"):
        return None
    if here == "avx2":
        why = "this CPU has no VNNI, so its u8 x s8 sums saturate on 8-bit weights"
    else:
        why = "its 7-bit weights give away precision this CPU keeps"
    return (f"{name} was quantized for {target} and runs on {cpu_model()} ({here}): {why}; "
            f"re-export with --int8-target {here}")


def int8_notes(contract: ModelContract, info: EngineInfo, name: str = "the model",
               flags: Iterable[str] | None = None, arch: str | None = None) -> list[str]:
    """One line per way an int8 model and this CPU do not fit (none for fp32 models)."""
    if contract.precision != "int8":
        return []
    if info.precision != "int8":
        why = _WHY_NOT_INT8.get(info.engine)
        arch_name = arch if arch is not None else machine()
        return [f"{name} is int8, but {info.engine} runs it in {info.precision} on {arch_name}"
                + (f" ({why})" if why and is_arm64(arch_name) else "")]
    target = str(contract.extra.get("int8_target", ""))
    note = _target_note(name, target, cpu_int8_target(flags, arch))
    return [note] if note else []
