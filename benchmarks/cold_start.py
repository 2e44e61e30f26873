"""Cold start: one-image ``predict`` in a fresh process vs a fresh TensorFlow process.

    python benchmarks/cold_start.py --onnx M.onnx --keras M.keras [--image IMG] [--rounds 3]

Alternates the two commands; reports medians of wall time (process start to exit).
The runtime command never imports TensorFlow (tests/test_import_boundary.py proves it).
Target: >= 5x faster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import fresh_process_seconds, machine_line, median, predict_command, save

KERAS_ONE_IMAGE = """
import sys, numpy as np, keras
from anime_detector.preprocessing import preprocess
model = keras.models.load_model(sys.argv[1], compile=False)
print(model.predict(preprocess(sys.argv[2])[None], verbose=0))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--keras", type=Path, required=True)
    parser.add_argument("--image", type=Path,
                        default=Path("examples/sample/anime/renpy-demo-eileen-happy.png"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    seconds = fresh_process_seconds(
        {"runtime": predict_command(args.onnx, args.image),
         "tensorflow": [sys.executable, "-c", KERAS_ONE_IMAGE, str(args.keras), str(args.image)]},
        args.rounds)
    ours, theirs = seconds["runtime"], seconds["tensorflow"]
    report = {"runtime_predict_s": ours, "tensorflow_process_s": theirs,
              "runtime_median_s": median(ours), "tensorflow_median_s": median(theirs),
              "speedup": median(theirs) / median(ours)}
    md = "\n".join([
        "| fresh process, one image | median s |", "|---|---|",
        f"| `anime-detector predict` (onnxruntime) | {median(ours):.2f} |",
        f"| python + TensorFlow: load .keras, predict | {median(theirs):.2f} |", "",
        f"speed-up {median(theirs) / median(ours):.1f}x (target >= 5x); {machine_line()}",
    ])
    save("cold_start", report, md)


if __name__ == "__main__":
    main()
