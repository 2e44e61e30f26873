"""anime-detector: tell anime character art from photos and western cartoons.

The runtime (this package) needs only numpy, Pillow, typer and an inference engine
(onnxruntime by default); it never imports TensorFlow, keras or tf2onnx. Training and
export live in ``anime_detector.train`` and ``anime_detector.export`` (the ``[train]``
extra). The public names below load on first use, so ``import anime_detector.cli`` (and
``--help``) stays light and Ctrl-C during start-up can be handled cleanly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from anime_detector import extra_engines  # noqa: F401  (registers the Keras engines; light)
from anime_detector._version import __version__

if TYPE_CHECKING:
    from anime_detector.detector import Detector, Failure, Prediction, load_detector
    from anime_detector.engines import (
        ENGINES,
        Engine,
        EngineInfo,
        EngineUnavailable,
        open_engine,
    )
    from anime_detector.errors import AnimeDetectorError, DeviceError, InputError, ModelError
    from anime_detector.preprocessing import DEFAULT_SPEC, PreprocessSpec, load_image, preprocess

_PUBLIC = {
    "anime_detector.detector": ("Detector", "Failure", "Prediction", "load_detector"),
    "anime_detector.engines": ("ENGINES", "Engine", "EngineInfo", "EngineUnavailable",
                               "open_engine"),
    "anime_detector.errors": ("AnimeDetectorError", "DeviceError", "InputError", "ModelError"),
    "anime_detector.preprocessing": ("DEFAULT_SPEC", "PreprocessSpec", "load_image", "preprocess"),
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = [
    "DEFAULT_SPEC",
    "ENGINES",
    "AnimeDetectorError",
    "Detector",
    "DeviceError",
    "Engine",
    "EngineInfo",
    "EngineUnavailable",
    "Failure",
    "InputError",
    "ModelError",
    "Prediction",
    "PreprocessSpec",
    "__version__",
    "load_detector",
    "load_image",
    "open_engine",
    "preprocess",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'anime_detector' has no attribute {name!r}")
