"""The Ray Data pipeline: paths -> read + decode (tasks) -> Detector (actors) -> rows.

The stages are :mod:`~anime_detector.prediction`'s, as ``predict`` runs them: decoding
tasks run :meth:`~anime_detector.prediction.Pipeline.decode` on each path (a URI is read
with pyarrow first), each actor runs its :class:`~anime_detector.detector.Detector`
(built once, from the model :func:`~anime_detector.ray_support.ship_model` put in Ray's
object store) and :meth:`~anime_detector.prediction.Pipeline.finish`. ``ray`` is imported
inside the functions: importing this module costs nothing and needs no Ray. Each output
row is the JSON of exactly ``Prediction.to_dict()`` or ``Failure.to_dict()`` plus the node
that made it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from anime_detector.prediction import Failure, ModelInput, Pipeline
from anime_detector.preprocessing import input_shape
from anime_detector.ray_support import (
    RayMissingError,
    ShippedModel,
    import_ray,
    open_model,
)

__all__ = ["PipelineConfig", "RayMissingError", "build_dataset", "import_ray", "result_rows"]


@dataclass(frozen=True)
class PipelineConfig:
    """How the job is spread: ``actors`` ``None`` fills the cluster's CPUs.

    Decode tasks reserve ``decode_cpus`` each (0: they share the actors' CPUs,
    as ``predict``'s decode threads do) and at most ``decode_tasks`` run at
    once (default: one per actor); without that cap, 0-CPU tasks would start a
    worker process each and decode far ahead of inference. Each decode task decodes one
    image at a time, within ``max_pixels`` and ``max_decode_bytes`` as ``predict`` does.
    """

    actors: int | None = None
    cpus_per_actor: float = 2.0
    gpus_per_actor: float = 0.0
    batch_size: int = 16
    threshold: float | None = None
    device: str = "auto"
    engine: str = "auto"
    precision: str | None = None
    decode_cpus: float = 0.0
    decode_tasks: int | None = None
    max_pixels: int | None = None  # the Detector's decoding limits (None: predict's)
    max_decode_bytes: int | None = None


def _read(path: str) -> bytes | Failure:
    import pyarrow.fs as pafs

    try:
        fs, inner = pafs.FileSystem.from_uri(path)
        with fs.open_input_stream(inner) as stream:
            data: bytes = stream.read()
    except FileNotFoundError:
        return Failure(path, "no such file")
    except OSError as exc:
        return Failure(path, f"cannot read: {exc}")
    return data


def _decode(pipeline: Pipeline, path: str) -> ModelInput | Failure:
    from anime_detector.batch.sources import is_uri

    if not is_uri(path):
        return pipeline.decode(path)  # same checks and messages as ``predict``
    data = _read(path)
    return data if isinstance(data, Failure) else pipeline.decode(data, name=path)


def decode_batch(batch: dict[str, Any], pipeline: Pipeline) -> dict[str, Any]:
    """Ray task body: each path -> its model input, or an error text (and zeros)."""
    paths = [str(p) for p in batch["path"]]
    pixels = np.zeros((len(paths), *input_shape(pipeline.contract.spec)), np.float32)
    errors: list[str] = []
    for i, path in enumerate(paths):
        item = _decode(pipeline, path)
        if isinstance(item, Failure):
            errors.append(item.error)
        else:
            pixels[i] = item.array
            errors.append("")
    return {"path": np.array(paths, dtype=object), "pixels": pixels,
            "error": np.array(errors, dtype=object)}


class InferenceActor:
    """One Detector per actor, created once; ``__call__`` turns a batch into result rows."""

    def __init__(self, model: ShippedModel, pipeline: Pipeline, device: str,
                 engine: str = "auto", precision: str | None = None) -> None:
        self.node = import_ray().get_runtime_context().get_node_id()
        self.detector = open_model(model, device=device, engine=engine, precision=precision)
        self.pipeline = pipeline

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        errors = [str(e) for e in batch["error"]]
        ok = np.array([not e for e in errors], dtype=bool)
        items = [ModelInput(str(path), pixels) if not error else Failure(str(path), error)
                 for path, pixels, error in zip(batch["path"], batch["pixels"], errors,
                                                strict=True)]
        results = self.detector.infer(np.ascontiguousarray(batch["pixels"][ok])) if ok.any() \
            else []
        rows = [item.to_dict() for item in self.pipeline.finish(items, results)]
        return {"path": batch["path"],
                "row": np.array([json.dumps(r, ensure_ascii=False) for r in rows], dtype=object),
                "node": np.array([self.node] * len(rows), dtype=object)}


def default_actors(config: PipelineConfig, cluster_cpus: float) -> int:
    """``--actors`` or as many actors as fit the cluster's CPUs (at least one)."""
    if config.actors:
        return config.actors
    return max(1, math.floor(cluster_cpus / max(config.cpus_per_actor, 1e-9)))


def build_dataset(paths: list[str], model: ShippedModel, pipeline: Pipeline,
                  config: PipelineConfig) -> tuple[Any, int]:
    """The lazy Ray Dataset of result rows, and the number of actors it uses; ``model``:
    :func:`~anime_detector.ray_support.ship_model`'s, ``pipeline``: the model's stages
    with the job's threshold."""
    ray = import_ray()
    actors = default_actors(config, ray.cluster_resources().get("CPU", 1.0))
    blocks = max(1, min(len(paths), math.ceil(len(paths) / config.batch_size)))
    items = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
    decoded = items.map_batches(
        decode_batch, batch_size=config.batch_size, batch_format="numpy",
        fn_kwargs={"pipeline": pipeline}, num_cpus=config.decode_cpus,
        concurrency=config.decode_tasks or actors)
    rows = decoded.map_batches(
        InferenceActor, batch_size=config.batch_size, batch_format="numpy",
        fn_constructor_kwargs={"model": model, "pipeline": pipeline, "device": config.device,
                               "engine": config.engine, "precision": config.precision},
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=config.cpus_per_actor, num_gpus=config.gpus_per_actor or None)
    return rows, actors


def result_rows(dataset: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Stream ``(row, node id)`` pairs from the running dataset to the driver."""
    for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
        for text, node in zip(batch["row"], batch["node"], strict=True):
            yield json.loads(str(text)), str(node)
