"""Training paths on the small stand-in backbone: end to end, augmentation, --val-dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import invoke

pytestmark = [pytest.mark.tf]
pytest.importorskip("keras")


def _train(data: Path, out: Path, *extra: str | Path) -> tuple[str, dict[str, object]]:
    result = invoke("train", data, "--out", out, "--weights", "none", "--backbone", "tiny",
                     "--epochs", "2", "--batch-size", "8", *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, json.loads((out / "metrics.json").read_text())


def test_no_feature_cache_fits_end_to_end(class_folder: Path, tmp_path: Path) -> None:
    stdout, metrics = _train(class_folder, tmp_path / "run", "--no-feature-cache")
    assert "0 hits, 0 misses" in stdout
    assert (tmp_path / "run" / "model.keras").exists()
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["val_loss"]) == 2 and metrics["images_used"] == 32


def test_augment_extracts_k_extra_views(class_folder: Path, tmp_path: Path) -> None:
    stdout, metrics = _train(class_folder, tmp_path / "run", "--augment", "2",
                             "--cache-dir", tmp_path / "cache", "--val-split", "0.25")
    n_train, n_val = metrics["train_images"], metrics["val_images"]
    assert (n_train, n_val) == (24, 8)
    assert f"0 hits, {n_train * 3 + n_val} misses" in stdout


def test_explicit_val_dir(class_folder: Path, tmp_path: Path) -> None:
    _, metrics = _train(class_folder, tmp_path / "run", "--val-dir", class_folder,
                        "--cache-dir", tmp_path / "cache")
    assert metrics["train_images"] == 32 and metrics["val_images"] == 32
