"""What ``batch`` and ``serve --ray`` both do with Ray: start or join it, size a worker's
threads to the CPUs Ray gave it, and ship the model to workers on other nodes.

``ray`` is imported inside the functions: importing this module needs no Ray. The model's
files (one ``.onnx``, or an ncnn folder's three: ``engines.model_files``) travel once
through Ray's object store, so worker nodes need not see the driver's model path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from anime_detector.detector import Detector
from anime_detector.engines import model_files
from anime_detector.errors import AnimeDetectorError
from anime_detector.system import available_cpus

__all__ = ["RAY_HINT", "RayMissingError", "ShippedModel", "import_ray", "open_model",
           "ray_session", "ship_model", "worker_threads"]

RAY_HINT = "Ray is not installed: pip install 'anime-detector[cpu,ray]'"

ShippedModel = list[Any]  # [the ObjectRef of engines.model_files' bytes]: picklable


class RayMissingError(AnimeDetectorError):
    """The ``[ray]`` extra is not installed."""

    def __init__(self) -> None:
        super().__init__(RAY_HINT)


def import_ray() -> Any:
    """``import ray`` with Ray Data, or :class:`RayMissingError`."""
    try:
        import ray.data  # noqa: F401  (pyarrow and pandas come with it)
    except ImportError:
        raise RayMissingError() from None
    return _ray()


def _ray() -> Any:
    """``import ray`` (Ray Serve's extra has no Ray Data), or :class:`RayMissingError`."""
    try:
        import ray
    except ImportError:
        raise RayMissingError() from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None, log_to_driver: bool = False) -> Iterator[Any]:
    """Attach to ``address``, use an already running Ray, or start a local one with the
    CPUs this process may use; a Ray started here is shut down at the end."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING",
                                   "log_to_driver": log_to_driver}
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(address="local", num_cpus=available_cpus(), **options)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def worker_threads() -> int:
    """The CPUs Ray gave the calling actor or replica (at least one): its engine threads."""
    context = _ray().get_runtime_context()
    return max(1, int(context.get_assigned_resources().get("CPU", 1) or 1))


def ship_model(model: str | os.PathLike[str]) -> ShippedModel:
    """The model's files in Ray's object store, owned by this (driver) process."""
    files = {name: path.read_bytes() for name, path in model_files(model).items()}
    return [_ray().put(files)]


def open_model(model: str | os.PathLike[str] | ShippedModel, **load_options: Any
               ) -> Detector:
    """The :class:`Detector` of a worker: ``model`` shipped (:func:`ship_model`) or a path
    this node has, with one engine thread per CPU Ray gave the worker."""
    options = {"threads": worker_threads(), **load_options}
    if isinstance(model, list):
        return Detector.from_files(_ray().get(model[0]), **options)
    return Detector.load(model, **options)
