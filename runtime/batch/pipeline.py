"""The Ray Data pipeline: paths -> read + decode + preprocess (tasks) -> Detector (actors).

``ray`` is imported inside the functions: importing this module costs nothing
and needs no Ray. Each actor builds one :class:`~anime_detector.detector.Detector`
in its constructor, with as many engine threads as CPUs Ray gave it. The
model's files (one ``.onnx``, or an ncnn folder's three: ``engines.model_files``)
travel once through Ray's object store, so worker nodes need not see the
driver's model path. Each output row is the JSON of exactly
``Prediction.to_dict()`` or ``Failure.to_dict()`` plus the node that made it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from anime_detector.detector import Detector, Failure
from anime_detector.errors import AnimeDetectorError, InputError, describe_error
from anime_detector.preprocessing import PreprocessSpec, preprocess

__all__ = ["PipelineConfig", "RayMissingError", "build_dataset", "import_ray", "result_rows"]

RAY_HINT = "Ray is not installed: pip install 'anime-detector[cpu,ray]'"


class RayMissingError(AnimeDetectorError):
    """The ``[ray]`` extra is not installed."""

    def __init__(self) -> None:
        super().__init__(RAY_HINT)


def import_ray() -> Any:
    """``import ray`` with Ray Data, or :class:`RayMissingError`."""
    try:
        import ray
        import ray.data  # noqa: F401  (pyarrow and pandas come with it)
    except ImportError:
        raise RayMissingError() from None
    return ray


@dataclass(frozen=True)
class PipelineConfig:
    """How the job is spread: ``actors`` ``None`` fills the cluster's CPUs.

    Decode tasks reserve ``decode_cpus`` each (0: they share the actors' CPUs,
    as ``predict``'s decode threads do) and at most ``decode_tasks`` run at
    once (default: one per actor); without that cap, 0-CPU tasks would start a
    worker process each and decode far ahead of inference.
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


def _read(path: str) -> bytes:
    import pyarrow.fs as pafs

    fs, inner = pafs.FileSystem.from_uri(path)
    with fs.open_input_stream(inner) as stream:
        data: bytes = stream.read()
    if not data:
        raise InputError(path, "empty file (0 bytes)")
    return data


def _load_one(path: str, spec: PreprocessSpec) -> np.ndarray[Any, Any]:
    from anime_detector.batch.sources import is_uri

    if not is_uri(path):
        return preprocess(path, spec)  # same checks and messages as ``predict``
    try:
        data = _read(path)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    return preprocess(data, spec)


def decode_batch(batch: dict[str, Any], spec_json: str) -> dict[str, Any]:
    """Ray task body: each path -> preprocessed pixels, or an error text (zeros)."""
    spec = PreprocessSpec.from_json(spec_json)
    paths = [str(p) for p in batch["path"]]
    pixels = np.zeros((len(paths), spec.height, spec.width, 3), np.float32)
    errors: list[str] = []
    for i, path in enumerate(paths):
        try:
            pixels[i] = _load_one(path, spec)
            errors.append("")
        except Exception as exc:  # one bad file is one error row, never the whole job
            errors.append(describe_error(exc))
    return {"path": np.array(paths, dtype=object), "pixels": pixels,
            "error": np.array(errors, dtype=object)}


class InferenceActor:
    """One Detector per actor, created once; ``__call__`` turns a batch into result rows."""

    def __init__(self, model: list[Any], device: str, threshold: float | None,
                 engine: str = "auto", precision: str | None = None) -> None:
        ray = import_ray()
        context = ray.get_runtime_context()
        threads = max(1, int(context.get_assigned_resources().get("CPU", 1)))
        self.node = context.get_node_id()
        self.detector = Detector.from_files(ray.get(model[0]), device=device, threads=threads,
                                            engine=engine, precision=precision)
        self.threshold = threshold

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        errors = [str(e) for e in batch["error"]]
        ok = np.array([not e for e in errors], dtype=bool)
        probs = self.detector.run(np.ascontiguousarray(batch["pixels"][ok])) if ok.any() else None
        rows, k = [], 0
        for path, error in zip((str(p) for p in batch["path"]), errors, strict=True):
            if error:
                rows.append(Failure(path, error).to_dict())
                continue
            assert probs is not None
            rows.append(self.detector.to_prediction(probs[k], path, self.threshold).to_dict())
            k += 1
        return {"path": batch["path"],
                "row": np.array([json.dumps(r, ensure_ascii=False) for r in rows], dtype=object),
                "node": np.array([self.node] * len(rows), dtype=object)}


def default_actors(config: PipelineConfig, cluster_cpus: float) -> int:
    """``--actors`` or as many actors as fit the cluster's CPUs (at least one)."""
    if config.actors:
        return config.actors
    return max(1, math.floor(cluster_cpus / max(config.cpus_per_actor, 1e-9)))


def build_dataset(paths: list[str], model_files: dict[str, bytes], spec: PreprocessSpec,
                  config: PipelineConfig) -> tuple[Any, int]:
    """The lazy Ray Dataset of result rows, and the number of actors it uses;
    ``model_files`` maps file names to contents (see ``engines.model_files``)."""
    ray = import_ray()
    actors = default_actors(config, ray.cluster_resources().get("CPU", 1.0))
    blocks = max(1, min(len(paths), math.ceil(len(paths) / config.batch_size)))
    items = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
    decoded = items.map_batches(
        decode_batch, batch_size=config.batch_size, batch_format="numpy",
        fn_kwargs={"spec_json": spec.to_json()}, num_cpus=config.decode_cpus,
        concurrency=config.decode_tasks or actors)
    rows = decoded.map_batches(
        InferenceActor, batch_size=config.batch_size, batch_format="numpy",
        fn_constructor_kwargs={"model": [ray.put(model_files)], "device": config.device,
                               "threshold": config.threshold, "engine": config.engine,
                               "precision": config.precision},
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=config.cpus_per_actor, num_gpus=config.gpus_per_actor or None)
    return rows, actors


def result_rows(dataset: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Stream ``(row, node id)`` pairs from the running dataset to the driver."""
    for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
        for text, node in zip(batch["row"], batch["node"], strict=True):
            yield json.loads(str(text)), str(node)
