"""How an encoder file wants its pixels: named presets and explicit options -> a spec.

A model file does not say how it was fed, so ``train --backbone PATH`` asks: a preset
(``--preprocess``) and any explicit value on top of it. The result is a
:class:`~anime_detector.preprocessing.PreprocessSpec`, which export writes into the
``.onnx`` so the runtime needs nothing else (as timm's ``pretrained_cfg`` does).

Values follow timm's convention: ``mean`` and ``std`` are in the units of the scaled
pixels (``0.485`` with ``scale = 1/255``); the spec stores ``mean`` in 0-255 units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from anime_detector.preprocessing import RESIZE_MODES, PreprocessSpec

__all__ = ["PRESETS", "EncoderPixels", "encoder_spec", "parse_numbers", "parse_size"]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class EncoderPixels:
    """One preset: channel order, scale, mean and std (scaled units), resize and filter."""

    channel_order: str = "RGB"
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: str = "squash"
    resample: str = "bilinear"


PRESETS: dict[str, EncoderPixels] = {
    "unit": EncoderPixels(scale=1 / 255),  # RGB / 255
    "tf": EncoderPixels(scale=1 / 127.5, mean=(1.0, 1.0, 1.0)),  # -1..1
    "imagenet": EncoderPixels(scale=1 / 255, mean=_IMAGENET_MEAN, std=_IMAGENET_STD),
    "caffe": EncoderPixels(channel_order="BGR", mean=(103.939, 116.779, 123.68)),
    "clip": EncoderPixels(scale=1 / 255, mean=_CLIP_MEAN, std=_CLIP_STD, resize="center-crop",
                          resample="bicubic"),
}


def _three(name: str, values: Sequence[float] | None) -> tuple[float, float, float] | None:
    if values is None:
        return None
    if len(values) == 1:
        values = [values[0]] * 3
    if len(values) != 3:
        raise ValueError(f"--{name} takes one or three numbers, not {len(values)}")
    return (float(values[0]), float(values[1]), float(values[2]))


def encoder_spec(
    preset: str, size: tuple[int, int], *, layout: str = "NHWC",
    mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
    scale: float | None = None, channel_order: str | None = None, resize: str | None = None,
) -> PreprocessSpec:
    """The spec for an encoder: ``preset`` with each explicit value on top.

    Args:
        preset: a key of :data:`PRESETS`.
        size: ``(height, width)`` of the encoder's input.
        layout: ``NHWC`` or ``NCHW``, as the encoder takes it.

    Raises:
        ValueError: an unknown preset or an impossible value (one line).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown --preprocess {preset!r}; choose one of {', '.join(PRESETS)}")
    base = PRESETS[preset]
    scale = base.scale if scale is None else float(scale)
    if scale <= 0:
        raise ValueError(f"--scale must be positive, not {scale}")
    mean3 = _three("mean", mean) or base.mean
    order = (channel_order or base.channel_order).upper()
    if order not in ("RGB", "BGR"):
        raise ValueError(f"--channel-order must be RGB or BGR, not {channel_order!r}")
    if resize is not None and resize not in RESIZE_MODES:
        raise ValueError(f"--resize must be one of {', '.join(RESIZE_MODES)}, not {resize!r}")
    return PreprocessSpec(
        height=size[0], width=size[1], resample=base.resample,
        channel_order=order,
        mean=(round(mean3[0] / scale, 6), round(mean3[1] / scale, 6),
              round(mean3[2] / scale, 6)),
        scale=scale, std=_three("std", std) or base.std, layout=layout,
        resize=resize or base.resize,
    )


def parse_numbers(name: str, text: str | None) -> tuple[float, ...] | None:
    """``--mean 0.485,0.456,0.406`` (or one number, or fractions like ``1/255``)."""
    if text is None:
        return None
    try:
        return tuple(_number(part) for part in text.replace(" ", "").split(",") if part)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"--{name} {text!r}: expected numbers separated by commas") from None


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``--input-size 224``, ``224x192`` or ``224,192`` as (height, width)."""
    if text is None:
        return None
    parts = text.lower().replace("x", ",").split(",")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes, default=0) < 1:
        raise ValueError(f"--input-size {text!r}: expected H, HxW or H,W (positive integers)")
    return (sizes[0], sizes[-1])


def _number(text: str) -> float:
    if "/" in text:
        top, bottom = text.split("/", 1)
        return float(top) / float(bottom)
    return float(text)
