"""The network: a frozen ImageNet backbone (VGG19 by default) + a small dense head.

GlobalAveragePooling2D -> Dropout(0.5) -> Dense(256, relu) -> Dropout(0.3) ->
Dense(128, relu) -> Dropout(0.2) -> Dense(2, softmax). On VGG19 (frozen through
block5_pool): 20,188,866 parameters, 164,482 trainable, as in the original project.
Other backbones come from :mod:`anime_detector.train.backbones`. The head's layers are
shared by two models: the full network and a head-only model fit on cached features.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from anime_detector.contract import DEFAULT_LABELS
from anime_detector.errors import ModelError, describe_error, one_line
from anime_detector.train.backbones import BACKBONES as REGISTRY
from anime_detector.train.backbones import (
    DEFAULT_BACKBONE,
    INPUT_SHAPE,
    Backbone,
    WeightsError,
    build_base,
    get_backbone,
    model_name,
)
from anime_detector.train.encoder_file import (
    CUSTOM_KEY,
    EncoderInfo,
    OnnxFeatures,
    keras_output,
    load_keras_encoder,
    read_sidecar,
)

__all__ = ["HEADS", "ModelParts", "WeightsError", "build_encoder_parts", "build_model",
           "build_parts", "head_layers", "load_saved_model_run", "resolve_weights"]

log = logging.getLogger(__name__)

DROPOUT_RATES = (0.5, 0.3, 0.2)
HEADS = ("seed", "linear")
RANDOM_BACKBONE_WARNING = (
    "weights=none: the {name} backbone is random, not ImageNet-trained; predictions will be "
    "poor (scores cluster near 0.5). Use this only for tests and smoke runs."
)


@dataclass
class ModelParts:
    """The full model plus the two halves that share its layers."""

    model: Any  # keras.Model: image -> probabilities
    extractor: Any  # keras.Model: image -> pooled features
    head: Any  # keras.Model: pooled features -> probabilities


def resolve_weights(weights: str | os.PathLike[str] | None,
                    backbone: Backbone = REGISTRY["vgg19"]) -> str | None:
    """Return a local weights path, or None for a random backbone.

    ``"imagenet"`` downloads (and caches) the backbone's no-top file with Keras;
    a path must point at that file; ``None``/``"none"`` means random.
    """
    if weights is None or str(weights).lower() == "none":
        warnings.warn(RANDOM_BACKBONE_WARNING.format(name=backbone.display), stacklevel=3)
        return None
    if str(weights).lower() != "imagenet":
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"{path}: weights file not found (expected "
                               f"{backbone.weights_file})")
        return str(path)
    url = backbone.weights_url + backbone.weights_file
    try:
        with contextlib.redirect_stdout(sys.stderr):  # "Downloading data from": not a result
            return str(keras.utils.get_file(backbone.weights_file, url, cache_subdir="models",
                                            file_hash=backbone.weights_md5))
    except Exception as exc:
        reason = describe_error(exc)
        raise WeightsError(
            f"cannot download the ImageNet {backbone.display} weights ({reason}). Fetch "
            f"{backbone.weights_file} from {url} on a connected machine and pass "
            "--weights PATH, or use --weights none for a random backbone (smoke runs only)"
        ) from None


def _tiny() -> Any:
    """A small stand-in for plumbing tests, never for real use."""
    inp = keras.Input(INPUT_SHAPE)
    x = keras.layers.Conv2D(8, 5, strides=4, activation="relu")(inp)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    return keras.Model(inp, keras.layers.MaxPooling2D(2, name="tiny_pool")(x), name="tiny")


def _backbone(weights: str | os.PathLike[str] | None, backbone: str) -> Any:
    if backbone == "tiny":
        return _tiny()
    entry = get_backbone(backbone)
    return build_base(entry, resolve_weights(weights, entry))


def head_layers(head: str = "seed") -> list[Any]:
    """The head after pooling: the seed's dropout/dense stack, or one dense layer (``linear``)."""
    out = keras.layers.Dense(len(DEFAULT_LABELS), activation="softmax", name="predictions")
    if head == "linear":
        return [out]
    if head != "seed":
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    return [
        keras.layers.Dropout(DROPOUT_RATES[0], name="dropout_1"),
        keras.layers.Dense(256, activation="relu", name="dense_256"),
        keras.layers.Dropout(DROPOUT_RATES[1], name="dropout_2"),
        keras.layers.Dense(128, activation="relu", name="dense_128"),
        keras.layers.Dropout(DROPOUT_RATES[2], name="dropout_3"),
        out,
    ]


def _assemble(inputs: Any, features: Any, head: str, name: str) -> ModelParts:
    """The full model, the extractor (image -> features) and the head, sharing layers."""
    head_in = keras.Input((int(features.shape[-1]),), name="features")
    x, y = features, head_in
    for layer in head_layers(head):
        x, y = layer(x), layer(y)
    return ModelParts(keras.Model(inputs, x, name=name),
                      keras.Model(inputs, features, name="extractor"),
                      keras.Model(head_in, y, name="head"))


def build_parts(
    weights: str | os.PathLike[str] | None = "imagenet", backbone: str = DEFAULT_BACKBONE,
    head: str = "seed",
) -> ModelParts:
    """Build the full model, the feature extractor and the head (sharing layers)."""
    key = backbone if backbone == "tiny" else get_backbone(backbone).key
    base = _backbone(weights, key)
    base.trainable = False
    features = keras.layers.GlobalAveragePooling2D(name="global_pool")(base.output)
    return _assemble(base.input, features, head, model_name(key))


def build_encoder_parts(info: EncoderInfo, head: str = "seed") -> ModelParts:
    """The head on an encoder file, frozen.

    A Keras encoder is called as one layer of the full model (pooled when its output is a
    map), so ``model.keras`` is the whole network. An ONNX encoder stays outside Keras:
    the model is the head alone and the extractor runs the file on onnxruntime.
    """
    if info.kind == "onnx":
        head_in = keras.Input((info.channels,), name="features")
        y = head_in
        for layer in head_layers(head):
            y = layer(y)
        model = keras.Model(head_in, y, name=model_name(CUSTOM_KEY))
        return ModelParts(model, OnnxFeatures(info), model)
    encoder = load_keras_encoder(info.path)
    encoder.trainable = False
    if tuple(encoder.inputs[0].shape[1:3]) == info.size:  # its own layers, in one graph
        image, features = encoder.inputs[0], keras_output(encoder, info.output or None)
    else:  # a dynamic size: called as one layer on an input of the chosen size
        if info.output:
            encoder = keras.Model(encoder.inputs, keras_output(encoder, info.output),
                                  name="encoder")
        image = keras.Input((*info.size, 3), name="image")
        features = encoder(image)
    if info.output_kind == "map":
        features = keras.layers.GlobalAveragePooling2D(name="global_pool")(features)
    return _assemble(image, features, head, model_name(CUSTOM_KEY))


def load_saved_model_run(model_path: Path) -> Any | None:
    """A run trained on a SavedModel encoder: its model rebuilt from ``backbone.json`` with
    the trained weights of ``model_path``. Keras' safe mode refuses to deserialize the
    SavedModel layer inside the saved ``model.keras``; ``None`` for every other model."""
    encoder = read_sidecar(model_path)
    if encoder is None or encoder[0].kind != "saved_model":
        return None
    info, _, head = encoder
    model = build_encoder_parts(info, head).model
    try:
        model.load_weights(model_path)
    except Exception as exc:
        raise ModelError(model_path, f"cannot load the trained weights: {one_line(exc)}") from None
    return model


def build_model(
    weights: str | os.PathLike[str] | None = "imagenet", backbone: str = DEFAULT_BACKBONE
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
