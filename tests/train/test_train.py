"""Training: the exact architecture, a real run folder, the feature cache, bad images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers.cli import invoke

pytestmark = [pytest.mark.tf]
keras = pytest.importorskip("keras")


def test_parameter_counts_match_the_original() -> None:
    from anime_detector.train import build_model

    with pytest.warns(UserWarning, match="random"):
        model = build_model(weights=None)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert (model.count_params(), trainable) == (20_188_866, 164_482)
    assert model.get_layer("block5_pool").trainable is False


@pytest.mark.slow
def test_run_folder_has_every_output(trained_run: dict[str, Path]) -> None:
    run = trained_run["run"]
    names = {p.name for p in run.iterdir()}
    assert {"model.keras", "history.json", "metrics.json", "labels.json",
            "training_curves.png"} <= names
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 20 and len(history["val_loss"]) == 20
    assert history["best_epoch"] == int(np.argmin(history["val_loss"])) + 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["images_skipped"] == 1 and metrics["skipped"][0]["path"].endswith("broken.jpg")
    assert set(metrics["per_class"]) == {"anime", "not_anime"}
    assert np.array(metrics["confusion_matrix"]["rows_true_cols_pred"]).sum() == metrics["n"]
    assert json.loads((run / "labels.json").read_text()) == ["anime", "not_anime"]
    assert "skipped" in trained_run["stderr"] and "broken.jpg" in trained_run["stderr"]
    assert "run folder:" in trained_run["stdout"]


@pytest.mark.slow
def test_head_learned_the_easy_classes(trained_run: dict[str, Path]) -> None:
    history = json.loads((trained_run["run"] / "history.json").read_text())
    assert max(history["accuracy"]) >= 0.75  # chance is 0.5


@pytest.mark.slow
def test_saved_model_loads_and_predicts(trained_run: dict[str, Path]) -> None:
    from anime_detector.preprocessing import preprocess

    model = keras.models.load_model(trained_run["run"] / "model.keras")
    images = sorted((trained_run["data"] / "not_anime").glob("*.png"))[:2]
    probs = np.asarray(model(np.stack([preprocess(p) for p in images]), training=False))
    assert probs.shape == (2, 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


@pytest.mark.slow
def test_second_run_hits_the_cache(trained_run: dict[str, Path]) -> None:
    again = invoke(*trained_run["args"], "--out", trained_run["root"] / "run2", "--epochs", "1")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "32 hits, 0 misses" in again.stdout


@pytest.mark.slow
def test_existing_run_folder_is_refused(trained_run: dict[str, Path]) -> None:
    result = invoke(*trained_run["args"], "--out", trained_run["run"])
    assert result.returncode == 2 and "--overwrite" in result.stderr


def test_offline_download_error_names_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from anime_detector.train import WeightsError, build_model
    from anime_detector.train import model as model_module
    from anime_detector.train.backbones import BACKBONES

    def offline(*args: object, **kwargs: object) -> str:
        raise OSError("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(model_module.keras.utils, "get_file", offline)
    with pytest.raises(WeightsError) as info:
        build_model("imagenet")
    text = str(info.value)
    assert BACKBONES["vgg19"].weights_file in text and "--weights PATH" in text
    assert "--weights none" in text


def test_missing_local_weights_file(tmp_path: Path, class_folder: Path) -> None:
    result = invoke("train", class_folder, "--out", tmp_path / "r", "--weights",
                     tmp_path / "w.h5")
    assert result.returncode == 2 and "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_data_folder_without_classes_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    result = invoke("train", tmp_path, "--out", tmp_path / "r", "--weights", "none")
    assert result.returncode == 2 and "missing ['anime', 'not_anime']" in result.stderr
