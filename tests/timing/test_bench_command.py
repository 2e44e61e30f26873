"""``anime-detector bench`` runs and writes the documented JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import run_cli

ROW_KEYS = {"engine", "model", "precision", "provider", "batch_size", "p50_ms", "p90_ms",
            "p99_ms", "images_per_s", "cold_start_ms", "size_mb", "peak_rss_mb",
            "speedup_vs_keras", "speedup_vs_first", "max_abs_dp", "label_agreement", "options"}


def test_bench_json_schema(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run_cli("bench", tiny_model, "--runs", "2", "--warmup", "1", "--batch-sizes", "1,2",
                     "--engines", "onnxruntime", "--output", out)
    assert result.returncode == 0, result.stderr
    assert "| onnxruntime tiny.onnx | fp32 | CPU | 1 |" in result.stdout
    report = json.loads(out.read_text())
    assert {"cpu", "cpu_flags", "threads", "onnxruntime"} <= set(report["machine"])
    assert [r["batch_size"] for r in report["results"]] == [1, 2]
    for row in report["results"]:
        assert set(row) == ROW_KEYS
        assert row["p50_ms"] > 0 and row["cold_start_ms"] > 0 and row["peak_rss_mb"] > 0
        assert row["provider"] == "CPUExecutionProvider" and row["speedup_vs_keras"] is None
        assert row["max_abs_dp"] == 0.0 and row["speedup_vs_first"] == 1.0
    assert report["recommendation"]["command"].endswith("--engine onnxruntime")
    assert "recommended (fastest within max |dp| <= 0.001): onnxruntime" in result.stdout


def test_bench_default_model_without_arguments(tmp_path: Path) -> None:
    result = run_cli("bench", "--runs", "2", "--warmup", "0", "--batch-sizes", "1",
                     "--no-cold-start", "--format", "json", "--engines", "onnxruntime",
                     env={"ANIME_DETECTOR_CACHE": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["results"]
    assert row["model"].endswith("vgg19-head-random-v1.onnx") and row["size_mb"] > 80


@pytest.mark.tf
@pytest.mark.slow
def test_bench_with_keras_rows(trained_run: dict[str, Path], vgg_export: dict[str, object]
                               ) -> None:
    result = run_cli("bench", vgg_export["path"], "--keras", trained_run["run"] / "model.keras",
                     "--runs", "2", "--warmup", "1", "--batch-sizes", "1", "--no-cold-start",
                     "--format", "json", "--engines", "onnxruntime")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout)["results"]
    assert [r["engine"] for r in rows] == ["onnxruntime", "keras-predict", "keras-function"]
    assert rows[1]["speedup_vs_keras"] == pytest.approx(1.0)
    assert rows[0]["speedup_vs_keras"] > 0
    assert rows[1]["max_abs_dp"] < 1e-4  # Keras vs the ONNX export on the same inputs


def test_engine_that_cannot_load_is_a_row_with_an_error(tiny_model: Path, tmp_path: Path) -> None:
    """A broken engine never sinks the report: null figures, an error, valid JSON."""
    from anime_detector.timing.runner import EngineSpec, run_bench

    missing = str(tmp_path / "missing.onnx")
    report = run_bench([EngineSpec("onnxruntime", str(tiny_model)),
                        EngineSpec("onnxruntime", missing)], [1], warmup=0, runs=2)
    good, bad = report["results"]
    assert good["p50_ms"] > 0 and bad["p50_ms"] is None and "no such model file" in bad["error"]
    json.loads(json.dumps(report, allow_nan=False))


def test_malformed_batch_sizes_is_one_line(tiny_model: Path) -> None:
    result = run_cli("bench", tiny_model, "--batch-sizes", "1,x", "--no-cold-start")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --batch-sizes '1,x': expected comma-separated positive integers, e.g. 1,8"]
