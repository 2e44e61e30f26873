"""What the benchmark scripts share: timing, the matmul probe, real-image folders, cold
starts, ``predict``'s rate, end-to-end vs raw throughput, comparing result rows, and the
result files.

Scripts import this module and ``_loadgen`` (never each other); ``python
benchmarks/NAME.py`` puts this folder on ``sys.path``, and importing this module adds
``tests/``, so the scripts use the tests' helpers (``helpers.server``, ``helpers.mode_images``)
as the tests do under pytest's ``pythonpath``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample"
TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.append(str(TESTS))


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """numpy float32 n x n matmul rate, best of ``repeats``: a probe for a slowed machine."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    return 2 * n**3 / min(timed(lambda: a @ b) for _ in range(repeats)) / 1e9


def machine_line() -> str:
    """``machine: CPU model (its relevant flags)``, for a result's Markdown."""
    from anime_detector.system import cpu_summary

    return f"machine: {cpu_summary()}"


def previous_report(name: str) -> dict[str, Any]:
    """``results/NAME.json`` as last saved, if it was measured on this CPU (else empty):
    scripts that add runs to earlier ones never mix machines."""
    from anime_detector.system import cpu_summary

    path = RESULTS / f"{name}.json"
    if not path.exists():
        return {}
    report: dict[str, Any] = json.loads(path.read_text())
    return report if report.get("cpu") == cpu_summary() else {}


def save(name: str, report: dict[str, Any], markdown: str) -> None:
    """Write ``results/NAME.json`` (with the CPU named, if the report does not name it)
    and ``results/NAME.md``, and print the Markdown."""
    from anime_detector.system import cpu_summary

    report.setdefault("cpu", cpu_summary())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown + "\n")
    print(markdown)


def cpu_name() -> str:
    """The CPU model and the flags that change the figures (``anime_detector.system``)."""
    from anime_detector.system import cpu_summary

    return cpu_summary()


def make_images(n: int, data: Path, folder: Path) -> list[str]:
    """``n`` real image files: ``data``'s images (the sample set), copied round-robin under
    new names into class sub-folders of ``folder``."""
    from anime_detector.image_paths import expand_inputs

    originals = [Path(p) for p in expand_inputs([str(data)], recursive=True)]
    made = []
    for i in range(n):
        src = originals[i % len(originals)]
        dest = folder / src.parent.name / f"{i:05d}-{src.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        made.append(str(dest))
    return sorted(made)


def predict_command(model: Path, image: Path) -> list[str]:
    """``anime-detector predict MODEL IMAGE --format json`` as this interpreter runs it."""
    return [sys.executable, "-m", "anime_detector", "predict", str(model), str(image),
            "--format", "json"]


def fresh_process_seconds(commands: dict[str, list[str]], rounds: int
                          ) -> dict[str, list[float]]:
    """Wall seconds of each command, each run in a fresh process, the commands alternating
    ``rounds`` times (process start to exit: the cold start a user sees)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

    def run(cmd: list[str]) -> float:
        return timed(lambda: subprocess.run(cmd, check=True, capture_output=True, env=env))

    out: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, cmd in commands.items():
            out[name].append(run(cmd))
    return out


def predict_rate(detector: Any, paths: list[str], seconds: float = 0.0) -> float:
    """Images/s of ``predict``'s job on ``paths`` (decoding overlapped, batch 8). With
    ``seconds``, the job runs again until about that long has passed (the job takes each
    file once) and the rate is over all the runs: one job on a few dozen small images
    lasts a fraction of a second, too short to time alone."""
    from anime_detector.jobs.predict_files import predict_files

    def job() -> None:
        predict_files(detector, paths, lambda item: None, batch_size=8)

    runs, spent = 0, 0.0
    while runs == 0 or spent < seconds:
        spent += timed(job)
        runs += 1
    return runs * len(paths) / spent


def raw_vs_predict(detector: Any, paths: list[str], batch_size: int, rounds: int
                   ) -> dict[str, Any]:
    """Images/s of ``Detector.predict_iter`` over the files (decoding on threads, overlapped
    with inference) against ``Detector.run`` on the same, already preprocessed batches;
    rounds alternate (raw, end to end, ...), medians reported."""
    from anime_detector.preprocessing import preprocess

    arrays = np.stack([preprocess(p, detector.contract.spec) for p in paths])
    batches = [arrays[i:i + batch_size] for i in range(0, len(arrays), batch_size)]
    detector.run(batches[0])
    raw, e2e = [], []
    for _ in range(rounds):
        raw.append(timed(lambda: [detector.run(b) for b in batches]))
        e2e.append(timed(lambda: list(detector.predict_iter(paths, batch_size=batch_size))))
    raw_ips, e2e_ips = len(paths) / median(raw), len(paths) / median(e2e)
    return {"images": len(paths), "batch_size": batch_size, "raw_images_per_s": raw_ips,
            "end_to_end_images_per_s": e2e_ips, "ratio": e2e_ips / raw_ips, "raw_s": raw,
            "end_to_end_s": e2e}


def compare_rows(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any]:
    """Label agreement and max |dp| over paths both result sets predicted."""
    by_path = {r["path"]: r for r in b}
    common = [r for r in a if r["path"] in by_path and "error" not in r
              and "error" not in by_path[r["path"]]]
    agree = sum(r["label"] == by_path[r["path"]]["label"] for r in common)
    delta = max((abs(p - by_path[r["path"]]["probabilities"][k])
                 for r in common for k, p in r["probabilities"].items()), default=0.0)
    return {"compared": len(common), "rows_a": len(a), "rows_b": len(b),
            "label_agreement": agree / max(1, len(common)), "max_abs_dp": delta}
