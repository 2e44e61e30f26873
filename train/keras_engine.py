"""A Keras model behind the runtime's engine interface (same decoding, same batches).

``anime_detector.engines`` names this module's loaders, so ``Detector.load("m.keras")``,
``eval`` and ``bench`` treat a ``.keras`` file like an ``.onnx`` one and reports for the
two files of one training run are comparable line for line. Three engines: ``keras``
(the model called directly), and for ``bench`` ``keras-predict`` (``model.predict``, what
the notebook did) and ``keras-function`` (a compiled ``tf.function``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import NDArray

from anime_detector.contract import ModelContract
from anime_detector.engines import KERAS_ENGINES
from anime_detector.engines.base import EngineInfo
from anime_detector.errors import ModelError, one_line
from anime_detector.train.backbones import backbone_of_model, spec_for
from anime_detector.train.encoder_file import OnnxFeatures, read_sidecar
from anime_detector.train.model import load_saved_model_run

__all__ = ["KerasEngine", "load", "load_function", "load_keras_engine",
           "load_predict"]



class KerasEngine:
    """A loaded Keras model; ``kind`` picks how ``run`` calls it."""

    def __init__(self, model: Any, path: Path, kind: str = "keras") -> None:
        self.model = model
        self.path = path
        self.kind = kind
        self.contract = ModelContract(spec=spec_for(backbone_of_model(model)))
        self._features: Any = None  # an ONNX encoder the head runs on (backbone.json)
        encoder = read_sidecar(path)
        if encoder is not None:  # takes NHWC, as the exported file does, whatever the encoder
            info, spec, _ = encoder
            self.contract = ModelContract(spec=replace(spec, layout="NHWC"))
            if info.kind == "onnx":
                self._features = OnnxFeatures(info)
        self._call = self._caller(kind)

    def _caller(self, kind: str) -> Callable[[NDArray[np.float32]], Any]:
        if kind == "keras-predict":
            return lambda batch: self.model.predict(batch, verbose=0)
        if kind == "keras-function":
            compiled = tf.function(lambda x: self.model(x, training=False))
            return lambda batch: compiled(tf.constant(batch)).numpy()
        if kind == "keras":
            return lambda batch: self.model(batch, training=False)
        raise ValueError(f"unknown Keras engine {kind!r}; choose one of {KERAS_ENGINES}")

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(self.kind, keras.__version__, "tensorflow-cpu", "fp32")

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        if self._features is not None:
            if self._features.info.layout == "NCHW":
                batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
            batch = self._features.predict_on_batch(batch)
        return np.asarray(self._call(batch), dtype=np.float32)


def load_keras_engine(path: str | Path, kind: str = "keras") -> KerasEngine:
    """Load a ``.keras``/``.h5`` file (safe mode); a bad file is a one-line :class:`ModelError`."""
    try:
        model = load_saved_model_run(Path(path)) or keras.models.load_model(path, compile=False)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(path, f"cannot load Keras model: {one_line(exc)}") from None
    return KerasEngine(model, Path(path), kind)


def _load(kind: str, path: Path, threads: int | None) -> KerasEngine:
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:  # already initialised in this process
            pass
    return load_keras_engine(path, kind)


def load(path: Path, *, device: str = "auto", threads: int | None = None,
         precision: str | None = None, spin: bool = True,
         labels: Sequence[str] | None = None) -> KerasEngine:
    """The ``keras`` engine (``open_engine``'s signature; Keras runs on the CPU in fp32)."""
    return _load("keras", path, threads)


def load_predict(path: Path, *, device: str = "auto", threads: int | None = None,
                 precision: str | None = None, spin: bool = True,
                 labels: Sequence[str] | None = None) -> KerasEngine:
    """The ``keras-predict`` engine: ``model.predict`` per batch."""
    return _load("keras-predict", path, threads)


def load_function(path: Path, *, device: str = "auto", threads: int | None = None,
                  precision: str | None = None, spin: bool = True,
                  labels: Sequence[str] | None = None) -> KerasEngine:
    """The ``keras-function`` engine: a compiled ``tf.function``."""
    return _load("keras-function", path, threads)
