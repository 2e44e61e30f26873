"""The engine registry: which engine opens a model, and the Keras engines' install hint."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest

from anime_detector import engine_registry, engines, extra_engines
from anime_detector.choices import ENGINES, EngineName
from anime_detector.detector import Detector
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


def test_every_engine_choice_loads_by_name() -> None:
    # Only our engine modules are imported: their packages load when a model does.
    for name in ENGINES:
        assert callable(require_engine(name)), name
    with pytest.raises(AnimeDetectorError, match="unknown engine 'tensorrt'"):
        require_engine("tensorrt")


def test_the_keras_engines_are_registered_from_above_with_a_plain_import() -> None:
    # `import anime_detector` registered them; their loaders name train in an import
    # statement (which import-linter sees), never in a string.
    for name in KERAS_ENGINES:
        registered = engine_registry.find(name)
        assert registered is not None and registered.extra == "cpu,train"
        assert registered.loader.__module__ == "anime_detector.extra_engines"
    source = inspect.getsource(extra_engines)
    assert "from anime_detector.train.keras_engine import load" in source
    assert "importlib" not in inspect.getsource(engines)


def test_a_keras_model_without_the_train_extra_names_it_in_one_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # None in sys.modules: importing the Keras engine fails as it does without TensorFlow.
    monkeypatch.setitem(sys.modules, "anime_detector.train.keras_engine", None)
    for name in KERAS_ENGINES:
        with pytest.raises(EngineUnavailable, match=r"pip install 'anime-detector\[cpu,train\]'"):
            require_engine(name)
    with pytest.raises(EngineUnavailable) as caught:
        Detector.load(tmp_path / "run" / "model.keras")
    assert "\n" not in str(caught.value) and KERAS in str(caught.value)
