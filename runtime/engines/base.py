"""The one interface every inference engine implements (onnxruntime, OpenVINO, ncnn, Keras).

An engine owns a loaded model for one device and thread count. It takes a batch that
:func:`anime_detector.preprocessing.preprocess` produced (NHWC float32, exactly what training
fed the Keras model) and returns class probabilities. Everything above it (``Detector``,
``predict``, ``eval``, ``bench``) talks to this protocol only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from anime_detector.contract import ModelContract
from anime_detector.errors import AnimeDetectorError

__all__ = ["Engine", "EngineInfo", "EngineUnavailable"]


@dataclass(frozen=True)
class EngineInfo:
    """What really runs: engine name and version, device or provider, precision."""

    engine: str
    version: str
    device: str
    precision: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Engine(Protocol):
    """A loaded model: ``run`` maps a preprocessed ``(N, H, W, 3)`` batch to ``(N, classes)``."""

    contract: ModelContract
    path: Path

    @property
    def info(self) -> EngineInfo:
        """What really runs (after any fallback the engine made)."""
        ...

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Class probabilities for a preprocessed NHWC float32 batch."""
        ...


class EngineUnavailable(AnimeDetectorError):
    """The engine's package is not installed; the message carries the pip command."""

    def __init__(self, engine: str, extra: str) -> None:
        super().__init__(
            f"engine {engine!r} is not installed: pip install 'anime-detector[{extra}]'")
