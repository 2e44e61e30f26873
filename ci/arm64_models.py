"""Host side of the ARM64 check: small models made on x86, and what x86 predicts with them.

``PYTHONPATH=tests python ci/arm64_models.py OUT`` (as ``ci/arm64.sh`` runs it: the test
helpers package on the path, as pytest's ``pythonpath`` puts it; needs the ``[train]``,
``[ncnn]`` extras and pnnx) writes:

- ``OUT/run/``: ``train`` on ``examples/sample`` with MobileNetV3Small, ``--weights none``
  (no download; under emulation it costs about 0.6 s an image where VGG19 costs 100 s);
- ``OUT/model-fp32.onnx``, ``OUT/model-int8-arm64.onnx`` (``--int8-target arm64``) and
  ``OUT/model-ncnn/``: the files an ARM board would be given;
- ``OUT/inputs/``: the sample images and every case of ``tests/helpers/bad_inputs.py``;
- ``OUT/reference.json``: for each (model, engine, precision) the x86 result of every input,
  keyed by its path relative to ``OUT``: the probabilities, or the one-line error.

``tests/arm64/`` reads them back on aarch64 (``ARM64_MODELS=OUT``) and compares.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers.bad_inputs import ERRORS, ODD_BUT_VALID

REPO = Path(__file__).resolve().parent.parent

# (name, model file or folder, engine, precision): what both sides predict with.
CASES: tuple[tuple[str, str, str, str | None], ...] = (
    ("fp32", "model-fp32.onnx", "onnxruntime", None),
    ("int8", "model-int8-arm64.onnx", "onnxruntime", None),
    ("ncnn", "model-ncnn", "ncnn", "fp32"),
    ("openvino", "model-fp32.onnx", "openvino", None),
)


def _cli(*args: object) -> None:
    command = [sys.executable, "-m", "anime_detector", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"arm64_models: {' '.join(command[2:4])} failed:\n{done.stderr[-2000:]}")


def make_models(out: Path) -> None:
    sample = REPO / "examples" / "sample"
    _cli("train", sample, "--out", out / "run", "--backbone", "mobilenetv3small",
         "--weights", "none", "--epochs", "10", "--cache-dir", out / "cache", "--overwrite")
    keras = out / "run" / "model.keras"
    _cli("export", keras, "--out", out / "model-fp32.onnx")
    # Parity compares one file on two CPUs: the plain recipe (every conv int8), which any
    # tolerance accepts, calibrated on every sample image (--verify-dir holds the check
    # set). A recipe that keeps convs in fp32 moved ARM from x86 by 6.5e-2 on this
    # random-backbone model (docs/arm64.md).
    _cli("export", keras, "--out", out / "model-int8-arm64.onnx", "--precision", "int8",
         "--int8-target", "arm64", "--calibration-dir", sample, "--verify-dir", sample,
         "--int8-tolerance", "0", "--int8-max-mean-dp", "1")
    _cli("export", out / "model-fp32.onnx", "--format", "ncnn", "--out", out / "model-ncnn")


def make_inputs(out: Path) -> list[str]:
    """Copy the sample images and build the bad and odd inputs; their paths relative to out."""
    inputs = out / "inputs"
    shutil.copytree(REPO / "examples" / "sample", inputs / "sample",
                    ignore=shutil.ignore_patterns("*.md", "*.tsv", "LICENSES"))
    made = sorted(inputs.rglob("*.*"))
    for name in ("bad", "odd"):
        (inputs / name).mkdir()
    made += [build(inputs / "bad") for build, _ in ERRORS.values()]
    made += [build(inputs / "odd") for build in ODD_BUT_VALID.values()]
    return [str(p.relative_to(out)) for p in made]


def predict_all(out: Path, sources: list[str], name: str) -> dict[str, Any]:
    """Every source's result with one case (run with ``out`` as the working directory)."""
    from anime_detector import Detector, Failure

    _, model, engine, precision = next(c for c in CASES if c[0] == name)
    detector = Detector.load(model, engine=engine, precision=precision, threads=2)
    results: dict[str, Any] = {}
    for item in detector.predict_iter(sources, batch_size=8, workers=1):
        if isinstance(item, Failure):
            results[item.source] = {"error": item.error}
        else:
            results[str(item.source)] = {"label": item.label,
                                         "probabilities": item.probabilities}
    return {"model": model, "engine": engine, "precision": detector.info.precision,
            "results": results}


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: PYTHONPATH=tests python ci/arm64_models.py OUT")
    import os

    out = Path(argv[0]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    make_models(out)
    sources = make_inputs(out)
    os.chdir(out)
    reference = {"machine": platform.machine(), "sources": sources,
                 "cases": {name: predict_all(out, sources, name) for name, *_ in CASES}}
    (out / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"arm64_models: {len(CASES)} cases x {len(sources)} inputs -> {out / 'reference.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
