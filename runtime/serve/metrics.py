"""Prometheus metrics of one service, in a registry of its own (two apps never collide).

Named by Prometheus' conventions (base units, ``_total`` counters, ``http_*`` for the HTTP
layer as other exporters name it): requests and their duration by route, requests in
flight, errors of whole requests and of single images apart, queue depth, batch size,
inference time, images predicted, decode memory in use, the time requests spend in each
stage of their work (:data:`STAGES`, Triton's per-stage durations: a load tool takes the
difference before and after a run), the ``process_*`` metrics of this process and a
``build_info``. Every metric is described in ``docs/serve.md``; ``/metrics``
serves them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from anime_detector._version import __version__

__all__ = ["CONTENT_TYPE", "STAGES", "ServiceMetrics", "StageTimer"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

# The stages of an inference request, in order; each is a stretch of the request's own
# time, so together they never exceed it (``http_request_duration_seconds``).
STAGES = ("read_body", "decode", "queue", "infer", "resume", "respond")


class ServiceMetrics:
    """The service's counters, gauges and histograms.

    ``errors``: requests answered with an error, by kind (401, 408, 413, 503, 504, 500...);
    ``image_errors``: images that could not be read, in requests that were answered.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.seconds_per_image: float | None = None  # recent inference cost (Retry-After)
        ProcessCollector(registry=r)  # process_cpu_seconds_total, _resident_memory_bytes...
        PlatformCollector(registry=r)  # python_info
        self.requests = Counter("http_requests", "HTTP requests answered, by route and status.",
                                ["route", "status"], registry=r)
        self.latency = Histogram("http_request_duration_seconds",
                                 "Time from request start to response, by route.", ["route"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("http_requests_in_flight",
                               "HTTP requests being read, worked on or answered now.",
                               registry=r)
        self.queue_depth = Gauge("anime_detector_queue_depth",
                                 "Images waiting for inference.", registry=r)
        self.batch_size = Histogram("anime_detector_batch_size", "Images per inference run.",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.inference = Histogram("anime_detector_inference_seconds",
                                   "Time of one inference run (one batch).",
                                   buckets=_LATENCY_BUCKETS, registry=r)
        self.images = Counter("anime_detector_images", "Images predicted.", registry=r)
        self.errors = Counter("anime_detector_request_errors",
                              "Requests answered with an error, by kind.", ["kind"],
                              registry=r)
        self.image_errors = Counter("anime_detector_image_errors",
                                    "Images that could not be used (a failure row), by kind.",
                                    ["kind"], registry=r)
        self.decode_bytes = Gauge("anime_detector_decode_bytes",
                                  "Decode budget in use: what the images being decoded were "
                                  "charged from their headers.", registry=r)
        self.replica_images = Counter("anime_detector_replica_images",
                                      "Images predicted, by model replica (Ray Serve).",
                                      ["replica"], registry=r)
        self.stage_seconds = Counter(
            "anime_detector_stage_seconds", "Time inference requests spent in each stage of "
            "their work, summed over requests.", ["stage"], registry=r)
        self._stages = {stage: self.stage_seconds.labels(stage) for stage in STAGES}
        self.build = Info("anime_detector_build", "What runs: the package version, and once "
                          "the model is open its engine, file name and sha256 (first 12 hex "
                          "digits, the model's version on /v2). Value 1.", registry=r)
        self.build.info({"version": __version__})

    def track_queue(self, depth: Callable[[], int]) -> None:
        """Read the queue depth from ``depth`` at every scrape."""
        self.queue_depth.set_function(lambda: float(depth()))

    def track_decoding(self, in_use: Callable[[], int]) -> None:
        """Read the decode budget in use from ``in_use`` at every scrape."""
        self.decode_bytes.set_function(lambda: float(in_use()))

    def describe_build(self, engine: str, model: str, model_sha256: str) -> None:
        """Complete ``anime_detector_build_info`` once the model is open."""
        self.build.info({"version": __version__, "engine": engine, "model": model,
                         "model_sha256": model_sha256})

    def observe_batch(self, images: int, seconds: float) -> None:
        """Called by the batcher after each inference run."""
        self.observe_run(images, seconds)
        self.images.inc(images)

    def observe_run(self, images: int, seconds: float) -> None:
        """One inference run's size and time (a model replica's, reported with its answers;
        its images are counted as the answers arrive)."""
        self.batch_size.observe(images)
        self.inference.observe(seconds)
        per_image = seconds / max(1, images)  # a moving average over the last runs
        last = self.seconds_per_image
        self.seconds_per_image = per_image if last is None else 0.8 * last + 0.2 * per_image

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Add ``seconds`` of one request to ``stage`` (one of :data:`STAGES`)."""
        self._stages[stage].inc(seconds)

    def timed(self, stage: str) -> StageTimer:
        """``with metrics.timed("decode"): ...`` adds the block's time to that stage, whether
        it ends or raises."""
        return StageTimer(self, stage)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StageTimer:
    """The time of a ``with`` block, added to one stage of :class:`ServiceMetrics`."""

    __slots__ = ("_metrics", "_stage", "_started")

    def __init__(self, metrics: ServiceMetrics, stage: str) -> None:
        self._metrics, self._stage, self._started = metrics, stage, 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._metrics.observe_stage(self._stage, time.perf_counter() - self._started)
