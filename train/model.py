"""The network: VGG19 (ImageNet, frozen through block5_pool) + a small dense head.

GlobalAveragePooling2D -> Dropout(0.5) -> Dense(256, relu) -> Dropout(0.3) ->
Dense(128, relu) -> Dropout(0.2) -> Dense(2, softmax): 20,188,866 parameters,
164,482 trainable, as in the original project. The head's layers are shared by
two models: the full network and a head-only model fit on cached features.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from anime_detector.contract import DEFAULT_LABELS
from anime_detector.errors import AnimeDetectorError, describe_error

__all__ = ["ModelParts", "WeightsError", "build_model", "build_parts", "resolve_weights"]

log = logging.getLogger(__name__)

INPUT_SHAPE = (224, 224, 3)
DROPOUT_RATES = (0.5, 0.3, 0.2)
WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + WEIGHTS_FILE
WEIGHTS_MD5 = "253f8cb515780f3b799900260a226db6"
BACKBONES = ("vgg19", "tiny")
RANDOM_BACKBONE_WARNING = (
    "weights=none: the VGG19 backbone is random, not ImageNet-trained; predictions will be "
    "poor (scores cluster near 0.5). Use this only for tests and smoke runs."
)


class WeightsError(AnimeDetectorError):
    """The backbone weights cannot be obtained or read."""


@dataclass
class ModelParts:
    """The full model plus the two halves that share its layers."""

    model: Any  # keras.Model: image -> probabilities
    extractor: Any  # keras.Model: image -> pooled features
    head: Any  # keras.Model: pooled features -> probabilities


def resolve_weights(weights: str | os.PathLike[str] | None) -> str | None:
    """Return a local weights path, or None for a random backbone.

    ``"imagenet"`` downloads (and caches) the no-top file with Keras;
    a path must point at that file; ``None``/``"none"`` means random.
    """
    if weights is None or str(weights).lower() == "none":
        warnings.warn(RANDOM_BACKBONE_WARNING, stacklevel=3)
        return None
    if str(weights).lower() != "imagenet":
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"{path}: weights file not found (expected {WEIGHTS_FILE})")
        return str(path)
    try:
        return str(keras.utils.get_file(WEIGHTS_FILE, WEIGHTS_URL, cache_subdir="models",
                                        file_hash=WEIGHTS_MD5))
    except Exception as exc:
        reason = describe_error(exc)
        raise WeightsError(
            f"cannot download the ImageNet VGG19 weights ({reason}). Fetch {WEIGHTS_FILE} "
            f"from {WEIGHTS_URL} on a connected machine and pass --weights PATH, "
            "or use --weights none for a random backbone (smoke runs only)"
        ) from None


def _backbone(weights_path: str | None, backbone: str) -> Any:
    if backbone == "vgg19":
        base = keras.applications.VGG19(include_top=False, weights=None, input_shape=INPUT_SHAPE)
        if weights_path:
            try:
                base.load_weights(weights_path)
            except Exception as exc:
                raise WeightsError(f"{weights_path}: cannot load VGG19 weights: {exc}") from None
        return base
    if backbone == "tiny":  # a small stand-in for plumbing tests, never for real use
        inp = keras.Input(INPUT_SHAPE)
        x = keras.layers.Conv2D(8, 5, strides=4, activation="relu")(inp)
        x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
        return keras.Model(inp, keras.layers.MaxPooling2D(2, name="tiny_pool")(x), name="tiny")
    raise ValueError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")


def build_parts(
    weights: str | os.PathLike[str] | None = "imagenet", backbone: str = "vgg19"
) -> ModelParts:
    """Build the full model, the feature extractor and the head (sharing layers)."""
    base = _backbone(resolve_weights(weights) if backbone == "vgg19" else None, backbone)
    base.trainable = False
    features = keras.layers.GlobalAveragePooling2D(name="global_pool")(base.output)
    head_layers = [
        keras.layers.Dropout(DROPOUT_RATES[0], name="dropout_1"),
        keras.layers.Dense(256, activation="relu", name="dense_256"),
        keras.layers.Dropout(DROPOUT_RATES[1], name="dropout_2"),
        keras.layers.Dense(128, activation="relu", name="dense_128"),
        keras.layers.Dropout(DROPOUT_RATES[2], name="dropout_3"),
        keras.layers.Dense(len(DEFAULT_LABELS), activation="softmax", name="predictions"),
    ]
    head_in = keras.Input((int(features.shape[-1]),), name="features")
    x, y = features, head_in
    for layer in head_layers:
        x, y = layer(x), layer(y)
    model = keras.Model(base.input, x, name="anime_detector")
    return ModelParts(model, keras.Model(base.input, features, name="extractor"),
                      keras.Model(head_in, y, name="head"))


def build_model(
    weights: str | os.PathLike[str] | None = "imagenet", backbone: str = "vgg19"
) -> Any:
    """The full Keras model (image in, ``[p(anime), p(not_anime)]`` out)."""
    return build_parts(weights, backbone).model


def compile_for_training(model: Any, learning_rate: float = 1e-3) -> None:
    """Adam + binary cross-entropy over the two softmax outputs, as the original."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
