"""``bench``: latency, throughput and fidelity of engines, measured interleaved.

Each engine is loaded once, warmed up, then timed in rounds (A, B, A, B, ...) so a
noisy machine slows all engines alike. Fidelity (max |dp| and label agreement) is
measured against the first engine on the same inputs. Cold start and peak memory come
from a fresh child process per engine (``python -m anime_detector.timing.child``). An
engine that fails to load or run is a row with ``null`` figures and an ``error``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.engines import ENGINES, Engine, open_engine
from anime_detector.errors import describe_error
from anime_detector.int8_support import int8_notes
from anime_detector.preprocessing import DEFAULT_SPEC, PreprocessSpec, input_shape
from anime_detector.progress import track
from anime_detector.sampling import sample_images
from anime_detector.timing.report import add_recommendation, add_speedups, machine_info

__all__ = ["EngineSpec", "load_engine", "run_bench"]


@dataclass(frozen=True)
class EngineSpec:
    """What to load: ``open_engine(model, engine, ...)``; ``engine`` may also name a Keras
    engine (``keras-predict``, ``keras-function``: the ``[train]`` extra)."""

    engine: str
    model: str
    device: str = "auto"
    threads: int | None = None
    precision: str | None = None
    spin: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def load_engine(spec: EngineSpec) -> Engine:
    """Load ``spec``."""
    return open_engine(spec.model, spec.engine, device=spec.device, threads=spec.threads,
                       precision=spec.precision, spin=spec.spin)


def child_measure(spec: EngineSpec, batch_size: int, timeout: float = 600.0) -> dict[str, Any]:
    """Cold start (load + first batch) and peak RSS, in a fresh process; ``error`` if it fails."""
    args = [sys.executable, "-m", "anime_detector.timing.child", spec.to_json(), str(batch_size)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"cold_start_ms": None, "peak_rss_mb": None,
                "error": f"cold-start child timed out after {timeout:.0f} s"}
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"cold_start_ms": None, "peak_rss_mb": None,
                "error": f"cold-start child failed (exit {out.returncode}): {last}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@dataclass
class _Loaded:
    spec: EngineSpec
    engine: Engine | None
    error: str | None = None


def _load_all(specs: Sequence[EngineSpec]) -> list[_Loaded]:
    loaded = []
    for spec in specs:
        try:
            loaded.append(_Loaded(spec, load_engine(spec)))
        except Exception as exc:  # one engine that cannot load must not sink the others
            loaded.append(_Loaded(spec, None, describe_error(exc)))
    return loaded


def _time_round(engines: list[_Loaded], batch: NDArray[np.float32],
                times: dict[int, list[float]], keep: bool) -> None:
    for i, item in enumerate(engines):
        if item.engine is None:
            continue
        try:
            started = time.perf_counter()
            item.engine.run(batch)
            elapsed = (time.perf_counter() - started) * 1000.0
        except Exception as exc:
            item.error, item.engine = f"run failed: {describe_error(exc)}", None
            continue
        if keep:
            times[i].append(elapsed)


def _fidelity(engines: list[_Loaded], images: NDArray[np.float32]) -> list[dict[str, Any]]:
    """max |dp| and label agreement of each engine vs the first one that runs."""
    outputs: list[NDArray[np.float32] | None] = []
    for item in engines:
        if item.engine is None:
            outputs.append(None)
            continue
        try:
            outputs.append(np.concatenate([item.engine.run(images[i : i + 8])
                                           for i in range(0, len(images), 8)]))
        except Exception as exc:
            item.error, item.engine = f"run failed: {describe_error(exc)}", None
            outputs.append(None)
    reference = next((o for o in outputs if o is not None), None)
    rows: list[dict[str, Any]] = []
    for out in outputs:
        if out is None or reference is None:
            rows.append({"max_abs_dp": None, "label_agreement": None})
            continue
        diff = float(np.abs(out.astype(np.float64) - reference).max())
        agree = float((out.argmax(1) == reference.argmax(1)).mean())
        rows.append({"max_abs_dp": diff, "label_agreement": agree})
    return rows


def _row(item: _Loaded, batch_size: int, times: list[float], extra: dict[str, Any]
         ) -> dict[str, Any]:
    spec, info = item.spec, item.engine.info if item.engine else None
    p50 = float(np.percentile(times, 50)) if times else None
    row: dict[str, Any] = {
        "engine": info.engine if info else spec.engine, "model": spec.model,
        "precision": info.precision if info else (spec.precision or "fp32"),
        "provider": info.device if info else None, "batch_size": batch_size, "p50_ms": p50,
        "p90_ms": float(np.percentile(times, 90)) if times else None,
        "p99_ms": float(np.percentile(times, 99)) if times else None,
        "images_per_s": batch_size * 1000.0 / p50 if p50 else None,
        "cold_start_ms": None, "peak_rss_mb": None, "size_mb": _size_mb(spec.model),
        "speedup_vs_keras": None, "speedup_vs_first": None, **extra,
        "options": _flags(spec),
    }
    if item.error and not row.get("error"):
        row["error"] = item.error
    return row


def run_bench(
    specs: Sequence[EngineSpec], batch_sizes: Sequence[int] = (1, 8), warmup: int = 3,
    runs: int = 20, cold_start: bool = True, seed: int = 0, progress: bool | None = None,
    images_dir: Path | None = None, max_dp: float = 1e-3,
) -> dict[str, Any]:
    """Time every engine at every batch size; returns the JSON report (schema in README).

    With several engines, onnxruntime's idle threads do not spin: a spinning pool would
    steal the CPUs from whichever engine runs next in the interleaved rounds.
    """
    if len(specs) > 1:
        specs = [replace(s, spin=False) for s in specs]
    loaded = _load_all(specs)
    spec_shape = _input_shape(loaded)
    rng = np.random.default_rng(seed)
    if images_dir is not None:
        fidelity_inputs, images_label = sample_images(
            images_dir, _input_spec(loaded), purpose="for the fidelity column")
    else:
        fidelity_inputs = rng.uniform(-120, 130, (8, *spec_shape)).astype(np.float32)
        images_label = "random inputs"
    fidelity = _fidelity(loaded, fidelity_inputs)
    results: list[dict[str, Any]] = []
    total = len(batch_sizes) * (warmup + runs)
    ticks = iter(track(range(total), total, "benchmarking", enabled=progress))
    for batch_size in batch_sizes:
        batch = rng.uniform(-120, 130, (batch_size, *spec_shape)).astype(np.float32)
        times: dict[int, list[float]] = {i: [] for i in range(len(loaded))}
        for round_index in range(warmup + runs):
            _time_round(loaded, batch, times, keep=round_index >= warmup)
            next(ticks, None)
        for i, item in enumerate(loaded):
            extra = dict(fidelity[i])
            if cold_start and item.engine is not None:
                extra.update(child_measure(item.spec, batch_size))
            results.append(_row(item, batch_size, times[i], extra))
    add_speedups(results)
    report = {"machine": machine_info(specs[0].threads if specs else None),
              "fidelity_on": images_label, "results": results, "notes": _notes(loaded)}
    add_recommendation(report, max_dp)
    safe: dict[str, Any] = _json_safe(report)
    return safe


def _notes(loaded: list[_Loaded]) -> list[str]:
    """int8 models that do not suit this CPU or their engine (one line each, in order)."""
    notes: list[str] = []
    for item in loaded:
        if item.engine is not None:
            found = int8_notes(item.engine.contract, item.engine.info, Path(item.spec.model).name)
            notes += [n for n in found if n not in notes]
    return notes


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _input_spec(loaded: list[_Loaded]) -> PreprocessSpec:
    """The preprocessing of the first engine that loaded (they share one model contract)."""
    return next((i.engine.contract.spec for i in loaded if i.engine is not None), DEFAULT_SPEC)


def _input_shape(loaded: list[_Loaded]) -> tuple[int, int, int]:
    return input_shape(_input_spec(loaded))


def _flags(spec: EngineSpec) -> str:
    """The ``predict`` options that select this engine and precision."""
    if spec.engine not in ENGINES:  # Keras: not a predict engine
        return ""
    flags = f"--engine {spec.engine}"
    return flags + (f" --precision {spec.precision}" if spec.precision else "")


def _size_mb(model: str) -> float | None:
    path = Path(model)
    if not path.exists():
        return None
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    return sum(p.stat().st_size for p in files) / 1e6

