"""Copy the latest ``results/*.md`` tables into README.md between the bench markers.

    python benchmarks/update_readme.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SECTIONS = (
    ("engines", "Engines (`python benchmarks/engines.py --run RUN --calibration-dir DATA "
                "--verify-dir examples/sample`)"),
    ("litert", "ONNX Runtime vs LiteRT (`pip install ai-edge-litert; python benchmarks/litert.py "
               "--run RUN --calibration-dir DATA`)"),
    ("end_to_end", "End to end vs raw session (`python benchmarks/end_to_end.py`)"),
    ("cold_start", "Cold start (`python benchmarks/cold_start.py --onnx M.onnx --keras M.keras`)"),
    ("train_cache", "Training with and without the feature cache "
                    "(`python benchmarks/train_cache.py`)"),
)


def render() -> str:
    parts = []
    machine = None
    for name, title in SECTIONS:
        md, js = RESULTS / f"{name}.md", RESULTS / f"{name}.json"
        if not md.exists():
            continue
        parts.append(f"#### {title}\n\n{md.read_text().strip()}\n")
        if machine is None and js.exists():
            machine = json.loads(js.read_text()).get("machine")
    if machine:
        parts.insert(0, f"Machine: {machine['cpu']}, {machine['threads']} threads, onnxruntime "
                        f"{machine['onnxruntime']}, TensorFlow {machine.get('tensorflow', '-')}, "
                        f"Python {machine['python']}.\n")
    return "\n".join([targets(), *parts])


def _load(name: str) -> dict | None:  # type: ignore[type-arg]
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def targets() -> str:
    """Each issue target beside the measured value, computed from the result files."""
    rows = []

    def add(what: str, value: float | None, target: float, fmt: str = "{:.2f}x") -> None:
        if value is None:
            return
        met = "met" if value >= target else "NOT met"
        rows.append(f"| {what} | {fmt.format(value)} | {fmt.format(target)} | {met} |")

    engines, e2e, cold, train, litert = (_load(n) for n in (
        "engines", "end_to_end", "cold_start", "train_cache", "litert"))
    if engines:
        for batch, r in engines["ratios"].items():
            add(f"ONNX fp32 vs Keras predict, {batch}", r["onnx_fp32_vs_keras_predict"], 1.5)
            add(f"ONNX fp32 vs tf.function, {batch}", r["onnx_fp32_vs_tf_function"], 1.1)
            add(f"ONNX int8 vs Keras predict, {batch}", r["onnx_int8_vs_keras_predict"], 2.5)
            add(f"ONNX int8 vs ONNX fp32, {batch}", r["onnx_int8_vs_onnx_fp32"], 1.7)
            add(f"ONNX fp32 effective GFLOP/s, % of matmul, {batch}",
                r["onnx_fp32_pct_of_matmul"], 90.0, "{:.0f}%")
    if litert:
        add("ONNX int8 vs LiteRT int8 (XNNPACK), batch1", litert["onnx_int8_vs_litert_int8"], 1.5)
    if e2e:
        add("predict end to end, % of raw session", 100 * e2e["ratio"], 90.0, "{:.0f}%")
    if cold:
        add("cold start: TF process / one-image predict", cold["speedup"], 5.0)
    if train:
        rows.append(f"| train with cache / one extraction pass (lower is better) | "
                    f"{train['cached_over_extract']:.2f}x | <= 1.30x | "
                    f"{'met' if train['cached_over_extract'] <= 1.3 else 'NOT met'} |")
        add("train without cache / with cache", train["no_cache_over_cached"], 5.0)
    head = "| target | measured | goal | |\n|---|---|---|---|"
    return "#### Targets\n\n" + head + "\n" + "\n".join(rows) + "\n"


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = f"<!-- bench:start -->\n{render()}\n<!-- bench:end -->"
    new, count = re.subn(r"<!-- bench:start -->.*?<!-- bench:end -->", lambda _: block, text,
                         flags=re.S)
    if count != 1:
        raise SystemExit("README.md has no <!-- bench:start --> ... <!-- bench:end --> block")
    readme.write_text(new)
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
