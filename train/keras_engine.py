"""A Keras model behind the runtime's engine interface (same decoding, same batches).

Lets ``eval`` and ``bench`` treat a ``.keras`` file like an ``.onnx`` one, so reports
for the two files of one training run are comparable line for line. ``bench`` times two
ways of calling it: ``model.predict`` (what the notebook did) and a compiled
``tf.function``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from anime_detector.contract import ModelContract
from anime_detector.engines.base import EngineInfo
from anime_detector.errors import ModelError, one_line
from anime_detector.train.backbones import backbone_of_model, spec_for

__all__ = ["KERAS_KINDS", "KerasEngine", "load_bench_engine", "load_keras_engine"]

KERAS_KINDS = ("keras-predict", "keras-function", "keras")


class KerasEngine:
    """A loaded Keras model; ``kind`` picks how ``run`` calls it."""

    def __init__(self, model: Any, path: Path, kind: str = "keras") -> None:
        self.model = model
        self.path = path
        self.kind = kind
        self.contract = ModelContract(spec=spec_for(backbone_of_model(model)))
        self._call = self._caller(kind)

    def _caller(self, kind: str) -> Callable[[NDArray[np.float32]], Any]:
        if kind == "keras-predict":
            return lambda batch: self.model.predict(batch, verbose=0)
        if kind == "keras-function":
            compiled = tf.function(lambda x: self.model(x, training=False))
            return lambda batch: compiled(tf.constant(batch)).numpy()
        if kind == "keras":
            return lambda batch: self.model(batch, training=False)
        raise ValueError(f"unknown Keras engine {kind!r}; choose one of {KERAS_KINDS}")

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(self.kind, keras.__version__, "tensorflow-cpu", "fp32")

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.asarray(self._call(batch), dtype=np.float32)


def load_keras_engine(path: str | Path, kind: str = "keras") -> KerasEngine:
    """Load a ``.keras``/``.h5`` file (safe mode); a bad file is a one-line :class:`ModelError`."""
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise ModelError(path, f"cannot load Keras model: {one_line(exc)}") from None
    return KerasEngine(model, Path(path), kind)


def load_bench_engine(kind: str, path: str, threads: int | None = None) -> KerasEngine:
    """The ``bench`` loader for ``keras-predict`` / ``keras-function`` rows."""
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:  # already initialised in this process
            pass
    return load_keras_engine(path, kind)
