"""int8 fidelity per backbone, x86 vs ARM: the same int8 file against its fp32 twin.

Two steps, because export needs TensorFlow (x86) and the question is about ARM:

    python benchmarks/arm64_fidelity.py make OUT --backbone vgg19        # x86, [train]
    python benchmarks/arm64_fidelity.py make OUT --backbone ENCODER.keras --preprocess unit
    python benchmarks/arm64_fidelity.py check OUT --limit 4              # on aarch64

``make`` trains ``--weights none`` on ``examples/sample`` (no download), exports fp32 and
int8 (``--int8-target arm64``) and records x86's scores for every sample image in
``OUT/x86.json``. ``check`` predicts the first ``--limit`` images with both files on this
machine and prints int8 vs fp32 here, and each file here vs x86. Under qemu VGG19 costs
about 100 s an image, hence ``--limit``. Prints no time: emulated time is not ARM speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "sample"
FILES = {"fp32": "model-fp32.onnx", "int8": "model-int8-arm64.onnx"}


def _scores(model: Path, images: list[Path]) -> list[float]:
    from anime_detector import Detector

    detector = Detector.load(model)
    return [p.score for p in detector.predict(images, batch_size=4)]


def _images() -> list[Path]:
    return sorted(p for p in SAMPLE.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".jpeg"))


def make(out: Path, backbone: str, preprocess: str | None = None) -> None:
    cli = [sys.executable, "-m", "anime_detector"]
    out.mkdir(parents=True, exist_ok=True)
    # A named backbone trains random (no download); an encoder file with its preprocessing.
    weights = ["--preprocess", preprocess] if preprocess else ["--weights", "none"]
    subprocess.run([*cli, "train", str(SAMPLE), "--out", str(out / "run"), "--backbone",
                    backbone, *weights, "--epochs", "10", "--overwrite"], check=True)
    keras = str(out / "run" / "model.keras")
    subprocess.run([*cli, "export", keras, "--out", str(out / FILES["fp32"])], check=True)
    subprocess.run([*cli, "export", keras, "--out", str(out / FILES["int8"]), "--precision",
                    "int8", "--int8-target", "arm64", "--calibration-dir", str(SAMPLE)],
                   check=True)
    images = _images()
    result = {"backbone": backbone, "images": [str(p.relative_to(REPO)) for p in images],
              **{k: _scores(out / f, images) for k, f in FILES.items()}}
    (out / "x86.json").write_text(json.dumps(result, indent=1) + "\n")
    print(_line("x86", result["fp32"], result["int8"]))


def _line(where: str, fp32: list[float], int8: list[float]) -> str:
    dp = [abs(a - b) for a, b in zip(fp32, int8, strict=True)]
    same = sum((a >= 0.5) == (b >= 0.5) for a, b in zip(fp32, int8, strict=True))
    return (f"{where}: int8 vs fp32 on {len(dp)} images: labels {same}/{len(dp)}, "
            f"mean |dp| {sum(dp) / len(dp):.4f}, max {max(dp):.4f} "
            f"(fp32 scores {min(fp32):.3f}..{max(fp32):.3f})")


def check(out: Path, limit: int) -> None:
    x86 = json.loads((out / "x86.json").read_text())
    images = [REPO / p for p in x86["images"][:limit]]
    here = {k: _scores(out / f, images) for k, f in FILES.items()}
    print(f"backbone {x86['backbone']}")
    print(_line("here", here["fp32"], here["int8"]))
    print(_line("x86 (same images)", x86["fp32"][:limit], x86["int8"][:limit]))
    for key in FILES:
        dp = max(abs(a - b) for a, b in zip(here[key], x86[key][:limit], strict=True))
        print(f"{key} here vs x86: max |dp| {dp:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["make", "check"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--backbone", default="vgg19",
                        help="a named backbone (random weights) or an encoder file")
    parser.add_argument("--preprocess", default=None,
                        help="an encoder file's preset, e.g. unit for nsfwjs-mnv2.keras")
    parser.add_argument("--limit", type=int, default=4)
    args = parser.parse_args()
    if args.step == "make":
        make(args.out, args.backbone, args.preprocess)
    else:
        check(args.out, args.limit)


if __name__ == "__main__":
    main()
