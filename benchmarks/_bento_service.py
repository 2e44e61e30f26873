"""The peer of ``serve`` in ``serve_peers.py``: the BentoML service a Python user would write.

One ``Detector`` on the same ONNX model (``ANIME_DETECTOR_PEER_MODEL``), the same
preprocessing function, and BentoML's adaptive batching (``batchable=True``: its
``CorkDispatcher`` fits batch time and gathers requests up to ``max_batch_size`` within
``max_latency_ms``). Images arrive as multipart file parts named ``images``. BentoML is a
benchmark-only install: ``serve_peers.py`` starts this with ``bentoml serve``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bentoml
import numpy as np

MODEL = os.environ.get("ANIME_DETECTOR_PEER_MODEL", "model.onnx")
MAX_BATCH = int(os.environ.get("ANIME_DETECTOR_PEER_MAX_BATCH", "8"))


@bentoml.service(workers=1, traffic={"timeout": 120})
class AnimeDetector:
    def __init__(self) -> None:
        from anime_detector.detector import Detector

        self.detector = Detector.load(MODEL, spin=False)

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=60_000)
    def classify(self, images: list[Path]) -> list[dict[str, Any]]:
        from anime_detector.preprocessing import preprocess

        spec = self.detector.contract.spec
        batch = np.stack([preprocess(path, spec) for path in images])
        return [self.detector.to_prediction(p, None, None).to_dict()
                for p in self.detector.run(batch)]
