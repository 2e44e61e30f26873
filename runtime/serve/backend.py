"""What the routes predict with: a :class:`ModelCard` (what the model is) and a
:class:`Backend` (where its inference runs).

Serving in one process, the backend is the local :class:`~.batcher.Batcher`; scaled out,
it is a handle to model replicas elsewhere. The routes, limits and answers above it are
the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from anime_detector.contract import ModelContract
from anime_detector.detector import Detector
from anime_detector.engines import EngineInfo
from anime_detector.errors import AnimeDetectorError

__all__ = ["Backend", "BackendOpener", "BatchObserver", "InferenceResult", "ModelCard",
           "QueueFull", "warm_up"]

BatchObserver = Callable[[int, float], None]  # (images, seconds) of each inference run


class QueueFull(Exception):
    """The backend holds as many images as it may: answer 503 and let the client retry."""


@dataclass(frozen=True)
class InferenceResult:
    """One image's probabilities, and its Grad-CAM grid for explain jobs."""

    probabilities: NDArray[np.float32]
    heatmap: NDArray[np.float32] | None = None


@dataclass(frozen=True)
class ModelCard:
    """What ``GET /v1/model`` says and what the routes need to decode and decide: small and
    picklable, so a replica on another node can hand it to the front."""

    name: str
    contract: ModelContract
    info: EngineInfo
    providers: list[str] = field(default_factory=list)
    can_explain: bool = False

    @classmethod
    def of(cls, detector: Detector) -> ModelCard:
        try:
            detector.require_explain()
            can_explain = True
        except AnimeDetectorError:
            can_explain = False
        return cls(detector.path.name, detector.contract, detector.info, detector.providers,
                   can_explain)


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


BackendOpener = Callable[[Any, Any], Backend]  # (ServeConfig, ServiceMetrics) -> its backend


def warm_up(detector: Detector) -> None:
    """One inference on a blank image: the first real request pays no start-up cost."""
    spec = detector.contract.spec
    detector.run(np.zeros((1, spec.height, spec.width, 3), np.float32))
