"""Copy the latest ``results/*.md`` tables into docs/benchmarks.md, the summary into README.md.

    python benchmarks/update_docs.py [--only SECTION ...]

docs/benchmarks.md gets the Targets table (goals from ``goals.json``) and every section,
between its bench markers; README.md's "Which engine should I deploy?" table (between the
deploy markers) is made from ``results/engines.json``. Each section names the machine its
figures came from; figures from different machines are never put in one ratio.

``--only`` rewrites the sections named and keeps the others as the files have them:
``targets`` (the Targets table), a section of ``SECTIONS`` (its ``results/NAME.md``), or
``deploy`` (the README table).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
GOALS = json.loads((ROOT / "benchmarks" / "goals.json").read_text())
SECTIONS = (
    ("engines", "Engines on a real encoder, nsfwjs MobileNetV2 + head: the README's deploy "
                "table (`python benchmarks/engines.py --run RUN --calibration-dir DATA "
                "--images examples/sample`)"),
    ("engines-vgg19-random", "Engines on VGG19 with a random backbone: the engine targets' run "
                             "(`... engines.py --run RUN --calibration-dir DATA --images "
                             "examples/sample --name engines-vgg19-random`)"),
    ("ncnn_layer_options", "ncnn with and without its layer options, runs added five at a time "
                           "(`python benchmarks/ncnn_layer_options.py --onnx RUN/model-fp32.onnx "
                           "--ncnn RUN/model-ncnn --runs 20 --repeat 5 --append`)"),
    ("ncnn_layers", "ncnn, each 3x3 convolution alone, per algorithm "
                    "(`python benchmarks/ncnn_layers.py --ncnn RUN/model-ncnn`)"),
    ("end_to_end", "End to end vs raw session, fastest engine (`python benchmarks/end_to_end.py "
                   "--model M --engine E --precision P`)"),
    ("backbones", "Backbones (`python benchmarks/backbones.py`)"),
    ("backbone_engines", "Every engine on the light backbones"),
    ("explain_cost", "predict --explain vs predict, a sample image "
                     "(`python benchmarks/explain_cost.py`)"),
    ("explain_cost_noise", "the same, worst case: a 640x480 image of random noise "
                           "(`... --image noise.jpg --name explain_cost_noise`)"),
    ("ray_batch", "batch on a local Ray vs predict (`python benchmarks/ray_batch.py`)"),
    ("ray_cluster", "batch on a simulated two-node cluster (`python benchmarks/ray_cluster.py`)"),
    ("suite", "Test suite time (`python benchmarks/suite_time.py`)"),
    ("suite-same-tests", "The same tests before and after the architecture step, 67f5715 "
                         "(`python benchmarks/suite_time.py --before-tree B --before-python "
                         "B/.venv/bin/python --rounds 2`)"),
    ("litert", "ONNX Runtime vs LiteRT (`pip install ai-edge-litert; python benchmarks/litert.py "
               "--run RUN --calibration-dir DATA`)"),
    ("cold_start", "Cold start (`python benchmarks/cold_start.py --onnx M.onnx --keras M.keras "
                   "--rounds 5`)"),
    ("train_cache", "Training with and without the feature cache "
                    "(`python benchmarks/train_cache.py`)"),
    ("decode_memory", "Peak memory of one predict per pixel mode, at the pixel limit "
                      "(`python benchmarks/decode_memory.py`)"),
    ("accuracy", "Accuracy per engine and precision on a real pretrained encoder "
                 "(`python benchmarks/accuracy.py`)"),
)


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


TITLES = dict(SECTIONS)
BENCH_PARTS = ("targets", *TITLES)  # the bench block's parts, in order
CHOICES = (*BENCH_PARTS, "deploy")
_TARGETS_HEADING = "#### Targets"


def _fresh(name: str) -> str | None:
    """Bench part ``name`` made from the results (None: no results file for it)."""
    if name == "targets":
        return targets()
    md = RESULTS / f"{name}.md"
    return f"#### {TITLES[name]}\n\n{md.read_text().strip()}\n" if md.exists() else None


def _part_name(chunk: str) -> str | None:
    heading = chunk.split("\n", 1)[0]
    if heading.startswith(_TARGETS_HEADING):
        return "targets"
    return next((name for name, title in SECTIONS if heading == f"#### {title}"), None)


def parts(block: str) -> dict[str, str]:
    """The bench block ``render`` wrote, split into its parts by name (each as rendered)."""
    found: dict[str, str] = {}
    last: str | None = None
    for chunk in re.split(r"(?<=\n)\n(?=#### )", block):
        name = _part_name(chunk)
        if name is None and last is not None:  # a "####" line inside a section's table
            found[last] += "\n" + chunk
        elif name is not None:
            found[name], last = chunk, name
    return found


def render(only: Collection[str] | None = None, current: str = "") -> str:
    """The bench block: Targets and every section that has results. With ``only``, the
    parts named are made afresh and the others kept as ``current`` (the block now) has
    them."""
    kept = parts(current) if only is not None else {}
    chosen = [_fresh(name) if only is None or name in only else kept.get(name)
              for name in BENCH_PARTS]
    return "\n".join(part for part in chosen if part)


class _Rows:
    def __init__(self) -> None:
        self.rows: list[str] = []

    def add(self, what: str, value: float | None, goal_name: str, fmt: str = "{:.2f}x") -> None:
        if value is None:
            return
        goal_entry = GOALS[goal_name]
        lower_is_better = "max" in goal_entry
        goal = goal_entry["max"] if lower_is_better else goal_entry["ratio"]
        met = value <= goal if lower_is_better else value >= goal
        sign = "<= " if lower_is_better else ">= "
        self.rows.append(f"| {what} | {fmt.format(value)} | {sign}{fmt.format(goal)} | "
                         f"{'met' if met else 'NOT met'} |")


def targets() -> str:
    """Each target beside the measured value, computed from the result files."""
    t = _Rows()
    # the engine goals were set for VGG19; its run is kept apart from results/engines.json
    engines, e2e, backbones, explain, ray, suite = (_load(n) for n in (
        "engines-vgg19-random", "end_to_end", "backbones", "explain_cost", "ray_batch", "suite"))
    if engines:
        r = engines["ratios"]["batch1"]
        runs = ", ".join(f"{h['best_vs_onnxruntime_fp32']:.2f}x"
                         for h in engines.get("history", [])[:-1])
        t.add(f"VGG19 (random backbone, {engines['machine']['cpu']}, "
              "results/engines-vgg19-random.md): best engine within max abs dp 1e-3 "
              f"({r['best_within_bound']}) vs onnxruntime "
              f"fp32, batch 1 (max abs dp {r['best_max_abs_dp']:.1e})"
              + (f"; earlier runs on this CPU: {runs}" if runs else ""),
              r["best_vs_onnxruntime_fp32"], "best_engine_vs_onnxruntime_fp32")
        t.add(f"ncnn fp32 vs onnxruntime fp32, batch 1 (max abs dp "
              f"{r['ncnn_fp32_max_abs_dp']:.1e}, goal <= "
              f"{GOALS['ncnn_fp32_vs_onnxruntime_fp32']['max_abs_dp']:.0e})",
              r["ncnn_fp32_vs_onnxruntime_fp32"], "ncnn_fp32_vs_onnxruntime_fp32")
    layer_options = _load("ncnn_layer_options")
    if layer_options:
        runs = [r["converted_vs_onnxruntime_fp32"] for r in layer_options["runs"]]
        t.add(f"the same, ncnn fp32 only, median of {len(runs)} runs, five at a time (each: "
              f"{', '.join(f'{r:.2f}x' for r in runs)})",
              layer_options["ratios"]["converted_vs_onnxruntime_fp32"],
              "ncnn_layer_options_median")
    if e2e:
        t.add(f"predict end to end with {e2e['engine']['engine']} {e2e['engine']['precision']}, "
              "% of its raw throughput", 100 * e2e["ratio"], "end_to_end_percent_of_raw", "{:.0f}%")
    if backbones:
        rows = backbones["rows"]
        if "vgg19" in rows and "mobilenetv3large" in rows:
            t.add("MobileNetV3Large head vs VGG19 head, onnxruntime fp32 batch 1",
                  rows["vgg19"]["p50_ms"] / rows["mobilenetv3large"]["p50_ms"],
                  "mobilenetv3large_vs_vgg19", "{:.1f}x")
        fastest = min(rows.values(), key=lambda r: r["p50_ms"])
        t.add(f"fastest backbone ({fastest['display']}) batch-1 latency", fastest["p50_ms"],
              "fastest_backbone_ms", "{:.2f} ms")
        if backbones.get("end_to_end"):
            t.add("predict over real JPEGs, fastest backbone, % of raw session",
                  100 * backbones["end_to_end"]["ratio"], "real_jpegs_percent_of_raw", "{:.0f}%")
    if explain:
        for level, what in (("model", "model call"), ("end_to_end", "end to end incl. the PNG")):
            t.add(f"predict --explain vs predict at batch 1, {what}",
                  100 * explain["results"][level]["overhead"], "explain_overhead_percent",
                  "{:+.1f}%")
    if ray:
        t.add(f"batch on local Ray vs predict, {ray['images']} real images", 100 * ray["ratio"],
              "ray_batch_percent_of_predict", "{:.0f}%")
    if suite:
        t.add("test suite: today's tests now / before (same machine)", 100 * suite["ratio"],
              "suite_time_percent", "{:.0f}%")
    same_tests = _load("suite-same-tests")
    if same_tests:
        t.add(f"the same {same_tests['same_tests']} tests now / at "
              f"{same_tests['before_commit'][:7]} (same machine, interleaved runs)",
              100 * same_tests["ratio"], "same_tests_percent", "{:.0f}%")
    accuracy = _load("accuracy")
    if accuracy:
        rows = {r["row"]: r for r in accuracy["rows"]}
        t.add(f"nsfwjs encoder + head, {accuracy['folds']}-fold accuracy on examples/sample "
              "(onnxruntime fp32)", 100 * rows["onnxruntime fp32"]["accuracy"],
              "real_encoder_kfold_accuracy_percent", "{:.0f}%")
        vnni = rows.get("onnxruntime int8 (vnni)")
        if vnni:
            t.add("the same, int8 (vnni) label agreement with fp32",
                  100 * vnni["label_agreement"], "real_encoder_int8_label_agreement_percent",
                  "{:.0f}%")
    inception = _load("engines-inception_v3")
    if inception:
        batch1 = [r for r in inception["results"] if r["batch_size"] == 1 and r["p50_ms"]]
        fp32 = next(r for r in batch1 if r["engine"] == "onnxruntime")  # the reference row
        for engine in ("onnxruntime", "openvino"):  # each engine's fastest int8 file
            int8 = [r for r in batch1 if r["engine"] == engine and "int8" in r["model"]]
            if int8:
                best = min(int8, key=lambda r: r["p50_ms"])
                t.add(f"nsfwjs InceptionV3 + head, {engine} on {Path(best['model']).name} "
                      f"(labels {best['label_agreement']:.0%} as fp32) vs onnxruntime fp32, "
                      "batch 1", fp32["p50_ms"] / best["p50_ms"],
                      "inception_v3_int8_vs_onnxruntime_fp32", "{:.2f}x")
    head = "| target | measured | goal | |\n|---|---|---|---|"
    return "#### Targets (this machine: see each section)\n\n" + head + "\n" + "\n".join(
        t.rows) + "\n"


def _row_name(row: dict[str, Any]) -> str:
    name = f"{row['engine']} {row['precision']}"
    model = Path(row["model"]).name
    reduced_file = any(tag in model for tag in ("int8", "fp16"))  # OpenVINO runs int8 in fp32
    return f"{name} ({model})" if row["precision"] in ("int8", "fp16") or reduced_file else name


def deploy_table() -> str:
    """Batch-1 rows of ``results/engines.json``: latency, speed-up and max |dp|."""
    engines = _load("engines")
    if not engines:
        return "(run benchmarks/engines.py)"
    machine = engines["machine"]
    rows = [r for r in engines["results"] if r["batch_size"] == 1 and r["p50_ms"]]
    model = engines.get("model_note", "a VGG19 head, random backbone")
    lines = [f"The model: {model}. {machine['cpu']} ({' '.join(machine['cpu_flags'])}), "
             f"{machine['threads']} threads, batch 1, one interleaved run; max abs dp and "
             f"labels against the first row on {engines['fidelity_on']}:", "",
             "| engine, precision | p50 ms | vs onnxruntime fp32 | max abs dp | labels = fp32 |",
             "|---|---|---|---|---|"]
    lines += [f"| {_row_name(r)} | {r['p50_ms']:.1f} | {r['speedup_vs_first']:.2f}x | "
              f"{r['max_abs_dp']:.1e} | {r['label_agreement']:.0%} |" for r in rows]
    return "\n".join(lines)


def _marked(marker: str) -> str:
    return rf"<!-- {marker}:start -->\n?(.*?)\n?<!-- {marker}:end -->"


def _current(path: Path, marker: str) -> str:
    """What is between ``marker``'s lines in ``path`` now."""
    found = re.search(_marked(marker), path.read_text(), flags=re.S)
    if found is None:
        raise SystemExit(f"{path} has no <!-- {marker}:start --> ... <!-- {marker}:end -->")
    return found.group(1)


def _replace(path: Path, marker: str, body: str) -> None:
    block = f"<!-- {marker}:start -->\n{body}\n<!-- {marker}:end -->"
    new, count = re.subn(rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->",
                         lambda _: block, path.read_text(), flags=re.S)
    if count != 1:
        raise SystemExit(f"{path} has no <!-- {marker}:start --> ... <!-- {marker}:end -->")
    path.write_text(new)
    print(f"updated {path.relative_to(ROOT)} ({marker})")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0].replace("``", ""),
        epilog="With no option, every part is rewritten from benchmarks/results/.")
    parser.add_argument(
        "--only", nargs="+", choices=CHOICES, metavar="SECTION",
        help="rewrite only these parts and keep the others as the files have them: "
             "targets, deploy (the README table) or a section: " + ", ".join(TITLES))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    only = _arguments(argv).only
    missing = [name for name in only or () if name in TITLES and _fresh(name) is None]
    if missing:
        raise SystemExit("no results for " + ", ".join(
            f"benchmarks/results/{name}.md" for name in missing) + ": run the benchmark first")
    docs = ROOT / "docs" / "benchmarks.md"
    if only is None or set(only) & set(BENCH_PARTS):
        _replace(docs, "bench", render(only, _current(docs, "bench")))
    if only is None or "deploy" in only:
        _replace(ROOT / "README.md", "deploy", deploy_table())


if __name__ == "__main__":
    main()
