"""The Keras engines (the ``[train]`` extra), registered from above the runtime.

``import anime_detector`` imports this module, so ``Detector.load("model.keras")`` finds the
Keras engines from Python as from the command line. Each loader imports
``anime_detector.train.keras_engine`` (TensorFlow) only when its engine is asked for;
without the extra, that import fails and the engine answers with the one-line install hint
(:class:`~anime_detector.engines.EngineUnavailable`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anime_detector.engine_registry import KERAS_ENGINES, register

__all__ = ["TRAIN_EXTRA"]

TRAIN_EXTRA = "cpu,train"


def _keras() -> Callable[..., Any]:
    from anime_detector.train.keras_engine import load

    return load


def _keras_predict() -> Callable[..., Any]:
    from anime_detector.train.keras_engine import load_predict

    return load_predict


def _keras_function() -> Callable[..., Any]:
    from anime_detector.train.keras_engine import load_function

    return load_function


for _name, _loader in zip(KERAS_ENGINES, (_keras, _keras_predict, _keras_function),
                          strict=True):
    register(_name, _loader, TRAIN_EXTRA)
