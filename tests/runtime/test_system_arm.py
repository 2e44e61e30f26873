"""The CPU naming on 64-bit Arm, from the ``/proc/cpuinfo`` text real boards print."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from anime_detector import system

PI5_FEATURES = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm "
                "lrcpc dcpop asimddp")
PI5 = (f"processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: {PI5_FEATURES}\n"
       "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\n"
       "CPU revision\t: 1\n")
PI4 = PI5.replace("0xd0b", "0xd08").replace(PI5_FEATURES, "fp asimd evtstrm crc32 cpuid")
GRAVITON3 = PI5.replace("0xd0b", "0xd40").replace("asimddp", "asimddp sve i8mm bf16")


@pytest.fixture()
def board(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """This process sees aarch64 and whatever cpuinfo text the test sets."""
    monkeypatch.setattr(system.platform, "machine", lambda: "aarch64")
    system.cpu_model.cache_clear()
    system.cpu_flags.cache_clear()
    yield monkeypatch
    system.cpu_model.cache_clear()
    system.cpu_flags.cache_clear()


@pytest.mark.parametrize("text, summary", [
    (PI5, "ARM Cortex-A76 (asimd asimddp asimdhp)"),
    (PI4, "ARM Cortex-A72 (asimd)"),
    (GRAVITON3, "ARM Neoverse-V1 (asimd asimddp asimdhp i8mm bf16 sve)"),
    (PI5.replace("0x41", "0x61"), "aarch64 (asimd asimddp asimdhp)"),  # not an Arm Ltd. core
])
def test_arm_core_and_features(board: pytest.MonkeyPatch, text: str, summary: str) -> None:
    board.setattr(system, "_cpuinfo", lambda: text)
    board.setattr(system.platform, "processor", lambda: "")
    assert system.machine() == "aarch64" and system.is_arm64()
    assert system.cpu_summary() == summary


def test_macos_arm64_is_aarch64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system.platform, "machine", lambda: "arm64")
    assert system.machine() == "aarch64" and system.is_arm64()
