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
    return "\n".join(parts)


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
