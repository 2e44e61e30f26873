"""Parity with x86: the files ``ci/arm64_models.py`` exported on x86, predicted on this machine.

Runs where ``ARM64_MODELS`` names that folder (``ci/arm64.sh`` sets it inside the aarch64
root; any other machine may run it too), skipped elsewhere. Every case must give the same
one-line error for each bad input, the same label for each image, and probabilities within
``BOUNDS`` of what x86 computed from the same file. With ``ARM64_REPORT`` set, each case
appends what it measured (one JSON line) for ``ci/arm64_report.py`` to print.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anime_detector import Detector, Failure
from anime_detector.int8_support import Int8Warning
from anime_detector.system import machine

from helpers.arm64_report import report

MODELS = os.environ.get("ARM64_MODELS")
pytestmark = pytest.mark.skipif(not MODELS, reason="ARM64_MODELS is not set (ci/arm64.sh sets it)")

# Max |dp| vs x86 for the same file. fp32 and ncnn: the same arithmetic in another order.
# int8: integer products are exact, but ARM's kernels requantize in their own order; the
# bound is what Cortex-A76 and Cortex-A72 gave under emulation (see benchmarks/arm64.md), x2.
BOUNDS = {"fp32": 1e-5, "ncnn": 1e-5, "openvino": 1e-5, "int8": 2e-2}
REQUESTS = {"ncnn": "fp32"}  # precision asked of the engine where it has a choice


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    assert MODELS
    loaded: dict[str, Any] = json.loads(Path(MODELS, "reference.json").read_text())
    return loaded


def _predict(case: dict[str, Any], name: str, sources: list[str]
             ) -> tuple[dict[str, Any], Detector]:
    detector = Detector.load(case["model"], engine=case["engine"], precision=REQUESTS.get(name))
    results: dict[str, Any] = {}
    for item in detector.predict_iter(sources, batch_size=8):
        if isinstance(item, Failure):
            results[item.source] = {"error": item.error}
        else:
            results[str(item.source)] = {"label": item.label, "probabilities": item.probabilities}
    return results, detector


def _scores(results: dict[str, Any]) -> dict[str, float]:
    return {k: v["probabilities"]["anime"] for k, v in results.items() if "probabilities" in v}


@pytest.mark.parametrize("name", list(BOUNDS))
def test_same_files_same_results_as_x86(name: str, reference: dict[str, Any],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert MODELS
    monkeypatch.chdir(MODELS)  # the sources are relative, so error lines compare as text
    case = reference["cases"][name]
    here, detector = _predict(case, name, reference["sources"])
    there = case["results"]
    errors_here = {k: v["error"] for k, v in here.items() if "error" in v}
    errors_there = {k: v["error"] for k, v in there.items() if "error" in v}
    ours, theirs = _scores(here), _scores(there)
    dp = np.abs(np.array([ours[k] - theirs[k] for k in theirs]))
    same_labels = sum(here[k]["label"] == there[k]["label"] for k in theirs)
    fp32 = _scores(reference["cases"]["fp32"]["results"])
    vs_fp32 = np.abs(np.array([ours[k] - fp32[k] for k in fp32]))
    agree_fp32 = sum((ours[k] >= 0.5) == (fp32[k] >= 0.5) for k in fp32)
    report({"case": name, "engine": detector.info.engine, "precision": detector.info.precision,
             "images": len(theirs), "max_abs_dp_vs_x86": float(dp.max()),
             "labels_same_as_x86": same_labels, "errors_same": errors_here == errors_there,
             "max_abs_dp_vs_fp32": float(vs_fp32.max()),
             "mean_abs_dp_vs_fp32": float(vs_fp32.mean()), "labels_as_fp32": agree_fp32})
    assert errors_here == errors_there
    assert set(ours) == set(theirs)
    assert dp.max() <= BOUNDS[name], f"{name}: max |dp| vs x86 {dp.max():.2e}"
    assert same_labels == len(theirs)


def test_openvino_says_how_it_runs_the_int8_file(reference: dict[str, Any],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openvino")
    assert MODELS
    monkeypatch.chdir(MODELS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector = Detector.load(reference["cases"]["int8"]["model"], engine="openvino")
    if machine() == "x86_64":
        assert detector.info.precision == "int8" and not detector.notes
        assert not [w for w in caught if w.category is Int8Warning]
        return
    # OpenVINO's CPU plugin computes int8 on x86-64 only: fp32 here (fp16 on Cortex-A76)
    assert detector.info.precision in ("fp32", "fp16")
    (note,) = detector.notes
    assert f"is int8, but openvino runs it in {detector.info.precision} on aarch64" in note
    assert "x86-64 only" in note
    assert [str(w.message) for w in caught if w.category is Int8Warning] == [note]
