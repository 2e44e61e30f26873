"""Image preprocessing: the one place that turns an image into model input.

Training (``anime_detector.train``) and the ONNX runtime both call
:func:`preprocess`, so the exported model sees exactly the pixels the Keras
model was trained on. The numbers follow Keras' VGG19 ``preprocess_input``
("caffe" mode): RGB is flipped to BGR and the ImageNet channel means are
subtracted, with no scaling.

Resize filter: Pillow's ``BILINEAR``. Pillow widens the filter support when it
shrinks an image, so this is an antialiased resize (unlike TF's bilinear
resize or Keras' ``load_img`` default, ``nearest``, both of which alias on
large photos). The image is squashed to 224x224 without cropping, as the
original project's ``target_size=(224, 224)`` loader did; encoders that expect it
(timm, CLIP) set ``resize="center-crop"``. Any encoder's numbers fit the spec:
``(pixel - mean) * scale / std`` per channel, in RGB or BGR order, HWC or CHW
(:mod:`anime_detector.encoder_spec` builds specs from named presets).

Fast JPEG decode (``spec.jpeg_draft = k > 0``): libjpeg decodes at the smallest
DCT scale (1/2, 1/4, 1/8) that keeps both sides at least ``k`` times the target
size, before the same antialiased resize. Training and the runtime both get it
from the spec, so they see the same pixels; the VGG19 spec keeps it off (0).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError, features

from anime_detector.decode_budget import DecodeBudget
from anime_detector.errors import InputError
from anime_detector.image_modes import (
    decoded_bytes,
    decoder_bytes,
    pixel_bytes,
    resized_rgb,
    to_rgb,
)

__all__ = [
    "DEFAULT_SPEC",
    "ImageSource",
    "PreprocessSpec",
    "check_image_path",
    "decode_cost",
    "default_decode_bytes",
    "input_shape",
    "load_image",
    "preprocess",
    "preprocess_batch",
]

ImageSource = str | os.PathLike[str] | bytes | IO[bytes] | Image.Image | NDArray[np.uint8]

# Images above this many pixels are refused from their header, before decoding (a
# 120-megapixel PNG can be 0.4 MB on disk and 1.2 GB decoded). It equals Pillow's own
# warning threshold; ``--max-pixels`` raises it (Pillow itself still refuses above twice
# its global ``Image.MAX_IMAGE_PIXELS``, which this module never changes).
MAX_IMAGE_PIXELS = 89_478_485

_ORIENTATION = 0x0112  # the EXIF tag
LAYOUTS = ("NHWC", "NCHW")
RESIZE_MODES = ("squash", "center-crop")
_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class PreprocessSpec:
    """What the model expects: written into the ONNX file, read back by the runtime."""

    height: int = 224
    width: int = 224
    resample: str = "bilinear"
    channel_order: str = "BGR"
    mean: tuple[float, float, float] = field(default=(103.939, 116.779, 123.68))
    scale: float = 1.0
    alpha_background: tuple[int, int, int] = (255, 255, 255)
    jpeg_draft: int = 0  # 0: full-size decode; k: reduced DCT scale keeping >= k x target
    # (pixel - mean) * scale / std: ``mean`` in 0-255 pixel units, ``std`` in scaled units
    # (timm's pretrained_cfg std with scale 1/255).
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    layout: str = "NHWC"  # the array preprocess returns: (H, W, 3), or (3, H, W) for NCHW
    resize: str = "squash"  # squash to size, or center-crop: shorter side to size, then crop

    def __post_init__(self) -> None:
        if self.resample not in _RESAMPLE:
            raise ValueError(f"unknown resample filter {self.resample!r}")
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be RGB or BGR, not {self.channel_order!r}")
        if self.height < 1 or self.width < 1:
            raise ValueError("height and width must be positive")
        if self.jpeg_draft < 0:
            raise ValueError("jpeg_draft must be 0 (off) or a positive size factor")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, "
                             f"not {self.resize!r}")
        if len(self.std) != 3 or not all(v > 0 for v in self.std):
            raise ValueError(f"std must be three positive numbers, not {self.std!r}")

    def to_json(self) -> str:
        """Serialise to the JSON stored in the ONNX metadata.

        Fields added later (``jpeg_draft``, ``std``, ``layout``, ``resize``) are left out
        while they hold their defaults, so specs written before they existed (and the
        feature-cache keys derived from them) stay the same.
        """
        data = asdict(self)
        for key, default in _LATER_FIELDS.items():
            if data[key] == default:
                del data[key]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PreprocessSpec:
        """Rebuild a spec from :meth:`to_json` output."""
        data: dict[str, Any] = json.loads(text)
        data["mean"] = tuple(float(v) for v in data["mean"])
        data["alpha_background"] = tuple(int(v) for v in data["alpha_background"])
        if "std" in data:
            data["std"] = tuple(float(v) for v in data["std"])
        return cls(**data)


DEFAULT_SPEC = PreprocessSpec()
_LATER_FIELDS: dict[str, Any] = {"jpeg_draft": 0, "std": (1.0, 1.0, 1.0), "layout": "NHWC",
                                 "resize": "squash"}


def _describe(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"<{type(source).__name__}>"


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim not in (2, 3):
            raise InputError("<array>", "expected a uint8 array of shape (H, W) or (H, W, C)")
        return Image.fromarray(source)
    if isinstance(source, bytes):
        return Image.open(io.BytesIO(source))
    if isinstance(source, (str, os.PathLike)):
        return Image.open(check_image_path(source))
    return Image.open(source)


def check_image_path(source: str | os.PathLike[str]) -> Path:
    """``source`` as a path to a non-empty file that may be an image, or the reason not.

    The checks every reader of image files makes before opening one (``predict`` here,
    the remote client before it uploads), so both report a bad path in the same words.

    Raises:
        InputError: a folder, a missing file or pattern, an SVG, an empty file.
    """
    path = Path(source)
    if path.is_dir():
        raise InputError(path, "is a directory, not an image")
    if not path.exists():
        reason = "broken symbolic link" if path.is_symlink() else "no such file"
        if not path.is_symlink() and set("*?[") & set(path.name):
            reason = "no image matches this pattern"
        raise InputError(path, reason)
    if path.suffix.lower() in (".svg", ".svgz"):
        raise InputError(path, "unsupported image type: SVG (vector images are not decoded)")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    return path


def _draft(image: Image.Image, spec: PreprocessSpec) -> None:
    """Let libjpeg decode at a reduced scale keeping >= ``jpeg_draft`` x the target size."""
    if spec.jpeg_draft and image.format in ("JPEG", "MPO"):
        side = spec.jpeg_draft * max(spec.width, spec.height)  # either EXIF orientation
        image.draft(None, (side, side))


def _check_size(image: Image.Image, name: str, max_pixels: int) -> None:
    """Refuse an image above ``max_pixels`` from its header, before decoding a pixel."""
    width, height = image.size
    if width * height > max_pixels:
        raise InputError(name, f"image too large: {width}x{height} = "
                         f"{width * height / 1e6:.0f} megapixels > the limit of "
                         f"{max_pixels / 1e6:.0f} (raise it with --max-pixels)")


def _header_orientation(image: Image.Image) -> int:
    """The EXIF orientation the header gives (1 when only decoding would tell: PNG's
    ``getexif`` decodes the image to look for an eXIf chunk after the pixels)."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    return int(image.getexif().get(_ORIENTATION, 1))


def default_decode_bytes(max_pixels: int | None = None) -> int:
    """The decode budget ``predict`` has by default: what one 8-bit RGB image at the pixel
    limit ``max_pixels`` (default :data:`MAX_IMAGE_PIXELS`) takes decoded. Every mode then
    costs at most what RGB does at the limit; those that cost more a pixel (see
    :func:`decode_cost`) are refused at fewer pixels."""
    return (MAX_IMAGE_PIXELS if max_pixels is None else max_pixels) * pixel_bytes("RGB")


def decode_cost(image: Image.Image, for_model: bool = True) -> int:
    """Bytes decoding ``image`` takes at its peak, from its header: the decoded image, what
    its decoder holds besides, its upright copy if the EXIF orientation turns it, and for
    display (not ``for_model``) the full-size RGB result of a non-RGB image. The model
    input is made in strips (see :mod:`anime_detector.image_modes`), so it adds little."""
    decoded = decoded_bytes(image)
    cost = max(decoded + decoder_bytes(image), 2 * decoded if _header_orientation(image) != 1
               else decoded)
    if not for_model and image.mode != "RGB":
        cost += image.size[0] * image.size[1] * pixel_bytes("RGB")
    return cost


def _unrecognised(name: str) -> str:
    """Why Pillow recognised no image in ``name``: an AVIF file this Pillow cannot decode
    (built without libavif, or older than its AVIF plugin), else no image at all."""
    if name.lower().endswith(".avif") and not (
            "avif" in features.modules and features.check_module("avif")):
        return "unsupported image type: AVIF (the installed Pillow cannot decode it)"
    return "not a recognised image file"


@contextlib.contextmanager
def _decoded(source: ImageSource, spec: PreprocessSpec, for_model: bool,
             max_pixels: int | None, budget: DecodeBudget | None) -> Iterator[Image.Image]:
    """The upright image, decoded in its own mode, charged to ``budget`` for the block.

    A file this opens is closed when the block ends (the pixels stay usable); every
    failure, in the block too, becomes one :class:`InputError` line naming the source.
    """
    name = _describe(source)
    try:
        with contextlib.ExitStack() as stack:
            image = _open(source)
            if not isinstance(source, Image.Image):
                stack.enter_context(image)  # closes the file, keeps the pixels
            _check_size(image, name, MAX_IMAGE_PIXELS if max_pixels is None else max_pixels)
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
            if for_model:
                _draft(image, spec)
            if budget is not None:
                width, height = image.size
                what = " ".join(filter(None, (f"{width}x{height}", image.format, image.mode)))
                stack.enter_context(budget.hold(name, decode_cost(image, for_model), what))
            image.load()
            if image.getexif().get(_ORIENTATION, 1) != 1:  # exif_transpose copies always
                image = ImageOps.exif_transpose(image) or image
            yield image
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(name, f"image too large (decompression bomb guard): {exc}") from None
    except UnidentifiedImageError:
        raise InputError(name, _unrecognised(name)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(name, f"cannot decode image: {exc}") from None
    except MemoryError:
        raise InputError(name, "image too large to decode in memory") from None


def load_image(
    source: ImageSource, spec: PreprocessSpec = DEFAULT_SPEC, *, for_model: bool = False,
    max_pixels: int | None = None, budget: DecodeBudget | None = None,
) -> Image.Image:
    """Decode ``source`` into an upright 8-bit RGB image.

    Applies the EXIF orientation, takes frame 0 of animated images, converts
    grey, palette, CMYK and 16-bit images to RGB and composites alpha on
    ``spec.alpha_background``. With ``for_model``, JPEGs may be decoded at a
    reduced scale as ``spec.jpeg_draft`` says (model input only, never for display).
    Images above ``max_pixels`` (default :data:`MAX_IMAGE_PIXELS`) are refused from their
    header, before decoding; Pillow's global limit is left as the host application set it.
    With a ``budget``, the image is charged :func:`decode_cost` while it is decoded.

    Raises:
        InputError: the source cannot be decoded, or is over the budget; the message names
            it and says why.
    """
    with _decoded(source, spec, for_model, max_pixels, budget) as image:
        return to_rgb(image, spec.alpha_background)


def preprocess(source: ImageSource, spec: PreprocessSpec = DEFAULT_SPEC,
               max_pixels: int | None = None, budget: DecodeBudget | None = None
               ) -> NDArray[np.float32]:
    """Return the model input for one image: float32 ``(height, width, 3)``, or
    ``(3, height, width)`` for an NCHW spec.

    Same numbers as ``keras.applications.vgg19.preprocess_input`` applied to
    the resized RGB image (for the default spec). ``max_pixels``, ``budget``: see
    :func:`load_image`. The pixels are those of :func:`resize` on :func:`load_image`'s
    result, but converting to RGB and resizing go strip by strip, so a large image costs
    its decoded size and little more, in any mode.
    """
    with _decoded(source, spec, True, max_pixels, budget) as image:
        if image.size == (spec.width, spec.height):
            small = to_rgb(image, spec.alpha_background)
        else:
            small = _crop(resized_rgb(image, _scaled_size(image.size, spec),
                                      _RESAMPLE[spec.resample], spec.alpha_background), spec)
    return normalize(np.asarray(small, dtype=np.uint8), spec)


def resize(image: Image.Image, spec: PreprocessSpec) -> Image.Image:
    """``image`` at the spec's size: squashed, or (``center-crop``) its shorter side scaled
    to the size and the middle cut out, as timm's and OpenCLIP's eval transforms do."""
    if image.size == (spec.width, spec.height):
        return image
    return _crop(image.resize(_scaled_size(image.size, spec), _RESAMPLE[spec.resample]), spec)


def _scaled_size(size: tuple[int, int], spec: PreprocessSpec) -> tuple[int, int]:
    """The size :func:`resize` scales an image of ``size`` to, before any crop."""
    if spec.resize != "center-crop":
        return spec.width, spec.height
    w, h = size
    ratio = max(spec.width / w, spec.height / h)
    return max(spec.width, round(w * ratio)), max(spec.height, round(h * ratio))


def _crop(image: Image.Image, spec: PreprocessSpec) -> Image.Image:
    """The middle ``spec.width`` x ``spec.height`` of a scaled image (center-crop specs)."""
    if spec.resize != "center-crop":
        return image
    left, top = (image.size[0] - spec.width) // 2, (image.size[1] - spec.height) // 2
    return image.crop((left, top, left + spec.width, top + spec.height))


def normalize(
    pixels: NDArray[np.uint8], spec: PreprocessSpec = DEFAULT_SPEC
) -> NDArray[np.float32]:
    """Channel order, ``(pixel - mean) * scale / std`` and layout for resized RGB uint8
    pixels ``(..., H, W, 3)``."""
    arr = pixels.astype(np.float32)
    if spec.channel_order == "BGR":
        arr = arr[..., ::-1]
    if any(spec.mean):  # skipped when all zero (0-255 RGB specs): same values, less work
        arr = arr - np.asarray(spec.mean, dtype=np.float32)
    if spec.scale != 1.0:
        arr = arr * np.float32(spec.scale)
    if spec.std != (1.0, 1.0, 1.0):
        arr = np.divide(arr, np.asarray(spec.std, dtype=np.float32), dtype=np.float32)
    if spec.layout == "NCHW":
        arr = np.moveaxis(arr, -1, -3)
    return np.ascontiguousarray(arr, dtype=np.float32)


def input_shape(spec: PreprocessSpec) -> tuple[int, int, int]:
    """One preprocessed image's shape: ``(H, W, 3)``, or ``(3, H, W)`` for NCHW."""
    if spec.layout == "NCHW":
        return (3, spec.height, spec.width)
    return (spec.height, spec.width, 3)


def preprocess_batch(
    sources: list[ImageSource], spec: PreprocessSpec = DEFAULT_SPEC
) -> NDArray[np.float32]:
    """Stack :func:`preprocess` over several images into ``(N, height, width, 3)`` (or NCHW)."""
    if not sources:
        return np.zeros((0, *input_shape(spec)), dtype=np.float32)
    return np.stack([preprocess(s, spec) for s in sources])
