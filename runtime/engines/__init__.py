"""Inference engines behind one interface (:class:`~anime_detector.engines.base.Engine`).

onnxruntime is the default and the only engine of the plain install; OpenVINO and ncnn
live behind the ``[openvino]`` and ``[ncnn]`` extras and are imported only when asked
for. ``auto`` follows the model's format: an ncnn model folder runs on ncnn, an
``.onnx`` file on onnxruntime, a Keras file (``.keras``, ``.h5``) on Keras.

Engines are found by name: :data:`_LOADERS` maps each to the ``module:function`` that
loads a model on it. The Keras engines live in ``anime_detector.train.keras_engine``
(the ``[train]`` extra): the runtime names them here and never imports TensorFlow itself.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anime_detector.choices import ENGINES
from anime_detector.engines.base import Engine, EngineInfo, EngineUnavailable
from anime_detector.errors import AnimeDetectorError

__all__ = ["ENGINES", "KERAS", "KERAS_BENCH_ROWS", "KERAS_ENGINES", "KERAS_SUFFIXES",
           "ONNX_FILE", "Engine", "EngineInfo", "EngineUnavailable", "is_keras_model",
           "is_ncnn_model", "model_files", "open_engine", "require_engine", "resolve_engine"]

NCNN_MANIFEST = "anime_detector.json"  # see engines.ncnn: what makes a folder an ncnn model
KERAS = "keras"  # a Keras model called directly
KERAS_BENCH_ROWS = ("keras-predict", "keras-function")  # model.predict; a tf.function
KERAS_ENGINES = (KERAS, *KERAS_BENCH_ROWS)
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_KERAS_MODULE = "anime_detector.train.keras_engine"
_LOADERS = {
    **{name: f"anime_detector.engines.{name}:load" for name in ENGINES},
    KERAS: f"{_KERAS_MODULE}:load",
    "keras-predict": f"{_KERAS_MODULE}:load_predict",
    "keras-function": f"{_KERAS_MODULE}:load_function",
}
_EXTRAS = dict.fromkeys(KERAS_ENGINES, "cpu,train")
ONNX_FILE = "model.onnx"  # the name an .onnx gets in model_files


def is_ncnn_model(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an ncnn model folder (or its manifest): ``--engine auto`` uses it."""
    model = Path(path)
    return (model / NCNN_MANIFEST).is_file() or (model.name == NCNN_MANIFEST and model.is_file())


def is_keras_model(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a Keras model file: ``--engine auto`` runs it on Keras."""
    return Path(path).suffix.lower() in KERAS_SUFFIXES


def model_files(path: str | os.PathLike[str]) -> dict[str, Path]:
    """The files that make up the model at ``path``, each under the name it needs beside
    the others: an ncnn folder's manifest, param and bin, or an ``.onnx`` as
    :data:`ONNX_FILE`. Written into one folder, they load again from that folder (ncnn)
    or from its :data:`ONNX_FILE`; ``batch`` ships models to its workers this way."""
    if is_ncnn_model(path):
        from anime_detector.engines.ncnn import folder_files

        return folder_files(Path(path))
    return {ONNX_FILE: Path(path)}


def resolve_engine(path: str | os.PathLike[str], engine: str = "auto") -> str:
    """The engine that will run ``path``: ``engine`` itself, or the model format's default."""
    chosen = (engine or "auto").lower()
    if chosen == "auto":
        if is_keras_model(path):
            return KERAS
        return "ncnn" if is_ncnn_model(path) else "onnxruntime"
    if chosen not in _LOADERS:
        raise AnimeDetectorError(f"unknown engine {engine!r}; choose auto or one of "
                                 f"{', '.join(ENGINES)}")
    return chosen


def open_engine(
    path: str | os.PathLike[str], engine: str = "auto", *, device: str = "auto",
    threads: int | None = None, precision: str | None = None, spin: bool = True,
    labels: Sequence[str] | None = None,
) -> Engine:
    """Load ``path`` on ``engine`` (see :func:`resolve_engine`) for ``device`` and ``threads``.

    Raises:
        EngineUnavailable: the engine's package is not installed (the message has the pip line).
        ModelError: the file is missing, unreadable or not an anime-detector model.
        DeviceError: the engine cannot run on ``device`` or at ``precision`` here.
    """
    name = resolve_engine(path, engine)
    load = require_engine(name)
    loaded: Engine = load(Path(path), device=device, threads=threads, precision=precision,
                          spin=spin, labels=labels)
    return loaded


def require_engine(name: str) -> Any:
    """The function that loads models on engine ``name``, imported now.

    Raises:
        EngineUnavailable: the module behind it cannot be imported here (a Keras engine
            without the ``[train]`` extra); an engine whose own package is missing raises
            it when loading.
    """
    module, _, function = _LOADERS[name].partition(":")
    try:
        return getattr(importlib.import_module(module), function)
    except ImportError:
        if name not in _EXTRAS:
            raise
        raise EngineUnavailable(name, _EXTRAS[name]) from None
