"""``anime-detector serve MODEL --ray``: the same app, scaled out on Ray Serve.

The HTTP app is the single-process one (:func:`~anime_detector.serve.app.create_app`),
served by an ingress deployment; its backend is :class:`RayBackend`, a handle to
:class:`ModelReplica` deployments, each holding one ``Detector`` created once, with its
threads set to the replica's CPUs, batching with Ray Serve's own ``@serve.batch`` in front of
the single-process service's :class:`~anime_detector.serve.batcher.Batcher`. The model file
travels through Ray's object store (as ``batch`` ships it) or, from a config file for
``serve deploy``, is read from a path each node has. Needs the ``[serve-ray]`` extra.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import ray
from numpy.typing import NDArray
from ray import serve
from ray.exceptions import RayActorError, RayError, RayTaskError

from anime_detector.errors import one_line
from anime_detector.prediction import InferenceResult
from anime_detector.ray_support import ShippedModel, open_model
from anime_detector.serve.app import create_app
from anime_detector.serve.backend import ModelCard, QueueFull, warm_up
from anime_detector.serve.batcher import Batcher
from anime_detector.serve.config import ServeConfig
from anime_detector.serve.errors import RETRY_AFTER, RequestError
from anime_detector.serve.metrics import ServiceMetrics

__all__ = ["APP_NAME", "ModelReplica", "RayBackend", "ReplicaFailure", "ReplicaNote",
           "ReplicaOptions", "app_builder", "build_app"]

_DEFAULTS = ServeConfig()

APP_NAME = "anime-detector"


@dataclass(frozen=True)
class ReplicaNote:
    """Which replica answered an image, and the inference runs (images, seconds) it finished
    since its previous answer: every run reaches the front's ``/metrics`` exactly once."""

    replica: str
    runs: tuple[tuple[int, float], ...] = ()


class ReplicaOptions(dict[str, Any]):
    """Ray Serve options of the model deployment: ``num_replicas`` or
    ``autoscaling_config``, ``ray_actor_options`` (CPUs, GPUs), queue bounds."""

    @classmethod
    def make(cls, replicas: int = 1, autoscale: tuple[int, int] | None = None,
             cpus: float = 1.0, gpus: float = 0.0, max_batch: int = _DEFAULTS.max_batch,
             max_queue: int = _DEFAULTS.max_queue) -> ReplicaOptions:
        options = cls(ray_actor_options={"num_cpus": cpus, "num_gpus": gpus},
                      max_ongoing_requests=max(16, 2 * max_batch),
                      max_queued_requests=max_queue)
        if autoscale is not None:
            low, high = autoscale
            options["autoscaling_config"] = {
                "min_replicas": low, "max_replicas": high,
                "target_ongoing_requests": max(2, max_batch)}
        else:
            options["num_replicas"] = replicas
        return options


@serve.deployment(name="ModelReplica")
class ModelReplica:
    """One ``Detector`` per replica, created once, and batching in two steps.

    Ray Serve's ``@serve.batch`` gathers the calls that arrive together and queues them
    on the replica's :class:`~.batcher.Batcher` (the single-process service's), which runs up
    to ``max_batch`` of whatever is queued each time the model is free. ``@serve.batch``
    alone forms its next batch as soon as a call arrives, while the previous batch still
    runs: with no wait, its batches are what arrived together (about one image each at
    saturation: docs/serve.md has the measurement), and with a wait every lone request pays
    it.
    """

    def __init__(self, model: str | ShippedModel, engine: str = "auto",
                 precision: str | None = None, device: str = "auto",
                 max_batch: int = _DEFAULTS.max_batch,
                 max_wait_ms: float = _DEFAULTS.max_wait_ms, max_queue: int = _DEFAULTS.max_queue,
                 name: str | None = None, version: str | None = None,
                 stuck_after_s: float = _DEFAULTS.timeout_s) -> None:
        self._stuck_after_s = stuck_after_s
        self.detector = open_model(model, device=device, engine=engine, precision=precision,
                                   spin=False)
        warm_up(self.detector)
        # A shipped model sat in a temporary folder: keep the user's file name and version.
        card = ModelCard.of(self.detector)
        self._card = replace(card, name=name or card.name, version=version or card.version)
        self.replica = serve.get_replica_context().replica_id.unique_id
        self._runs: deque[tuple[int, float]] = deque()
        self.batcher = Batcher(self.detector, max_batch, max_wait_ms, max_queue,
                               observe=lambda images, seconds: self._runs.append(
                                   (images, seconds)))
        self.batcher.start()
        batched: tuple[Any, ...] = (self._plain, self._explained)  # serve.batch methods
        for method in batched:
            method.set_max_batch_size(max_batch)

    def card(self) -> ModelCard:
        return self._card

    def check_health(self) -> None:
        """Ray Serve's periodic probe: a replica whose inference is stuck or gone fails it
        and is replaced."""
        problem = self.batcher.health(self._stuck_after_s)
        if problem is not None:
            raise RuntimeError(problem)

    def process(self) -> dict[str, Any]:
        """Which replica, process and node this is (for operators and the tests)."""
        return {"replica": self.replica, "pid": os.getpid(),
                "node": ray.get_runtime_context().get_node_id()}

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.0)
    async def _plain(self, arrays: list[NDArray[np.float32]]
                     ) -> list[asyncio.Future[InferenceResult]]:
        return self.batcher.submit(arrays)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.0)
    async def _explained(self, arrays: list[NDArray[np.float32]]
                         ) -> list[asyncio.Future[InferenceResult]]:
        return self.batcher.submit(arrays, explain=True)

    async def infer(self, array: NDArray[np.float32], explain: bool = False
                    ) -> tuple[InferenceResult, ReplicaNote]:
        queued = await (self._explained(array) if explain else self._plain(array))
        try:
            result = await queued
        except asyncio.CancelledError:
            queued.cancel()  # skipped if still queued
            raise
        runs = []
        while self._runs:
            runs.append(self._runs.popleft())
        return result, ReplicaNote(self.replica, tuple(runs))


class ReplicaFailure(RuntimeError):
    """A model replica's inference raised: the service answers 500, as in one process."""


class RayBackend:
    """The service's backend over model replicas: the same :class:`~.backend.Backend`."""

    def __init__(self, handle: Any, max_batch: int, max_queue: int,
                 metrics: ServiceMetrics) -> None:
        self.handle = handle
        self.metrics = metrics
        self.card: ModelCard = handle.card.remote().result()
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._in_flight = 0

    @property
    def depth(self) -> int:
        return self._in_flight

    async def infer(self, arrays: list[NDArray[np.float32]], explain: bool = False
                    ) -> list[InferenceResult]:
        if self._in_flight + len(arrays) > self.max_queue:
            raise QueueFull
        self._in_flight += len(arrays)
        try:
            answers = await asyncio.gather(*(self.handle.infer.remote(a, explain)
                                             for a in arrays))
        except (serve.exceptions.BackPressureError, QueueFull):  # Ray's queue or the replica's
            raise QueueFull from None
        except (RayActorError, serve.exceptions.DeploymentUnavailableError) as exc:
            raise RequestError(503, f"a model replica stopped ({type(exc).__name__}); retry "
                               "shortly", "replica_lost", headers=RETRY_AFTER) from None
        except RayTaskError as exc:  # the replica ran the images and its engine failed:
            # a 500, as in one process (a retry would fail the same way)
            raise ReplicaFailure(one_line(exc.cause if exc.cause is not None else exc)
                                 ) from None
        except RayError as exc:
            raise RequestError(503, f"the cluster could not run the request "
                               f"({type(exc).__name__}); retry shortly", "replica_lost",
                               headers=RETRY_AFTER) from None
        finally:
            self._in_flight -= len(arrays)
        for _, note in answers:
            self.metrics.replica_images.labels(note.replica).inc()
            for images, seconds in note.runs:
                self.metrics.observe_run(images, seconds)
        self.metrics.images.inc(len(answers))
        return [result for result, _ in answers]

    def stop(self) -> None:
        """Replicas belong to Ray Serve; it drains and stops them."""

    def health(self, stuck_after_s: float) -> str | None:
        """Replicas' health is Ray Serve's: it probes :meth:`ModelReplica.check_health` and
        replaces a replica that fails it."""
        return None


@serve.deployment(name="Ingress", ray_actor_options={"num_cpus": 0})
@serve.ingress()
class Ingress:
    """Ray Serve's HTTP entry: the single-process app over a :class:`RayBackend`."""

    def __init__(self, model: Any, config: dict[str, Any]) -> None:
        self.model = model
        # Ray Serve's proxy passes its X-Request-ID in and sets it on the answer itself.
        self.config = ServeConfig.from_dict({**config, "echo_request_id": False})

    def __serve_build_asgi_app__(self) -> Any:
        config = self.config

        def open_backend(_: ServeConfig, metrics: ServiceMetrics) -> RayBackend:
            return RayBackend(self.model, config.max_batch, config.max_queue, metrics)

        return create_app(config=config, backend=open_backend)


def build_app(model: str | ShippedModel, config: ServeConfig, options: ReplicaOptions,
              engine: str = "auto", precision: str | None = None, device: str = "auto",
              name: str | None = None, version: str | None = None) -> Any:
    """The Ray Serve application: the ingress bound to the model deployment. ``name`` and
    ``version``: the model's file name and :func:`~.backend.model_version` (a shipped model
    has none of its own)."""
    replica = _deployment(ModelReplica).options(**options).bind(
        model, engine=engine, precision=precision, device=device,
        max_batch=config.max_batch, max_wait_ms=config.max_wait_ms,
        max_queue=options["max_ongoing_requests"], name=name, version=version,
        stuck_after_s=config.timeout_s)
    # Ray Serve's default of 5 requests at a time would cap the images a replica sees at
    # once (and so its batches) below the service's own queue bound.
    ingress = _deployment(Ingress).options(max_ongoing_requests=config.max_queue)
    # The deployment's arguments are on Ray's dashboard and in its state API: they carry the
    # key's SHA-256, never the key.
    return ingress.bind(replica, config.sealed().to_dict())


def _deployment(cls: type) -> Any:
    """The Ray Serve ``Deployment`` that ``@serve.deployment`` made of ``cls`` (typed as the
    class it decorated)."""
    return cls


def app_builder(args: dict[str, Any]) -> Any:
    """``import_path`` target of the config that ``--print-config`` writes (``serve deploy``):
    ``args`` holds ``model`` (a path every node has), ``engine``, ``precision``,
    ``device`` and the service settings under ``config``. Deployment options (replicas,
    autoscaling, CPUs) come from the config's ``deployments`` section."""
    settings = dict(args.get("config", {}))
    settings.setdefault("api_key", os.environ.get("ANIME_DETECTOR_API_KEY") or None)
    config = ServeConfig.from_dict(settings)
    model = str(Path(args["model"]))
    return build_app(model, config, ReplicaOptions.make(max_batch=config.max_batch,
                                                        max_queue=config.max_queue),
                     engine=args.get("engine", "auto"), precision=args.get("precision"),
                     device=args.get("device", "auto"))
