"""What the routes do, without the web framework: readiness, predict, explain, model info.

One :class:`Service` owns the decoding thread pool (sized to the CPUs: decoding never runs
on the event loop) and the :class:`~.backend.Backend` that runs inference (the local
:class:`~.batcher.Batcher`, or model replicas elsewhere). It is ready only after the
backend is open: the model loaded and one warm-up inference run.
"""

from __future__ import annotations

import asyncio
import io
import logging
import platform
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from anime_detector._version import __version__
from anime_detector.decode_budget import DecodeBudget
from anime_detector.errors import InputError, describe_error
from anime_detector.prediction import Failure, InferenceResult, ModelInput, Pipeline, Prediction
from anime_detector.serve.backend import Backend, BackendOpener, ModelCard, QueueFull
from anime_detector.serve.config import ServeConfig
from anime_detector.serve.errors import LOADING_RETRY_S, RETRY_AFTER, RequestError, retry_after
from anime_detector.serve.metrics import ServiceMetrics
from anime_detector.serve.uploads import Upload
from anime_detector.system import available_cpus, cpu_summary

__all__ = ["Service", "row"]

log = logging.getLogger("anime_detector.serve")
_T = TypeVar("_T")


def row(item: Prediction | Failure) -> dict[str, Any]:
    """``predict --format json``'s row, with the uploaded file's name as ``name``."""
    data = item.to_dict()
    data.pop("path_b64", None)
    return {"name": data.pop("path"), **data}


class Service:
    """The model behind the routes; ``start`` opens the backend on a thread, ``stop`` drains."""

    def __init__(self, open_backend: BackendOpener, config: ServeConfig,
                 metrics: ServiceMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.decode_budget = DecodeBudget(config.max_decode_bytes, wait_s=config.timeout_s)
        metrics.track_decoding(lambda: self.decode_budget.in_use)
        self._open_backend = open_backend
        self.backend: Backend | None = None
        self.load_error: str | None = None
        self.draining = False
        self._decoding = 0  # images of admitted requests being decoded: bound for the queue
        self.on_load_failure: Callable[[str], None] | None = None  # the runner stops
        self.on_ready: Callable[[], object] | None = None  # loaded and warm (systemd's READY)
        self.pool = ThreadPoolExecutor(max_workers=available_cpus(), thread_name_prefix="decode")

    @property
    def ready(self) -> bool:
        return self.backend is not None and not self.draining

    def start(self) -> None:
        """Open (load, warm up) in the background; ``on_load_failure`` gets the reason."""

        def load() -> None:
            try:
                backend = self._open_backend(self.config, self.metrics)
            except Exception as exc:  # a broken model: say why, the command exits
                self.load_error = describe_error(exc)
                log.error("error: %s", self.load_error)
                if self.on_load_failure is not None:
                    self.on_load_failure(self.load_error)
                return
            self.metrics.track_queue(lambda: backend.depth)
            card = backend.card
            self.metrics.describe_build(card.info.engine, card.name, card.version)
            self.backend = backend
            log.info("ready: %s on %s, %s", backend.card.name, backend.card.info.engine,
                     cpu_summary())
            if self.on_ready is not None:
                self.on_ready()

        threading.Thread(target=load, name="load-model", daemon=True).start()

    def stop(self) -> None:
        self.draining = True
        if self.backend is not None:
            self.backend.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def liveness(self) -> str | None:
        """Why this process should be restarted (its inference is stuck past the request
        timeout, or gone), or None. A model still loading is alive."""
        backend = self.backend
        return None if backend is None else backend.health(self.config.timeout_s)

    def refusal(self) -> RequestError | None:
        """The 503 that takes the place of any work now: while the model loads (retry in a
        few seconds: loading takes that long), after it failed, or while draining (another
        instance may take the retry at once); None when ready."""
        if self.backend is not None and not self.draining:
            return None
        if self.draining:
            reason, retry = "shutting down", RETRY_AFTER
        else:
            reason = (f"model failed to load: {self.load_error}" if self.load_error else
                      "model is loading")
            retry = retry_after(LOADING_RETRY_S)
        return RequestError(503, f"not ready: {reason}", "not_ready", headers=retry)

    def _require_ready(self) -> Backend:
        refusal = self.refusal()
        if refusal is not None:
            raise refusal
        assert self.backend is not None
        return self.backend

    @property
    def card(self) -> ModelCard:
        """The model being served (503 until it is ready)."""
        return self._require_ready().card

    async def predict(self, uploads: list[Upload], explain: bool = False
                      ) -> list[Prediction | Failure]:
        """One result per upload, in order; bad images become :class:`Failure` rows.

        Raises:
            RequestError: 503 when not ready or the queue is full, 504 past the timeout,
                400 when ``explain`` is asked of a model that cannot explain.
        """
        backend = self._require_ready()
        if explain and not backend.card.can_explain:
            raise RequestError(400, f"{backend.card.name}: this model cannot explain (export "
                               "it with `anime-detector export`; onnxruntime only)", "bad_request")
        return await self._bounded(self._predict(backend, uploads, explain))

    async def classify(self, images: list[Upload] | NDArray[np.float32]) -> list[Prediction]:
        """All or nothing, as the Open Inference Protocol answers: ``images`` are encoded
        files, all decoded before any inference, or an already preprocessed ``(N, H, W, 3)``
        batch.

        Raises:
            RequestError: 400 naming the first upload that cannot be read, and as
                :meth:`predict`.
        """
        backend = self._require_ready()
        return await self._bounded(self._classify(backend, images))

    async def _bounded(self, work: Awaitable[_T]) -> _T:
        try:
            return await asyncio.wait_for(work, self.config.timeout_s)
        except TimeoutError:
            raise RequestError(504, f"no answer within the timeout of {self.config.timeout_s:g} "
                               "s", "timeout") from None

    def _pipeline(self, backend: Backend) -> Pipeline:
        """The model's decode -> run -> decide stages, with this service's limits."""
        return Pipeline(backend.card.contract, self.config.threshold, self.config.max_pixels,
                        self.decode_budget)

    async def _prepare(self, backend: Backend, uploads: list[Upload]
                       ) -> list[ModelInput | Failure]:
        """Decode every upload on the pool (never on the event loop)."""
        loop = asyncio.get_running_loop()
        decode = self._pipeline(backend).decode
        return list(await asyncio.gather(*(
            loop.run_in_executor(self.pool, decode, up.data, up.name) for up in uploads)))

    def _queue_full(self, backend: Backend) -> RequestError:
        """503, with the time the queue takes to drain at the recent cost per image as its
        ``Retry-After`` (1 s before the first run)."""
        drain_s = backend.depth * (self.metrics.seconds_per_image or 0.0)
        return RequestError(503, f"busy: the queue is full ({backend.max_queue} images); retry "
                            "shortly", "queue_full", headers=retry_after(drain_s))

    async def _decode(self, backend: Backend, uploads: list[Upload]
                      ) -> list[ModelInput | Failure]:
        """:meth:`_prepare`, once the queue has room for all of ``uploads``: a request that
        would be refused with 503 spends no decoding. Images being decoded count as queued."""
        if backend.depth + self._decoding + len(uploads) > backend.max_queue:
            raise self._queue_full(backend)
        self._decoding += len(uploads)
        try:
            with self.metrics.timed("decode"):
                return await self._prepare(backend, uploads)
        finally:
            self._decoding -= len(uploads)

    async def _infer(self, backend: Backend, arrays: list[NDArray[np.float32]],
                     explain: bool = False) -> list[InferenceResult]:
        try:
            return await backend.infer(arrays, explain) if arrays else []
        except QueueFull:
            raise self._queue_full(backend) from None

    async def _predict(self, backend: Backend, uploads: list[Upload], explain: bool
                       ) -> list[Prediction | Failure]:
        items = await self._decode(backend, uploads)
        results = await self._infer(
            backend, [i.array for i in items if isinstance(i, ModelInput)], explain)
        failed = sum(isinstance(i, Failure) for i in items)
        if failed:
            self.metrics.image_errors.labels("bad_image").inc(failed)
        return self._pipeline(backend).finish(items, results)

    async def _classify(self, backend: Backend, images: list[Upload] | NDArray[np.float32]
                        ) -> list[Prediction]:
        if isinstance(images, list):
            inputs = []
            for item in await self._decode(backend, images):
                if isinstance(item, Failure):  # (the error handler counts it)
                    raise RequestError(400, f"{item.source}: {item.error}", "bad_image")
                inputs.append(ModelInput(None, item.array))
        else:
            inputs = [ModelInput(None, array) for array in images]
        results = await self._infer(backend, [i.array for i in inputs])
        pipeline = self._pipeline(backend)
        return [pipeline.decide(i, r) for i, r in zip(inputs, results, strict=True)]

    async def explain_png(self, upload: Upload) -> tuple[Prediction, bytes] | tuple[Failure, None]:
        """The Grad-CAM overlay PNG of one image (what ``explain`` writes), or its failure."""
        from anime_detector.drawing.heatmap_png import render_heatmap

        pipeline = self._pipeline(self._require_ready())
        item = (await self.predict([upload], explain=True))[0]
        if isinstance(item, Failure):
            return item, None
        prediction, heat = item, item.heatmap
        assert heat is not None  # predict(explain=True) gives every prediction its heatmap

        def draw() -> bytes:
            buffer = io.BytesIO()
            render_heatmap(pipeline.picture(upload.data), prediction, heat).save(
                buffer, "PNG", compress_level=1)
            return buffer.getvalue()

        with self.metrics.timed("respond"):
            try:
                png = await asyncio.get_running_loop().run_in_executor(self.pool, draw)
            except InputError as exc:  # the picture is over the limits its model input fitted
                self.metrics.image_errors.labels("bad_image").inc()
                return Failure(upload.name, describe_error(exc)), None
        return item, png

    def describe(self) -> dict[str, Any]:
        """``GET /v1/model``: the contract, what runs, the versions and the limits."""
        backend = self._require_ready()
        card = backend.card
        contract, info = card.contract, card.info
        return {
            "model": card.name, "version": card.version,
            "labels": list(contract.labels),
            "threshold": (contract.threshold if self.config.threshold is None
                          else self.config.threshold),
            "preprocessing": asdict(contract.spec),
            "backbone": contract.extra.get("backbone"),
            "int8": contract.extra.get("int8"),  # how an int8 export was tuned, else None
            "engine": info.engine, "precision": info.precision, "device": info.device,
            "providers": card.providers,
            "can_explain": card.can_explain,
            "versions": {"anime-detector": __version__, info.engine: info.version,
                         "python": platform.python_version(), "numpy": np.__version__},
            "cpu": cpu_summary(), "platform": f"{sys.platform}-{platform.machine()}",
            "limits": {"max_body_mb": self.config.max_body_mb,
                       "max_files": self.config.max_files, "max_batch": backend.max_batch,
                       "max_wait_ms": self.config.max_wait_ms, "max_queue": backend.max_queue,
                       "timeout_s": self.config.timeout_s,
                       "max_pixels": self.config.max_pixels,
                       "max_decode_mb": self.config.max_decode_mb},
        }
