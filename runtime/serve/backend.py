"""What the routes predict with: a :class:`ModelCard` (what the model is) and a
:class:`Backend` (where its inference runs).

Serving in one process, the backend is the local :class:`~.batcher.Batcher`; scaled out,
it is a handle to model replicas elsewhere. The routes, limits and answers above it are
the same either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from anime_detector.contract import ModelContract
from anime_detector.detector import Detector
from anime_detector.engines import EngineInfo
from anime_detector.errors import AnimeDetectorError
from anime_detector.file_io import sha256_path
from anime_detector.prediction import InferenceResult

__all__ = ["Backend", "BackendOpener", "BatchObserver", "ModelCard",
           "QueueFull", "StageObserver", "model_version", "warm_up"]

VERSION_CHARS = 12  # of the model's sha256: its version in the Open Inference Protocol

BatchObserver = Callable[[int, float], None]  # (images, seconds) of each inference run
StageObserver = Callable[[str, float], None]  # (stage, seconds) of one request's wait


class QueueFull(Exception):
    """The backend holds as many images as it may: answer 503 and let the client retry."""


@dataclass(frozen=True)
class ModelCard:
    """What ``GET /v1/model`` says and what the routes need to decode and decide: small and
    picklable, so a replica on another node can hand it to the front. ``version``: the
    first characters of the model's sha256 (:func:`model_version`)."""

    name: str
    contract: ModelContract
    info: EngineInfo
    providers: list[str] = field(default_factory=list)
    can_explain: bool = False
    version: str = ""

    @classmethod
    def of(cls, detector: Detector) -> ModelCard:
        """The card of a loaded detector; its version is read from the model's files while
        they exist (a model shipped to a replica in bytes has none left: its sender says)."""
        try:
            detector.require_explain()
            can_explain = True
        except AnimeDetectorError:
            can_explain = False
        version = model_version(detector.path) if Path(detector.path).exists() else ""
        return cls(detector.path.name, detector.contract, detector.info, detector.providers,
                   can_explain, version)


def model_version(model: str | os.PathLike[str]) -> str:
    """The model's version: the first characters of its file's sha256 (what ``sha256sum``
    prints for an ``.onnx``), or of its folder's files (an ncnn model)."""
    return sha256_path(model)[:VERSION_CHARS]


class Backend(Protocol):
    """Runs inference for the service; ``infer`` is called from the event loop."""

    card: ModelCard
    max_batch: int
    max_queue: int

    @property
    def depth(self) -> int:
        """Images waiting for inference now."""
        ...

    async def infer(self, arrays: list[NDArray[np.float32]], explain: bool = False
                    ) -> list[InferenceResult]:
        """Results for preprocessed ``(H, W, 3)`` images, in order.

        Raises:
            QueueFull: they do not fit in the queue (none of them was queued).
        """
        ...

    def stop(self) -> None:
        """Run what is queued, refuse new work."""
        ...

    def health(self, stuck_after_s: float) -> str | None:
        """Why inference cannot answer now (stuck past ``stuck_after_s``, gone), or None."""
        ...


BackendOpener = Callable[[Any, Any], Backend]  # (ServeConfig, ServiceMetrics) -> its backend


def warm_up(detector: Detector) -> None:
    """One inference on a blank image: the first real request pays no start-up cost."""
    spec = detector.contract.spec
    detector.run(np.zeros((1, spec.height, spec.width, 3), np.float32))
