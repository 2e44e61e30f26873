"""``bench``: latency and throughput of ONNX (and Keras) engines, measured interleaved.

Each engine is loaded once, warmed up, then timed in rounds (A, B, A, B, ...) so a
noisy machine slows all engines alike. Cold start and peak memory come from a fresh
child process per engine (``python -m anime_detector.bench_child``): load the model,
run one batch, report the time and ``ru_maxrss``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from anime_detector.progress import track
from anime_detector.session import available_cpus

__all__ = ["EngineSpec", "machine_info", "run_bench"]

Runner = Callable[[np.ndarray], Any]


@dataclass(frozen=True)
class EngineSpec:
    """What to load: ``kind`` is ``onnx``, ``keras-predict`` or ``keras-function``."""

    kind: str
    model: str
    device: str = "auto"
    threads: int | None = None
    spin: bool = True

    @property
    def engine(self) -> str:
        return "onnxruntime" if self.kind == "onnx" else self.kind


def load_engine(spec: EngineSpec) -> tuple[Runner, str, str]:
    """Return ``(run(batch), provider, precision)`` for ``spec``."""
    if spec.kind == "onnx":
        from anime_detector.detector import Detector

        det = Detector.load(spec.model, device=spec.device, threads=spec.threads,
                            spin=spec.spin)
        return det.run, det.providers[0], det.contract.precision
    from anime_detector.train.keras_engines import load_keras_engine

    run, provider, precision = load_keras_engine(spec.kind, spec.model, spec.threads)
    return run, str(provider), str(precision)


def child_measure(spec: EngineSpec, batch_size: int) -> dict[str, float]:
    """Cold start (load + first batch) and peak RSS, in a fresh process."""
    args = [sys.executable, "-m", "anime_detector.bench_child", json.dumps(spec.__dict__),
            str(batch_size)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        return {"cold_start_ms": float("nan"), "peak_rss_mb": float("nan")}
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def machine_info(threads: int | None) -> dict[str, Any]:
    """CPU model, threads and library versions, for the report header."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cpus_available": available_cpus(),
                            "threads": threads or available_cpus(),
                            "python": platform.python_version(), "platform": platform.platform()}
    import onnxruntime

    info["onnxruntime"] = onnxruntime.__version__
    if "tensorflow" in sys.modules:
        info["tensorflow"] = sys.modules["tensorflow"].__version__
    return info


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run_bench(
    specs: Sequence[EngineSpec], batch_sizes: Sequence[int] = (1, 8), warmup: int = 3,
    runs: int = 20, cold_start: bool = True, seed: int = 0, progress: bool | None = None,
) -> dict[str, Any]:
    """Time every engine at every batch size; returns the JSON report (schema in README).

    With several engines, onnxruntime's idle threads do not spin: a spinning pool
    would steal the CPUs from whichever engine runs next in the interleaved rounds.
    """
    if len(specs) > 1:
        specs = [replace(s, spin=False) if s.kind == "onnx" else s for s in specs]
    loaded = [(spec, *load_engine(spec)) for spec in specs]
    rng = np.random.default_rng(seed)
    results: list[dict[str, Any]] = []
    total = len(batch_sizes) * (warmup + runs) * len(loaded)
    ticks = iter(track(range(total), total, "benchmarking", enabled=progress))
    for batch_size in batch_sizes:
        batch = rng.uniform(-120, 130, (batch_size, 224, 224, 3)).astype(np.float32)
        times: dict[int, list[float]] = {i: [] for i in range(len(loaded))}
        for round_index in range(warmup + runs):
            for i, (_, run, _, _) in enumerate(loaded):
                started = time.perf_counter()
                run(batch)
                elapsed = (time.perf_counter() - started) * 1000.0
                if round_index >= warmup:
                    times[i].append(elapsed)
                next(ticks, None)
        for i, (spec, _, provider, precision) in enumerate(loaded):
            p50 = _percentile(times[i], 50)
            extra = child_measure(spec, batch_size) if cold_start else {
                "cold_start_ms": None, "peak_rss_mb": None}
            results.append({
                "engine": spec.engine, "model": spec.model, "precision": precision,
                "provider": provider, "batch_size": batch_size, "p50_ms": p50,
                "p90_ms": _percentile(times[i], 90), "p99_ms": _percentile(times[i], 99),
                "images_per_s": batch_size * 1000.0 / p50, **extra,
                "size_mb": _size_mb(spec.model), "speedup_vs_keras": None,
            })
    _add_speedups(results)
    return {"machine": machine_info(specs[0].threads if specs else None), "results": results}


def _size_mb(model: str) -> float:
    path = Path(model)
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    return sum(p.stat().st_size for p in files) / 1e6


def _add_speedups(results: list[dict[str, Any]]) -> None:
    keras = {r["batch_size"]: r["p50_ms"] for r in results if r["engine"] == "keras-predict"}
    for row in results:
        base = keras.get(row["batch_size"])
        row["speedup_vs_keras"] = base / row["p50_ms"] if base else None


def format_table(report: dict[str, Any]) -> str:
    """The report as an aligned text table (also valid Markdown)."""
    head = ("| engine | precision | provider | batch | p50 ms | p90 ms | p99 ms | img/s | "
            "cold start ms | size MB | peak RSS MB | vs keras |")
    lines = [head, "|" + "---|" * 12]
    for r in report["results"]:
        def num(key: str, fmt: str, row: dict[str, Any] = r) -> str:
            value = row.get(key)
            return "-" if value is None or value != value else format(value, fmt)

        lines.append(
            f"| {r['engine']} {Path(r['model']).name} | {r['precision']} | "
            f"{r['provider'].replace('ExecutionProvider', '')} | {r['batch_size']} | "
            f"{num('p50_ms', '.1f')} | {num('p90_ms', '.1f')} | {num('p99_ms', '.1f')} | "
            f"{num('images_per_s', '.2f')} | {num('cold_start_ms', '.0f')} | "
            f"{num('size_mb', '.1f')} | {num('peak_rss_mb', '.0f')} | "
            f"{num('speedup_vs_keras', '.2f')} |")
    m = report["machine"]
    lines.append(f"\nmachine: {m['cpu']}, {m['threads']} threads, onnxruntime "
                 f"{m['onnxruntime']}" + (f", tensorflow {m['tensorflow']}" if "tensorflow" in m
                                          else ""))
    return "\n".join(lines)
