"""The engine registry: which engine opens a model, and the Keras engines' install hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from anime_detector import engines
from anime_detector.choices import ENGINES, EngineName
from anime_detector.engines import (
    KERAS,
    KERAS_ENGINES,
    EngineUnavailable,
    require_engine,
    resolve_engine,
)
from anime_detector.errors import AnimeDetectorError


def test_auto_follows_the_model_format(tmp_path: Path) -> None:
    folder = tmp_path / "m-ncnn"
    folder.mkdir()
    (folder / "anime_detector.json").write_text("{}")
    assert resolve_engine(folder) == "ncnn"
    assert resolve_engine(tmp_path / "m.onnx") == "onnxruntime"
    assert resolve_engine(tmp_path / "run" / "model.keras") == KERAS
    assert resolve_engine(tmp_path / "legacy.H5") == KERAS
    assert resolve_engine(tmp_path / "m.onnx", "OpenVINO") == "openvino"


def test_an_unknown_engine_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(AnimeDetectorError, match="choose auto or one of onnxruntime, openvino"):
        resolve_engine(tmp_path / "m.onnx", "tensorrt")


def test_the_cli_choices_are_the_library_engines() -> None:
    assert [e.value for e in EngineName] == ["auto", *ENGINES]
    assert set(KERAS_ENGINES).isdisjoint(ENGINES)  # Keras is no --engine choice


def test_a_keras_engine_without_its_module_names_the_train_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(engines._LOADERS, KERAS, "anime_detector_missing_module:load")
    with pytest.raises(EngineUnavailable, match=r"pip install 'anime-detector\[cpu,train\]'"):
        require_engine(KERAS)
