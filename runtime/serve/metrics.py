"""Prometheus metrics of one service, in a registry of its own (two apps never collide).

Requests by route and status, request latency, queue depth, batch size, inference time,
images predicted and errors by kind: what Triton and BentoML expose, read by ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "ServiceMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServiceMetrics:
    """The service's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("anime_detector_requests", "HTTP requests answered.",
                                ["route", "status"], registry=r)
        self.latency = Histogram("anime_detector_request_seconds",
                                 "Time from request start to response, by route.", ["route"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("anime_detector_queue_depth",
                                 "Images waiting for inference.", registry=r)
        self.batch_size = Histogram("anime_detector_batch_size", "Images per inference run.",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.inference = Histogram("anime_detector_inference_seconds",
                                   "Time of one inference run (one batch).",
                                   buckets=_LATENCY_BUCKETS, registry=r)
        self.images = Counter("anime_detector_images", "Images predicted.", registry=r)
        self.errors = Counter("anime_detector_errors", "Errors answered, by kind.", ["kind"],
                              registry=r)
        self.replica_images = Counter("anime_detector_replica_images",
                                      "Images predicted, by model replica (Ray Serve).",
                                      ["replica"], registry=r)

    def track_queue(self, depth: Callable[[], int]) -> None:
        """Read the queue depth from ``depth`` at every scrape."""
        self.queue_depth.set_function(lambda: float(depth()))

    def observe_batch(self, images: int, seconds: float) -> None:
        """Called by the batcher after each inference run."""
        self.observe_run(images, seconds)
        self.images.inc(images)

    def observe_run(self, images: int, seconds: float) -> None:
        """One inference run's size and time (a model replica's, reported with its answers;
        its images are counted as the answers arrive)."""
        self.batch_size.observe(images)
        self.inference.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
