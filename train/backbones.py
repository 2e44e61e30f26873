"""The backbone registry: which ImageNet networks ``train --backbone`` can put under the head.

Each entry names the ``keras.applications`` constructor, where the frozen part ends
(its last feature map: the whole no-top network), the no-top ImageNet weights file
(name, URL and MD5, as Keras itself downloads it) and the :class:`PreprocessSpec`
the network expects. The spec is what training feeds the network and what export
writes into the ONNX metadata, so the runtime needs no backbone-specific code.

VGG19 expects caffe-style input (BGR minus the ImageNet means). MobileNetV3 and
EfficientNetV2 in ``keras.applications`` rescale inside the network
(``include_preprocessing=True``) and expect plain 0-255 RGB; their JPEGs are also
decoded at a reduced DCT scale (``jpeg_draft=2``, see ``anime_detector.preprocessing``).

This module imports Keras only inside :func:`build_base`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from anime_detector.choices import DEFAULT_BACKBONE
from anime_detector.errors import AnimeDetectorError
from anime_detector.preprocessing import DEFAULT_SPEC, PreprocessSpec

__all__ = ["BACKBONES", "DEFAULT_BACKBONE", "Backbone", "UnknownBackboneError", "WeightsError",
           "backbone_of_model", "build_base", "calibrate_batchnorm", "get_backbone", "model_name",
           "spec_for"]

MODEL_NAME = "anime_detector"  # the full model's name; other backbones append "_<key>"
INPUT_SHAPE = (DEFAULT_SPEC.height, DEFAULT_SPEC.width, 3)  # the one size: the spec's
_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"

RGB_0_255 = PreprocessSpec(channel_order="RGB", mean=(0.0, 0.0, 0.0), scale=1.0, jpeg_draft=2)


class WeightsError(AnimeDetectorError):
    """The backbone weights cannot be obtained or read."""


class UnknownBackboneError(AnimeDetectorError, ValueError):
    """A backbone name that is not in the registry."""


@dataclass(frozen=True)
class Backbone:
    """One registry entry; ``key`` is the lower-case name used on the command line."""

    key: str
    constructor: str  # attribute of keras.applications
    module: str  # keras.applications.<module>, whose preprocess_input the spec reproduces
    feature_layer: str  # the last frozen layer (the feature map the head pools)
    channels: int  # channels of that feature map (the head's input width)
    weights_file: str
    weights_url: str
    weights_md5: str
    spec: PreprocessSpec

    @property
    def display(self) -> str:
        return self.constructor


BACKBONES: dict[str, Backbone] = {b.key: b for b in (
    Backbone("vgg19", "VGG19", "vgg19", "block5_pool", 512,
             "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", _APPS + "vgg19/",
             "253f8cb515780f3b799900260a226db6", DEFAULT_SPEC),
    Backbone("mobilenetv3small", "MobileNetV3Small", "mobilenet_v3", "conv_1 (hard-swish)", 576,
             "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5", _APPS + "mobilenet_v3/",
             "d3e8ec802a04aa4fc771ee12a9a9b836", RGB_0_255),
    Backbone("mobilenetv3large", "MobileNetV3Large", "mobilenet_v3", "conv_1 (hard-swish)", 960,
             "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5", _APPS + "mobilenet_v3/",
             "07fb09a5933dd0c8eaafa16978110389", RGB_0_255),
    Backbone("efficientnetv2b0", "EfficientNetV2B0", "efficientnet_v2", "top_activation", 1280,
             "efficientnetv2-b0_notop.h5", _APPS + "efficientnet_v2/",
             "893217f2bb855e2983157299931e43ff", RGB_0_255),
)}
_TEST_ONLY = ("tiny",)  # a small stand-in network for plumbing tests (see train.model)


def get_backbone(name: str) -> Backbone:
    """The registry entry for ``name`` (case, ``-`` and ``_`` ignored: ``MobileNetV3Small``)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key in BACKBONES:
        return BACKBONES[key]
    raise UnknownBackboneError(f"unknown backbone {name!r}; choose one of "
                               f"{', '.join(BACKBONES)}")


def model_name(key: str) -> str:
    """The full Keras model's name: ``anime_detector`` for VGG19, else suffixed."""
    return MODEL_NAME if key == DEFAULT_BACKBONE else f"{MODEL_NAME}_{key}"


def backbone_of_model(model: Any) -> str:
    """The backbone key a trained model was built on, read from its name.

    Models without a suffix (every VGG19 model, the original project's files) are VGG19.
    """
    name = str(getattr(model, "name", ""))
    suffix = name[len(MODEL_NAME) + 1:] if name.startswith(MODEL_NAME + "_") else ""
    return suffix if suffix in BACKBONES or suffix in _TEST_ONLY else DEFAULT_BACKBONE


def spec_for(key: str) -> PreprocessSpec:
    """The preprocessing spec of a backbone key (the test stand-in uses VGG19's)."""
    return DEFAULT_SPEC if key in _TEST_ONLY else get_backbone(key).spec


def calibrate_batchnorm(base: Any, spec: PreprocessSpec, images: int = 8) -> None:
    """Set every BatchNormalization's moving statistics from one batch of generated images.

    A random (``--weights none``) MobileNetV3 or EfficientNetV2 in inference mode
    shrinks its activations layer by layer (pooled features ~1e-10 on MobileNetV3Small),
    so every image gets the same score and export checks compare constants. One
    training-mode pass with momentum 0 makes each layer's statistics match its input,
    as trained ImageNet weights would: features then differ between images. Weights
    stay random; networks without BatchNormalization (VGG19) are left untouched.
    """
    import keras

    from anime_detector.preprocessing import preprocess
    from anime_detector.train.synthetic import synthetic_images

    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return
    batch = np.stack([preprocess(img, spec) for img in synthetic_images(images, seed=0)])
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    try:
        base(batch, training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum


def build_base(backbone: Backbone, weights_path: str | None) -> Any:
    """The no-top network: ``weights_path`` loaded, or random with calibrated statistics."""
    import keras

    constructor = getattr(keras.applications, backbone.constructor)
    base = constructor(include_top=False, weights=None, input_shape=INPUT_SHAPE)
    if weights_path is None:
        calibrate_batchnorm(base, backbone.spec)
    else:
        try:
            base.load_weights(weights_path)
        except Exception as exc:
            raise WeightsError(f"{weights_path}: cannot load {backbone.display} weights: "
                               f"{' '.join(str(exc).split())[:200]}") from None
    return base
