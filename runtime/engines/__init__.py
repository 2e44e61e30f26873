"""Inference engines behind one interface (:class:`~anime_detector.engines.base.Engine`).

onnxruntime is the default and the only engine of the plain install; OpenVINO and ncnn
live behind the ``[openvino]`` and ``[ncnn]`` extras and are imported only when asked
for. ``auto`` follows the model's format: an ncnn model folder runs on ncnn, an
``.onnx`` file on onnxruntime, a Keras file (``.keras``, ``.h5``) on Keras.

Engines are found by name (:func:`require_engine`): the runtime's own here, each imported
when asked for; the Keras engines (``anime_detector.train.keras_engine``, the ``[train]``
extra) are registered from above, in :mod:`anime_detector.engine_registry`, so the runtime
never imports ``train`` or TensorFlow itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from anime_detector import engine_registry
from anime_detector.choices import ENGINES
from anime_detector.engine_registry import KERAS, KERAS_BENCH_ROWS, KERAS_ENGINES
from anime_detector.engines.base import Engine, EngineInfo, EngineUnavailable
from anime_detector.errors import AnimeDetectorError

__all__ = ["ENGINES", "KERAS", "KERAS_BENCH_ROWS", "KERAS_ENGINES", "KERAS_SUFFIXES",
           "ONNX_FILE", "Engine", "EngineInfo", "EngineUnavailable", "is_keras_model",
           "is_ncnn_model", "model_files", "open_engine", "require_engine", "resolve_engine"]

NCNN_MANIFEST = "anime_detector.json"  # see engines.ncnn: what makes a folder an ncnn model
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
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
    if chosen not in _OWN and engine_registry.find(chosen) is None:
        raise _unknown(engine)
    return chosen


def _unknown(engine: str) -> AnimeDetectorError:
    return AnimeDetectorError(f"unknown engine {engine!r}; choose auto or one of "
                              f"{', '.join(ENGINES)}")


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


def _onnxruntime() -> Callable[..., Any]:
    from anime_detector.engines.onnxruntime import load

    return load


def _openvino() -> Callable[..., Any]:
    from anime_detector.engines.openvino import load

    return load


def _ncnn() -> Callable[..., Any]:
    from anime_detector.engines.ncnn import load

    return load


_OWN: dict[str, Callable[[], Callable[..., Any]]] = {
    "onnxruntime": _onnxruntime, "openvino": _openvino, "ncnn": _ncnn}


def require_engine(name: str) -> Any:
    """The function that loads models on engine ``name``, imported now.

    Raises:
        EngineUnavailable: a registered engine's module cannot be imported here (a Keras
            engine without the ``[train]`` extra); an engine whose own package is missing
            raises it when loading.
        AnimeDetectorError: no engine has that name.
    """
    own = _OWN.get(name)
    if own is not None:
        return own()
    registered = engine_registry.find(name)
    if registered is None:
        raise _unknown(name)
    try:
        return registered.loader()
    except ImportError:
        raise EngineUnavailable(name, registered.extra) from None
