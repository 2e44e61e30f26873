"""Writing a labelled copy of an image: the picture, the verdict, both probabilities."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from anime_detector.detector import Prediction
from anime_detector.file_io import atomic_path

__all__ = ["annotate_image", "annotation_path", "font", "render"]

DISPLAY_MAX = 512
_COLOURS = {"anime": (214, 39, 40), "not_anime": (31, 119, 180)}


def annotation_path(out_dir: Path, source: str, taken: set[str]) -> Path:
    """A unique ``<stem>.png`` in ``out_dir`` for ``source`` (``-2``, ``-3`` on clashes)."""
    stem = Path(source).stem or "image"
    name, n = f"{stem}.png", 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}.png"
    taken.add(name)
    return out_dir / name


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def render(image: Image.Image, prediction: Prediction) -> Image.Image:
    """Return a copy of ``image`` (at most 512 px) with a banner above it."""
    picture = image.copy()
    picture.thumbnail((DISPLAY_MAX, DISPLAY_MAX))
    width = max(picture.width, 260)
    banner = 56
    canvas = Image.new("RGB", (width, picture.height + banner), (255, 255, 255))
    canvas.paste(picture, (0, banner))
    draw = ImageDraw.Draw(canvas)
    colour = _COLOURS.get(prediction.label, (0, 0, 0))
    title = prediction.label.replace("_", " ").capitalize()
    draw.text((8, 4), title, fill=colour, font=font(24))
    probs = "   ".join(f"{k}: {v:.3f}" for k, v in prediction.probabilities.items())
    draw.text((8, 34), probs, fill=(0, 0, 0), font=font(14))
    return canvas


def annotate_image(picture: Image.Image, prediction: Prediction, target: Path) -> Path:
    """Draw ``prediction`` on ``picture`` and save it atomically as PNG at ``target``.

    ``picture``: the image decoded for drawing, under the limits its model input had
    (:meth:`~anime_detector.prediction.Pipeline.picture`).
    """
    canvas = render(picture, prediction)
    with atomic_path(target) as tmp:
        canvas.save(tmp, format="PNG")
    return target
