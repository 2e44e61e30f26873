"""Random-weight reference models of every backbone, so ``bench`` can compare them untrained.

VGG19's is written with onnx.helper (:mod:`anime_detector.graphs.reference`, no
TensorFlow). Any other backbone is its Keras model (``weights=None``, the same head)
exported once through :func:`anime_detector.export.to_onnx`, verified like any export,
and cached under ``user_cache_dir()/bench``; the cached file then works without
TensorFlow. Latency does not depend on the weights' values.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from anime_detector.choices import DEFAULT_BACKBONE
from anime_detector.errors import AnimeDetectorError
from anime_detector.file_io import user_cache_dir
from anime_detector.graphs.reference import cached_reference_model

__all__ = ["ReferenceModelError", "reference_model"]

VERSION = "v1"  # bump when the head or the export changes, so stale files are not reused


class ReferenceModelError(AnimeDetectorError):
    """A reference model is not cached and cannot be built here."""


def reference_model(backbone: str = DEFAULT_BACKBONE, cache_dir: Path | None = None,
                    log: Callable[[str], None] = print) -> Path:
    """The cached random-weight model of ``backbone`` (built on first use).

    Raises:
        UnknownBackboneError: ``backbone`` is not in the registry.
        ReferenceModelError: not cached, and TensorFlow (the ``[train]`` extra) is missing.
    """
    from anime_detector.train.backbones import get_backbone  # the registry: no TensorFlow

    key = get_backbone(backbone).key
    if key == "vgg19":
        return cached_reference_model(cache_dir)
    path = (cache_dir or user_cache_dir()) / "bench" / f"{key}-head-random-{VERSION}.onnx"
    if not path.exists():
        _build(key, path, log)
    return path


def _build(backbone: str, path: Path, log: Callable[[str], None]) -> None:
    try:
        import keras
        import tf2onnx  # noqa: F401 - only checking that the [train] extra is there
    except ImportError:
        raise ReferenceModelError(
            f"the {backbone} reference model is built once with TensorFlow: "
            "pip install 'anime-detector[train]' (afterwards it is cached in "
            f"{path.parent} and works without it)") from None
    from anime_detector.export.convert import to_onnx
    from anime_detector.train.model import build_model

    log(f"building the {backbone} reference model (random weights) into {path}")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights are the point here
        keras.utils.set_random_seed(0)
        source = Path(tmp) / f"{backbone}-random.keras"
        build_model(None, backbone).save(source)
        to_onnx(source, path, log=log)
