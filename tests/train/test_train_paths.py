"""Training paths on the small stand-in backbone: end to end, augmentation, --val-dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import invoke

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


def test_moved_data_reuses_every_cached_view(class_folder: Path, tmp_path: Path) -> None:
    """Views are keyed by content, view, seed and augmentation, never by path."""
    import shutil

    cache = tmp_path / "cache"
    args = ("--augment", "1", "--cache-dir", cache, "--val-split", "0.25")
    _, first = _train(class_folder, tmp_path / "a", *args)
    moved = shutil.copytree(class_folder, tmp_path / "moved")
    stdout, _ = _train(moved, tmp_path / "c", *args)
    n_train, n_val = first["train_images"], first["val_images"]
    assert f"{2 * n_train + n_val} hits, 0 misses" in stdout


def test_cold_and_warm_augmented_features_are_identical(class_folder: Path,
                                                         tmp_path: Path) -> None:
    from anime_detector.train.data import decode, discover, view_key

    sample = discover(class_folder)[0]
    moved = tmp_path / sample.path.name
    moved.write_bytes(sample.path.read_bytes())
    np_equal = decode(sample.path, 1, seed=3) == decode(moved, 1, seed=3)
    assert np_equal.all()
    assert not (decode(sample.path, 1, seed=3) == decode(sample.path, 1, seed=4)).all()
    assert view_key("d", 0, 3) == view_key("d", 0, 4) == "d"  # the plain image has no seed
    assert view_key("d", 1, 3) != view_key("d", 1, 4)  # a crop's cache entry names its seed


def test_val_split_zero_never_calls_training_figures_validation(class_folder: Path,
                                                                 tmp_path: Path) -> None:
    stdout, metrics = _train(class_folder, tmp_path / "run", "--val-split", "0",
                             "--cache-dir", tmp_path / "cache")
    assert metrics["val_images"] == 0 and metrics["evaluated_on"] == "training"
    assert "validation:" not in stdout and "TRAINING-SET figures" in stdout


def test_end_to_end_batches_are_shuffled_from_the_first_epoch(class_folder: Path) -> None:
    from anime_detector.preprocessing import DEFAULT_SPEC
    from anime_detector.train.data import discover
    from anime_detector.train.sequence import ImageBatches

    samples = discover(class_folder)  # sorted by class: 16 anime, then 16 not_anime
    batches = ImageBatches(samples, 8, DEFAULT_SPEC, seed=0)
    first_epoch_labels = [samples[i].label for i in batches.order]
    assert first_epoch_labels[:16] != sorted(first_epoch_labels)[:16]
    assert sorted(batches.order) == list(range(32))
