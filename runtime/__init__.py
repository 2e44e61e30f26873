"""anime-detector: tell anime character art from photos and western cartoons.

The runtime (this package) needs only onnxruntime, numpy, Pillow and typer;
it never imports TensorFlow, keras or tf2onnx. Training and export live in
``anime_detector.train`` and ``anime_detector.export`` (the ``[train]`` extra).
"""

from __future__ import annotations

from anime_detector._version import __version__
from anime_detector.detector import Detector, Failure, Prediction, load_detector
from anime_detector.engines import ENGINES, Engine, EngineInfo, EngineUnavailable, open_engine
from anime_detector.errors import AnimeDetectorError, DeviceError, InputError, ModelError
from anime_detector.preprocess import DEFAULT_SPEC, PreprocessSpec, load_image, preprocess

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
