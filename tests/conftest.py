"""Shared fixtures: generated images and small models, all built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.images import solid, write_class_folder
from helpers.onnx_models import save_explain_model, save_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ONNX model with anime-detector metadata (blue -> anime, red -> not_anime)."""
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture(scope="session")
def explain_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An explainable ONNX model (onnx.helper, no TensorFlow) whose scores spread."""
    return save_explain_model(tmp_path_factory.mktemp("models") / "explain.onnx")


@pytest.fixture()
def colour_images(tmp_path: Path) -> dict[str, Path]:
    """One blue JPEG and one red PNG."""
    folder = tmp_path / "colours"
    folder.mkdir()
    blue, red = folder / "blue.jpg", folder / "red.png"
    solid((0, 0, 255)).save(blue)
    solid((255, 0, 0)).save(red)
    return {"blue": blue, "red": red}


@pytest.fixture(scope="session")
def class_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``anime/`` and ``not_anime/`` with 16 generated images each."""
    return write_class_folder(tmp_path_factory.mktemp("data"), per_class=16)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real ``anime-detector train`` run: VGG19 with ``--weights none`` on 2x16 generated
    images plus one unreadable file, fit long enough (cheap: cached features) that the
    head separates the two classes."""
    pytest.importorskip("tensorflow")
    from helpers.cli import run_cli

    root = tmp_path_factory.mktemp("train")
    data = write_class_folder(root / "data", per_class=16)
    (data / "anime" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    cache = root / "cache"
    args = ["train", data, "--weights", "none", "--epochs", "20", "--batch-size", "8",
            "--learning-rate", "0.003", "--cache-dir", cache, "--val-split", "0.25"]
    first = run_cli(*args, "--out", root / "run")
    assert first.returncode == 0, first.stderr[-3000:]
    return {"data": data, "cache": cache, "run": root / "run", "stdout": first.stdout,
            "stderr": first.stderr, "args": args, "root": root}  # type: ignore[dict-item]


@pytest.fixture(scope="session")
def vgg_export(trained_run: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, object]:
    """``anime-detector export`` of the trained run, verified on its own images."""
    from helpers.cli import run_cli

    out = tmp_path_factory.mktemp("export") / "model.onnx"
    result = run_cli("export", trained_run["run"] / "model.keras", "--out", out,
                     "--verify-dir", trained_run["data"])
    assert result.returncode == 0, result.stderr[-3000:]
    return {"path": out, "stdout": result.stdout, "stderr": result.stderr}
