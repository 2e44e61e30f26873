"""Dynamic batching: a bounded queue of preprocessed images and one inference thread.

Requests put each image on the queue and await its future. The inference thread takes
what is queued, up to ``max_batch`` images, runs one batch, and resolves the futures on
the event loop. It never waits when the queue is empty after the first image (an idle
service answers a lone request as fast as ``Detector.predict``); ``max_wait_ms`` > 0 lets
it wait that long for more. A full queue refuses at once (:class:`QueueFull`), so memory
stays bounded whatever the load. Explain jobs run in batches of their own (one forward
pass gives probabilities and heatmaps), plain jobs never pay for Grad-CAM. The thread
beats while it waits and around each run: :meth:`Batcher.health` says when it is gone or
one run has lasted past the request timeout (``/healthz`` then fails). Each call of
:meth:`Batcher.infer` reports where its wait went (``stages``): ``queue`` (until its last
run started, less the runs), ``infer`` (its runs, whole: a batch's run is each of its
requests' wait) and ``resume`` (from the last run's end until the caller has the results
on the event loop).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.detector import Detector
from anime_detector.prediction import InferenceResult
from anime_detector.serve.backend import (
    BatchObserver,
    ModelCard,
    QueueFull,
    StageObserver,
    warm_up,
)

__all__ = ["BEAT_S", "Batcher", "local_backend"]

BEAT_S = 1.0  # the inference thread's heartbeat while it waits


@dataclass
class _Job:
    array: NDArray[np.float32]
    explain: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[InferenceResult]
    run: tuple[float, float] = (0.0, 0.0)  # its batch's run: perf_counter start and end


class Batcher:
    """One inference worker for one detector: the service's local backend."""

    def __init__(self, detector: Detector, max_batch: int = 1, max_wait_ms: float = 0.0,
                 max_queue: int = 64, observe: BatchObserver | None = None,
                 stages: StageObserver | None = None) -> None:
        self.detector = detector
        self.card = ModelCard.of(detector)
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.max_queue = max(1, max_queue)
        self._observe = observe
        self._stages = stages
        self._queue: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._beat = time.monotonic()  # the inference thread's last sign of life
        self._thread = threading.Thread(target=self._work, name="inference", daemon=True)

    @property
    def depth(self) -> int:
        """Images waiting for inference now."""
        return len(self._queue)

    def start(self) -> None:
        self._thread.start()

    def health(self, stuck_after_s: float) -> str | None:
        """Why inference cannot answer (its thread is gone, or one run has lasted past
        ``stuck_after_s``), or None. The thread beats at least every :data:`BEAT_S` while
        idle or waiting, and before and after each run."""
        if not self._thread.is_alive():
            return "the inference thread has stopped"
        silent = time.monotonic() - self._beat
        if silent > stuck_after_s + BEAT_S:
            return f"inference stuck for {silent:.0f} s (the timeout is {stuck_after_s:g} s)"
        return None

    def stop(self, timeout: float = 5.0) -> None:
        """Refuse new jobs, run those already queued (requests in flight finish), end the thread."""
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, arrays: list[NDArray[np.float32]], explain: bool = False
               ) -> list[asyncio.Future[InferenceResult]]:
        """Queue all of ``arrays`` or none (:class:`QueueFull`); their futures, in order,
        resolve on the calling event loop. Cancelling a future skips its image if it is
        still queued."""
        return [job.future for job in self._submit(arrays, explain)]

    def _submit(self, arrays: list[NDArray[np.float32]], explain: bool) -> list[_Job]:
        loop = asyncio.get_running_loop()
        jobs = [_Job(array, explain, loop, loop.create_future()) for array in arrays]
        with self._ready:
            if self._stopping or len(self._queue) + len(jobs) > self.max_queue:
                raise QueueFull
            self._queue.extend(jobs)
            self._ready.notify()
        return jobs

    async def infer(self, arrays: list[NDArray[np.float32]], explain: bool = False
                    ) -> list[InferenceResult]:
        """:meth:`submit`, then await the results. A caller that gives up (its request
        timed out, its client went away) cancels its jobs: queued ones leave the queue."""
        submitted = time.perf_counter()
        jobs = self._submit(arrays, explain)
        try:
            results = list(await asyncio.gather(*(job.future for job in jobs)))
        except asyncio.CancelledError:
            for job in jobs:
                job.future.cancel()
            self._drop_cancelled()
            raise
        if self._stages is not None and jobs:
            self._report(jobs, submitted, time.perf_counter())
        return results

    def _report(self, jobs: list[_Job], submitted: float, done: float) -> None:
        """One call's ``queue``, ``infer`` and ``resume`` times (see the module docstring)."""
        assert self._stages is not None
        runs = {job.run for job in jobs}  # its batches (a run holds one or more of its jobs)
        running = sum(end - start for start, end in runs)
        last = max(end for _, end in runs)
        self._stages("queue", max(0.0, last - submitted - running))
        self._stages("infer", running)
        self._stages("resume", max(0.0, done - last))

    def _drop_cancelled(self) -> None:
        """Take the jobs whose callers gave up off the queue (they would be skipped anyway)."""
        with self._ready:
            live = [job for job in self._queue if not job.future.cancelled()]
            if len(live) != len(self._queue):
                self._queue.clear()
                self._queue.extend(live)

    def _take(self) -> list[_Job] | None:
        """Block until jobs are queued; take up to ``max_batch`` of one kind (None: stop)."""
        with self._ready:
            while True:
                while not self._queue and not self._stopping:
                    self._ready.wait(BEAT_S)
                    self._beat = time.monotonic()
                if self._stopping and not self._queue:
                    return None
                deadline = time.monotonic() + self.max_wait_s
                while len(self._queue) < self.max_batch and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._ready.wait(min(left, BEAT_S))
                    self._beat = time.monotonic()
                if self._queue:  # else its callers gave up while it waited for more
                    break
            kind = self._queue[0].explain
            taken: list[_Job] = []
            while self._queue and len(taken) < self.max_batch and self._queue[0].explain == kind:
                taken.append(self._queue.popleft())
            return taken

    def _work(self) -> None:
        while (jobs := self._take()) is not None:
            live = [job for job in jobs if not job.future.cancelled()]
            if live:
                self._beat = time.monotonic()
                self._run(live)
                self._beat = time.monotonic()

    def _run(self, jobs: list[_Job]) -> None:
        batch = np.stack([job.array for job in jobs])
        started = time.perf_counter()
        try:
            results = self.detector.infer(batch, jobs[0].explain)
        except Exception as exc:  # an engine failure fails these jobs, not the worker
            for job in jobs:
                job.loop.call_soon_threadsafe(_settle, job.future, None, exc)
            return
        ended = time.perf_counter()
        if self._observe is not None:
            self._observe(len(jobs), ended - started)
        for job, result in zip(jobs, results, strict=True):
            job.run = (started, ended)
            job.loop.call_soon_threadsafe(_settle, job.future, result, None)


def _settle(future: asyncio.Future[InferenceResult], result: InferenceResult | None,
            error: BaseException | None) -> None:
    if future.done():  # cancelled meanwhile (the request timed out)
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)


def local_backend(loader: Callable[[], Detector]) -> Callable[[Any, Any], Batcher]:
    """The opener of the in-process backend: load with ``loader``, warm up, start a batcher
    with the service's ``max_batch``, ``max_wait_ms`` and ``max_queue``, reporting its runs
    and each request's stages to the service's metrics."""

    def open_backend(config: Any, metrics: Any) -> Batcher:
        detector = loader()
        warm_up(detector)
        batcher = Batcher(detector, config.max_batch, config.max_wait_ms, config.max_queue,
                          metrics.observe_batch, metrics.observe_stage)
        batcher.start()
        return batcher

    return open_backend
