"""Training the VGG19-head classifier (needs the ``[train]`` extra: TensorFlow + Keras).

``build_model`` makes the network; ``train`` fits it on an image folder with a
feature cache and writes a run folder. Images go through the runtime's
``anime_detector.preprocess.preprocess``, the same function the ONNX runtime uses.
"""

from __future__ import annotations

from anime_detector.train.fit import TrainConfig, TrainResult, train
from anime_detector.train.model import WeightsError, build_model

__all__ = ["TrainConfig", "TrainResult", "WeightsError", "build_model", "train"]
