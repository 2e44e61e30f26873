"""bench recommends a lower precision only where it buys speed on this CPU."""

from __future__ import annotations

from typing import Any

from anime_detector.timing.report import MIN_GAIN, add_recommendation


def row(engine: str, precision: str, p50: float, dp: float) -> dict[str, Any]:
    return {"engine": engine, "precision": precision, "model": f"m-{precision}.onnx",
            "batch_size": 1, "p50_ms": p50, "max_abs_dp": dp, "options": f"--engine {engine}",
            "speedup_vs_first": None}


def recommended(*rows: dict[str, Any]) -> tuple[str, str]:
    report: dict[str, Any] = {"results": list(rows)}
    add_recommendation(report, max_dp=0.5)
    return report["recommendation"]["engine"], report["recommendation"]["precision"]


def test_int8_that_is_not_faster_is_not_recommended() -> None:
    # the MobileNetV2 case: int8 about as fast as fp32, and it moves probabilities
    assert recommended(row("onnxruntime", "fp32", 4.7, 0.0),
                       row("onnxruntime", "int8", 4.6, 0.3)) == ("onnxruntime", "fp32")


def test_int8_that_pays_is_recommended() -> None:
    assert recommended(row("onnxruntime", "fp32", 100.0, 0.0),
                       row("onnxruntime", "int8", 100.0 / (MIN_GAIN + 0.5), 0.1)) == \
        ("onnxruntime", "int8")


def test_the_fastest_fp32_engine_is_the_yardstick() -> None:
    # bf16 is 1.05x the fastest fp32 engine (ncnn), though 2x onnxruntime fp32: not worth it
    assert recommended(row("onnxruntime", "fp32", 100.0, 0.0), row("ncnn", "fp32", 52.0, 1e-6),
                       row("openvino", "bf16", 49.5, 0.03)) == ("ncnn", "fp32")
