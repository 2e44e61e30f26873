"""The service's batcher on a real detector: what it runs together, what it refuses and
what a cancelled request costs. Jobs are queued before the worker starts, so every run's
content is known."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from anime_detector.detector import Detector
from anime_detector.serve.backend import QueueFull
from anime_detector.serve.batcher import Batcher


def _images(detector: Detector, n: int) -> list[np.ndarray]:
    spec = detector.contract.spec
    rng = np.random.default_rng(0)
    return [rng.uniform(-100, 100, (spec.height, spec.width, 3)).astype(np.float32)
            for _ in range(n)]


def _run(batcher: Batcher, jobs: list[tuple[list[np.ndarray], bool]], cancel: int | None = None
         ) -> list[list[object]]:
    """Submit ``jobs`` while the worker is stopped, optionally cancel one image, then start
    it and collect every result (a cancelled image gives None)."""

    async def main() -> list[list[object]]:
        queued = [batcher.submit(arrays, explain) for arrays, explain in jobs]
        if cancel is not None:
            [f for futures in queued for f in futures][cancel].cancel()
        batcher.start()
        out = []
        for futures in queued:
            done = await asyncio.gather(*futures, return_exceptions=True)
            out.append([None if isinstance(r, asyncio.CancelledError) else r for r in done])
        return out

    try:
        return asyncio.run(main())
    finally:
        batcher.stop()


def test_what_is_queued_runs_together_up_to_max_batch(tiny_model: Path) -> None:
    detector = Detector.load(tiny_model)
    runs: list[int] = []
    batcher = Batcher(detector, max_batch=4, max_queue=16,
                      observe=lambda images, seconds: runs.append(images))
    images = _images(detector, 10)
    results = _run(batcher, [([image], False) for image in images])
    assert runs == [4, 4, 2]
    expected = detector.run(np.stack(images))
    got = np.stack([r[0].probabilities for r in results])  # type: ignore[attr-defined]
    np.testing.assert_allclose(got, expected, atol=1e-6)  # each answer is its own image's


def test_explain_jobs_run_apart_from_plain_ones(explain_model: Path) -> None:
    detector = Detector.load(explain_model)
    runs: list[int] = []
    batcher = Batcher(detector, max_batch=8, observe=lambda images, _: runs.append(images))
    a, b, c = _images(detector, 3)
    plain, explained, plain_again = _run(batcher, [([a], False), ([b], True), ([c], False)])
    assert runs == [1, 1, 1]  # a run is of one kind: plain jobs never pay for Grad-CAM
    assert plain[0].heatmap is None and explained[0].heatmap is not None  # type: ignore[attr-defined]


def test_a_full_queue_refuses_all_of_a_request_or_none(tiny_model: Path) -> None:
    detector = Detector.load(tiny_model)
    batcher = Batcher(detector, max_batch=2, max_queue=3)

    async def main() -> None:
        batcher.submit(_images(detector, 2))
        with pytest.raises(QueueFull):
            batcher.submit(_images(detector, 2))
        assert batcher.depth == 2  # the refused request queued nothing
        batcher.submit(_images(detector, 1))
        assert batcher.depth == 3

    asyncio.run(main())


def test_a_cancelled_image_is_skipped_not_run(tiny_model: Path) -> None:
    detector = Detector.load(tiny_model)
    runs: list[int] = []
    batcher = Batcher(detector, max_batch=8, observe=lambda images, _: runs.append(images))
    results = _run(batcher, [(_images(detector, 3), False)], cancel=1)
    assert runs == [2] and results[0][1] is None and results[0][0] is not None
