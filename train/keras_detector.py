"""A Keras model behind the runtime's ``Detector`` interface (same decoding, same batches).

Lets ``eval`` and ``bench`` treat a ``.keras`` file like an ``.onnx`` one, so
reports for the two files of one training run are comparable line for line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from numpy.typing import NDArray

from anime_detector.contract import ModelContract
from anime_detector.detector import Detector
from anime_detector.errors import ModelError
from anime_detector.train.backbones import backbone_of_model, spec_for

__all__ = ["KerasDetector"]


class KerasDetector(Detector):
    """``Detector`` whose ``run`` calls a Keras model instead of onnxruntime."""

    def __init__(self, model: Any, path: Path) -> None:  # noqa: D107 - no session here
        self.session = None
        self.model = model
        self.contract = ModelContract(spec=spec_for(backbone_of_model(model)))
        self.path = path

    @classmethod
    def load_keras(cls, path: str | Path) -> KerasDetector:
        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as exc:
            raise ModelError(path, f"cannot load Keras model: {' '.join(str(exc).split())[:300]}"
                             ) from None
        return cls(model, Path(path))

    @property
    def providers(self) -> list[str]:
        return ["keras"]

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.asarray(self.model(batch, training=False), dtype=np.float32)
