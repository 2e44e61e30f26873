"""Training the classifier on a frozen backbone (needs the ``[train]`` extra: TensorFlow + Keras).

``build_model`` makes the network; ``train`` fits it on an image folder with a
feature cache and writes a run folder. Images go through the runtime's
``anime_detector.preprocessing.preprocess``, the same function the ONNX runtime uses.

The names below load on first use, so ``anime_detector.train.backbones`` (the
backbone registry) can be read without importing TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anime_detector.train.fit import TrainConfig, TrainResult, train
    from anime_detector.train.model import WeightsError, build_model

__all__ = ["TrainConfig", "TrainResult", "WeightsError", "build_model", "train"]

_HOME = {"TrainConfig": "fit", "TrainResult": "fit", "train": "fit", "WeightsError": "model",
         "build_model": "model"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
