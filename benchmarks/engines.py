"""Every engine x precision x batch size on one trained model, interleaved, with fidelity.

Usage (RUN from ``anime-detector train ... --out RUN``; a ``--weights none`` model trained
on two easily separated generated classes has scores that spread, so max |dp| means
something, see docs/benchmarks.md):

    python benchmarks/engines.py --run RUN --calibration-dir DATA --images examples/sample

Exports what is missing next to RUN/model.keras (fp32, fp16, int8 for this CPU's target
and for ``avx2``, and an ncnn folder), then times onnxruntime fp32 first (the fidelity
reference), OpenVINO fp32/bf16, ncnn fp32/fp16, onnxruntime fp16/int8, OpenVINO int8 and
Keras, interleaved (``anime_detector.timing.runner.run_bench``). numpy's matmul rate is
probed before and after. Writes ``results/engines.json`` and ``results/engines.md``
(``--name`` changes the stem, for a second model);
the batch-1 ratios of earlier runs on this CPU stay in the JSON's ``history`` (a later
run never hides an earlier one).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _common import matmul_gflops, previous_report, save


def ensure_exports(run: Path, calibration: Path, verify: Path) -> dict[str, Path]:
    from anime_detector.export import to_onnx
    from anime_detector.export.convert import ExportError
    from anime_detector.export.ncnn import to_ncnn
    from anime_detector.export.precision import resolve_int8_target

    here = resolve_int8_target("auto")
    wanted = {"fp32": ("fp32", "auto"), "fp16": ("fp16", "auto"),
              f"int8-{here}": ("int8", here), "int8-avx2": ("int8", "avx2")}
    paths = {}
    for name, (precision, target) in wanted.items():
        path = run / f"model-{name}.onnx"
        if not path.exists():
            try:
                to_onnx(run / "model.keras", path, precision=precision, int8_target=target,
                        calibration_dir=calibration if precision == "int8" else None,
                        verify_dir=verify)
            except ExportError as exc:  # accuracy-aware int8 found no recipe: no such row
                print(f"{name}: not exported: {exc}")
                continue
        paths[name] = path
    paths["ncnn"] = run / "model-ncnn"
    if not paths["ncnn"].exists():
        to_ncnn(paths["fp32"], paths["ncnn"], verify_dir=verify)
    return paths


def model_note(run: Path) -> str:
    """What the timed model is, from its run folder: the backbone (an encoder file's name)
    and its weights, and the head."""
    import json

    config = json.loads((run / "config.json").read_text())
    backbone = Path(str(config.get("backbone", "vgg19")))
    pretrained = (run / "backbone.json").exists() or config.get("weights") not in ("none", None)
    weights = "pretrained" if pretrained else "random (--weights none)"
    return (f"{backbone.name} backbone, {weights} weights, {config.get('head', 'seed')} "
            f"head trained on {Path(str(config.get('data_dir', '?'))).name}")


def specs_for(paths: dict[str, Path], threads: int | None) -> list[Any]:
    from anime_detector.timing.plan import engine_precisions
    from anime_detector.timing.runner import EngineSpec

    int8 = [k for k in paths if k.startswith("int8")]
    specs = [EngineSpec("onnxruntime", str(paths["fp32"]), "cpu", threads)]
    specs += [EngineSpec("openvino", str(paths["fp32"]), "cpu", threads, p)
              for p in engine_precisions("openvino")]
    specs += [EngineSpec("ncnn", str(paths["ncnn"]), "cpu", threads, p) for p in ("fp32", "fp16")]
    specs += [EngineSpec("onnxruntime", str(paths[k]), "cpu", threads) for k in ["fp16", *int8]]
    specs += [EngineSpec("openvino", str(paths[k]), "cpu", threads) for k in int8]
    return specs


def ratios(report: dict[str, Any], bound: float) -> dict[str, dict[str, float | str]]:
    """Per batch size: the targets, each against onnxruntime fp32 of that size."""
    out: dict[str, dict[str, float | str]] = {}
    for b in sorted({r["batch_size"] for r in report["results"]}):
        rows = [r for r in report["results"] if r["batch_size"] == b and r["p50_ms"]]
        base = next(r for r in rows if r["engine"] == "onnxruntime")
        close = [r for r in rows if r["max_abs_dp"] is not None and r["max_abs_dp"] <= bound
                 and r["engine"].startswith(("onnx", "open", "ncnn"))]
        best = min(close, key=lambda r: r["p50_ms"])
        ncnn = next((r for r in rows if r["engine"] == "ncnn" and r["precision"] == "fp32"), None)
        keras = next((r for r in rows if r["engine"] == "keras-predict"), None)
        name = f"{best['engine']} {best['precision']} ({Path(best['model']).name})"
        out[f"batch{b}"] = {
            "best_within_bound": name,
            "best_vs_onnxruntime_fp32": base["p50_ms"] / best["p50_ms"],
            "best_max_abs_dp": best["max_abs_dp"],
            "ncnn_fp32_vs_onnxruntime_fp32": base["p50_ms"] / ncnn["p50_ms"] if ncnn else 0.0,
            "ncnn_fp32_max_abs_dp": ncnn["max_abs_dp"] if ncnn else 0.0,
            "onnxruntime_fp32_vs_keras_predict": (keras["p50_ms"] / base["p50_ms"]
                                                  if keras else 0.0),
        }
    return out


def main() -> None:
    from anime_detector.engines import KERAS_BENCH_ROWS
    from anime_detector.timing.plan import parse_batch_sizes
    from anime_detector.timing.report import format_table
    from anime_detector.timing.runner import EngineSpec, run_bench

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--calibration-dir", type=Path, required=True,
                        help="real images for int8 calibration (keep apart from --images)")
    parser.add_argument("--images", type=Path, default=Path("examples/sample"),
                        help="real images for export verification and the fidelity column")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--max-dp", type=float, default=1e-3)
    parser.add_argument("--no-keras", action="store_true")
    parser.add_argument("--name", default="engines",
                        help="results/NAME.json and .md (default: engines)")
    args = parser.parse_args()

    paths = ensure_exports(args.run, args.calibration_dir, args.images)
    specs = specs_for(paths, args.threads)
    if not args.no_keras:
        specs += [EngineSpec(k, str(args.run / "model.keras"), "cpu", args.threads)
                  for k in KERAS_BENCH_ROWS]
    before = matmul_gflops()
    report = run_bench(specs, parse_batch_sizes(args.batch_sizes), args.warmup,
                       args.runs, cold_start=True, images_dir=args.images, max_dp=args.max_dp)
    after = matmul_gflops()
    report["matmul_gflops"] = {"before": before, "after": after}
    report["model_note"] = model_note(args.run)
    report["ratios"] = ratios(report, args.max_dp)
    lines = [format_table(report), "", f"numpy float32 2048^2 matmul: {before:.0f} GFLOP/s "
             f"before, {after:.0f} after", ""]
    for batch, values in report["ratios"].items():
        lines.append(f"{batch}: " + "; ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()))
    report["history"] = history(report, args.name)
    lines.append("batch-1 history on this CPU: " + "; ".join(
        f"{h['at']}: {h['best_vs_onnxruntime_fp32']:.2f}x" for h in report["history"]))
    save(args.name, report, "\n".join(lines))


def _entry(report: dict[str, Any], at: str) -> dict[str, Any]:
    batch1 = report["ratios"]["batch1"]
    return {"at": at, "best_within_bound": batch1["best_within_bound"],
            "best_vs_onnxruntime_fp32": batch1["best_vs_onnxruntime_fp32"],
            "matmul_gflops_before": report.get("matmul_gflops", {}).get("before")}


def history(report: dict[str, Any], name: str = "engines") -> list[dict[str, Any]]:
    """Earlier runs' batch-1 entries from ``results/NAME.json`` (same CPU only), then this
    run's."""
    earlier = previous_report(name).get("history", [])
    return [*earlier, _entry(report, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))]


if __name__ == "__main__":
    main()
