"""Helpers shared by the benchmark scripts: medians, matmul probe, result files."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


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
