"""What the runtime says about a 64-bit Arm CPU: its core, its features, its int8 target.

Runs on aarch64 only (a board, or ``ci/arm64.sh`` under qemu, where ``QEMU_CPU`` names
the emulated core and ``/proc/cpuinfo`` matches it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from anime_detector.int8_support import cpu_int8_target
from anime_detector.system import cpu_model, cpu_summary, is_arm64, relevant_flags

from helpers.arm64_report import report
from helpers.cli import invoke

pytestmark = pytest.mark.skipif(not is_arm64(), reason="64-bit Arm only")

# qemu's CPU model -> what the runtime must name, and which features it must (not) see.
CORES = {"cortex-a76": ("ARM Cortex-A76", {"asimd", "asimddp", "asimdhp"}, set()),
         "cortex-a72": ("ARM Cortex-A72", {"asimd"}, {"asimddp", "asimdhp", "i8mm", "sve"})}
EMULATED = os.environ.get("QEMU_CPU", "")
# Between what reordering fp32 sums moves (7e-7 to 1.0e-5 seen on Cortex-A72, by model) and
# what fp16 arithmetic moves (2e-4 to 1e-3 on Cortex-A76): about their geometric middle.
FP32_NOISE = 5e-5


def test_the_core_and_its_features_are_named() -> None:
    assert "asimd" in relevant_flags() and cpu_summary().startswith(cpu_model())
    if EMULATED in CORES:
        name, present, absent = CORES[EMULATED]
        assert cpu_model() == name
        assert present <= set(relevant_flags()) and not absent & set(relevant_flags())
        assert cpu_summary() == f"{name} ({' '.join(relevant_flags())})"


def test_auto_int8_target_is_arm64() -> None:
    assert cpu_int8_target() == "arm64"


def test_predict_v_and_bench_name_the_architecture(tiny_model: Path,
                                                   colour_images: dict[str, Path]) -> None:
    predicted = invoke("predict", tiny_model, colour_images["blue"], "-v")
    assert predicted.returncode == 0, predicted.stderr
    assert f"cpu: aarch64, {cpu_summary()}" in predicted.stderr.splitlines()
    benched = invoke("bench", tiny_model, "--engines", "onnxruntime", "--runs", "1",
                     "--warmup", "0", "--batch-sizes", "1", "--no-cold-start")
    assert benched.returncode == 0, benched.stderr
    assert f"machine: {cpu_model()}, aarch64 [{' '.join(relevant_flags())}]" in benched.stdout
    report = json.loads(invoke("bench", tiny_model, "--engines", "onnxruntime", "--runs", "1",
                               "--warmup", "0", "--batch-sizes", "1", "--no-cold-start",
                               "--format", "json").stdout)
    assert report["machine"]["arch"] == "aarch64"


def test_ncnn_fp16_is_reported_as_what_runs() -> None:
    """fp16 arithmetic where the core has asimdhp (Cortex-A76); elsewhere what really runs."""
    pytest.importorskip("ncnn")
    if not os.environ.get("ARM64_MODELS"):
        pytest.skip("ARM64_MODELS is not set (ci/arm64.sh sets it)")
    from anime_detector.engines import open_engine

    folder = Path(os.environ["ARM64_MODELS"], "model-ncnn")
    fp32 = open_engine(folder, "ncnn", precision="fp32")
    fp16 = open_engine(folder, "ncnn", precision="fp16")
    spec = fp32.contract.spec
    batch = np.random.default_rng(0).uniform(0, 255, (2, spec.height, spec.width, 3))
    dp = np.abs(fp16.run(batch.astype(np.float32)) - fp32.run(batch.astype(np.float32))).max()
    report({"case": "ncnn fp16 vs fp32", "engine": "ncnn", "precision": fp16.info.precision,
            "images": len(batch), "max_abs_dp_vs_fp32": float(dp)})
    assert fp32.info.precision == "fp32" and dp < 0.05
    # What is reported is what runs: fp32 reordering moves |dp| by ~1e-6, fp16 by ~1e-3.
    if "asimdhp" in relevant_flags():
        assert fp16.info.precision == "fp16" and dp > FP32_NOISE, f"max |dp| {dp:.2e}"
    else:  # ncnn keeps fp32 where the core has no fp16 arithmetic (Cortex-A72: 7e-7)
        assert (fp16.info.precision == "fp32") == (dp < FP32_NOISE), (fp16.info.precision, dp)
