"""ncnn with and without the conversion's per-layer options, beside onnxruntime fp32.

Usage (FOLDER from ``anime-detector export --format ncnn``, ONNX the fp32 file it was
converted from):

    python benchmarks/ncnn_layer_options.py --onnx ONNX --ncnn FOLDER --images examples/sample

Builds the same folder without its ``layer_options`` (the featmask bits written after
pnnx: plain pnnx output, every 3x3 convolution on Winograd) in a temporary folder that
shares the weights file, then times onnxruntime fp32, ncnn as pnnx wrote it and ncnn as
converted, interleaved (``anime_detector.timing.runner.run_bench``), with max |dp| on real
images. ``--repeat N`` runs that N times in a row and reports every run's ratios and
their median (this shared machine's load changes from minute to minute); ``--append``
keeps the runs already in the results file (same CPU only) and adds these, so that
a later, quieter session cannot replace a noisy one. Writes
``results/ncnn_layer_options.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import median, previous_report, save

KEYS = ("plain_vs_onnxruntime_fp32", "converted_vs_onnxruntime_fp32", "converted_vs_plain")


def without_layer_options(folder: Path, out: Path) -> list[str]:
    """Copy ``folder`` to ``out`` with the featmask bits of its ``layer_options`` cleared."""
    from anime_detector.export.ncnn_param import FEATMASK, NO_WINOGRAD, ParamLayer

    manifest = json.loads((folder / "anime_detector.json").read_text(encoding="utf-8"))
    names = set(manifest.get("layer_options", {}))
    out.mkdir(parents=True)
    lines = (folder / manifest["param"]).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        layer = ParamLayer.parse(line) if i >= 2 else None
        if layer is not None and layer.name in names:
            fields = [f for f in line.split() if not f.startswith(f"{FEATMASK}=")]
            left = int(layer.params[FEATMASK]) & ~NO_WINOGRAD
            lines[i] = " ".join(fields + ([f"{FEATMASK}={left}"] if left else []))
    (out / manifest["param"]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        os.link(folder / manifest["bin"], out / manifest["bin"])
    except OSError:
        shutil.copyfile(folder / manifest["bin"], out / manifest["bin"])
    manifest["layer_options"] = {}
    (out / "anime_detector.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return sorted(names)


def main() -> None:
    from anime_detector.timing.report import format_table
    from anime_detector.timing.runner import EngineSpec, run_bench

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--ncnn", type=Path, required=True)
    parser.add_argument("--images", type=Path, default=Path("examples/sample"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--append", action="store_true")
    args = parser.parse_args()

    earlier = previous_report("ncnn_layer_options").get("runs", []) if args.append else []
    runs: list[dict[str, Any]] = [{"at": "earlier", **r} for r in earlier]
    with tempfile.TemporaryDirectory(prefix="ncnn-plain-") as tmp:
        plain = Path(tmp) / "plain"
        changed = without_layer_options(args.ncnn, plain)
        specs = [EngineSpec("onnxruntime", str(args.onnx), "cpu", args.threads),
                 EngineSpec("ncnn", str(plain), "cpu", args.threads, "fp32"),
                 EngineSpec("ncnn", str(args.ncnn), "cpu", args.threads, "fp32")]
        for _ in range(args.repeat):
            report: dict[str, Any] = run_bench(specs, [1], args.warmup, args.runs,
                                               cold_start=False, images_dir=args.images)
            base, before, after = (r["p50_ms"] for r in report["results"])
            runs.append({"plain_vs_onnxruntime_fp32": base / before,
                         "converted_vs_onnxruntime_fp32": base / after,
                         "converted_vs_plain": before / after,
                         "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
            print(_ratio_line(runs[-1]), flush=True)
    report["layer_options"] = changed
    report["runs"] = runs
    report["ratios"] = {key: median([r[key] for r in runs]) for key in KEYS}
    report["results"][1]["model"] = "pnnx output (no layer options)"
    lines = [f"last of {len(runs)} runs:", "", format_table(report), "",
             f"layer options: {', '.join(changed) or 'none'}",
             *(f"run {i} ({r['at']}): {_ratio_line(r)}" for i, r in enumerate(runs, 1)),
             f"median of {len(runs)}: {_ratio_line(report['ratios'])}"]
    save("ncnn_layer_options", report, "\n".join(lines))


def _ratio_line(r: dict[str, float]) -> str:
    return (f"ncnn fp32 vs onnxruntime fp32 {r['plain_vs_onnxruntime_fp32']:.2f}x as pnnx wrote "
            f"it, {r['converted_vs_onnxruntime_fp32']:.2f}x as converted "
            f"({r['converted_vs_plain']:.3f}x)")


if __name__ == "__main__":
    main()
