"""Image files in every pixel mode Pillow decodes to, at a chosen size: the "mode bombs".

Each file is small on disk (flat colour, compressed) and large decoded, so it measures what
decoding and converting a mode costs. ``tests/runtime/test_decode_memory.py`` writes them
small; ``benchmarks/decode_memory.py`` writes them at the pixel limit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = ["MODE_FILES", "write_mode_file"]

Size = tuple[int, int]
_DEFLATE = {"compression": "tiff_deflate"}


def _palette(size: Size) -> Image.Image:
    image = Image.new("P", size, 3)
    image.putpalette([(i * 37) % 256 for i in range(768)])
    return image


def _frames(mode: str, size: Size) -> list[Image.Image]:
    return [Image.new("RGBA", size, (200, 30, 60, 255)).convert(mode),
            Image.new("RGBA", size, (20, 130, 60, 255)).convert(mode)]


def _animated(mode: str, fmt: str) -> Callable[[Size], tuple[Image.Image, dict[str, Any]]]:
    def make(size: Size) -> tuple[Image.Image, dict[str, Any]]:
        first, *rest = _frames(mode, size)
        extra = _DEFLATE if fmt == "TIFF" else {}
        return first, {"format": fmt, "save_all": True, "append_images": rest, **extra}
    return make


# name -> (what Pillow decodes it to, how to make it at a size)
MODE_FILES: dict[str, tuple[str, Callable[[Size], tuple[Image.Image, dict[str, Any]]]]] = {
    "rgb.png": ("RGB", lambda s: (Image.new("RGB", s, (200, 30, 60)), {"format": "PNG"})),
    "rgb.jpg": ("RGB", lambda s: (Image.new("RGB", s, (200, 30, 60)), {"format": "JPEG"})),
    "grey.png": ("L", lambda s: (Image.new("L", s, 90), {"format": "PNG"})),
    "bilevel.png": ("1", lambda s: (Image.new("1", s, 1), {"format": "PNG"})),
    "grey-alpha.png": ("LA", lambda s: (Image.new("LA", s, (90, 128)), {"format": "PNG"})),
    "palette.png": ("P", lambda s: (_palette(s), {"format": "PNG"})),
    "palette-transparent.png": ("P", lambda s: (_palette(s), {"format": "PNG",
                                                              "transparency": 3})),
    "rgba.png": ("RGBA", lambda s: (Image.new("RGBA", s, (200, 30, 60, 128)),
                                    {"format": "PNG"})),
    "rgba.webp": ("RGBA", lambda s: (Image.new("RGBA", s, (200, 30, 60, 128)),
                                     {"format": "WEBP", "method": 0, "quality": 10})),
    "rgba.avif": ("RGBA", lambda s: (Image.new("RGBA", s, (200, 30, 60, 128)),
                                     {"format": "AVIF", "speed": 10, "quality": 10})),
    "grey16.png": ("I;16", lambda s: (Image.new("I;16", s, 3000), {"format": "PNG"})),
    "grey16.tif": ("I;16", lambda s: (Image.new("I;16", s, 3000), {"format": "TIFF",
                                                                    **_DEFLATE})),
    "int32.tif": ("I", lambda s: (Image.new("I", s, 70000), {"format": "TIFF", **_DEFLATE})),
    "float32.tif": ("F", lambda s: (Image.new("F", s, 0.5), {"format": "TIFF", **_DEFLATE})),
    "cmyk.jpg": ("CMYK", lambda s: (Image.new("CMYK", s, (0, 255, 255, 0)),
                                    {"format": "JPEG"})),
    "cmyk.tif": ("CMYK", lambda s: (Image.new("CMYK", s, (0, 255, 255, 0)),
                                    {"format": "TIFF", **_DEFLATE})),
    "lab.tif": ("LAB", lambda s: (Image.new("LAB", s, (50, 0, 0)), {"format": "TIFF",
                                                                     **_DEFLATE})),
    "animated.gif": ("P", _animated("P", "GIF")),
    "animated.png": ("RGBA", _animated("RGBA", "PNG")),
    "pages.tif": ("RGB", _animated("RGB", "TIFF")),
}


def write_mode_file(folder: Path, name: str, size: Size) -> Path:
    """Write ``MODE_FILES[name]`` at ``size`` into ``folder``; return its path."""
    image, options = MODE_FILES[name][1](size)
    path = folder / name
    image.save(path, **options)
    return path
