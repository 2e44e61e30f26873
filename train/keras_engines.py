"""Keras engines for ``bench``: ``model.predict`` and a compiled ``tf.function`` call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["load_keras_engine"]


def load_keras_engine(kind: str, path: str, threads: int | None = None
                      ) -> tuple[Callable[[np.ndarray], Any], str, str]:
    """``(run(batch), provider, precision)`` for ``keras-predict`` or ``keras-function``."""
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:  # already initialised in this process
            pass
    import keras

    model = keras.models.load_model(path, compile=False)
    if kind == "keras-predict":
        return (lambda batch: model.predict(batch, verbose=0)), "tensorflow-cpu", "fp32"
    if kind == "keras-function":
        call = tf.function(lambda x: model(x, training=False))

        def run(batch: np.ndarray) -> Any:
            return call(tf.constant(batch)).numpy()

        return run, "tensorflow-cpu", "fp32"
    raise ValueError(f"unknown Keras engine {kind!r}")
