"""Engines side by side: Keras predict, tf.function, ONNX fp32 / fp16 / int8, batch 1 and 8.

Usage (after ``anime-detector train ... --out RUN``):

    python benchmarks/engines.py --run RUN --calibration-dir examples/sample

Exports the missing ONNX variants next to RUN/model.keras, times every engine
interleaved (``anime_detector.bench.run_bench``), probes numpy's float32 matmul
rate before and after, and writes ``results/engines.json`` and ``results/engines.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import matmul_gflops, save  # noqa: E402

VGG19_NOTOP_GFLOP = 39.0  # 2 x multiply-adds per 224x224 image, convolutions only


def ensure_exports(run: Path, calibration: Path, verify: Path) -> list[Path]:
    from anime_detector.export import to_onnx

    paths = []
    for precision in ("fp32", "fp16", "int8"):
        path = run / f"model-{precision}.onnx"
        if not path.exists():
            to_onnx(run / "model.keras", path, precision=precision,
                    calibration_dir=calibration if precision == "int8" else None,
                    verify_dir=verify)
        paths.append(path)
    return paths


def main() -> None:
    from anime_detector.bench.runner import EngineSpec, format_table, run_bench

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--calibration-dir", type=Path, default=Path("examples/sample"))
    parser.add_argument("--verify-dir", type=Path, default=Path("examples/sample"),
                        help="real images for the export checks (keep apart from calibration)")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,8")
    args = parser.parse_args()

    onnx_paths = ensure_exports(args.run, args.calibration_dir, args.verify_dir)
    keras_path = str(args.run / "model.keras")
    specs = [EngineSpec("keras-predict", keras_path, "cpu"),
             EngineSpec("keras-function", keras_path, "cpu"),
             *(EngineSpec("onnx", str(p), "cpu") for p in onnx_paths)]
    before = matmul_gflops()
    report = run_bench(specs, [int(b) for b in args.batch_sizes.split(",")], args.warmup,
                       args.runs, cold_start=True)
    after = matmul_gflops()
    report["matmul_gflops"] = {"before": before, "after": after}
    for row in report["results"]:
        gflops = VGG19_NOTOP_GFLOP * row["images_per_s"]
        row["effective_gflops"] = gflops
        row["pct_of_matmul"] = 100.0 * gflops / max(before, after)
    by = {(r["engine"], r["precision"], r["batch_size"]): r for r in report["results"]}
    ratios = {}
    for b in sorted({r["batch_size"] for r in report["results"]}):
        k, f = by[("keras-predict", "fp32", b)], by[("keras-function", "fp32", b)]
        o32, o8 = by[("onnxruntime", "fp32", b)], by[("onnxruntime", "int8", b)]
        ratios[f"batch{b}"] = {
            "onnx_fp32_vs_keras_predict": k["p50_ms"] / o32["p50_ms"],
            "onnx_fp32_vs_tf_function": f["p50_ms"] / o32["p50_ms"],
            "onnx_int8_vs_keras_predict": k["p50_ms"] / o8["p50_ms"],
            "onnx_int8_vs_onnx_fp32": o32["p50_ms"] / o8["p50_ms"],
            "onnx_fp32_pct_of_matmul": o32["pct_of_matmul"],
        }
    report["ratios"] = ratios
    table = format_table(report)
    lines = [table, "", f"numpy float32 2048^2 matmul: {before:.0f} GFLOP/s before, "
             f"{after:.0f} after", "", "| ratio (p50) | " + " | ".join(ratios) + " |",
             "|---|" + "---|" * len(ratios)]
    for key in next(iter(ratios.values())):
        lines.append(f"| {key} | " + " | ".join(f"{ratios[b][key]:.2f}" for b in ratios) + " |")
    save("engines", report, "\n".join(lines))


if __name__ == "__main__":
    main()
