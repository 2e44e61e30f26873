"""Builders for awkward and broken image files; each returns the path it wrote.

``ERRORS`` maps a case to a fragment of the one-line error it must produce;
``ODD_BUT_VALID`` lists cases that must be predicted normally.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def zero_byte(d: Path) -> Path:
    p = d / "empty.jpg"
    p.write_bytes(b"")
    return p


def text_as_jpg(d: Path) -> Path:
    p = d / "notes.jpg"
    p.write_text("this is not an image\n")
    return p


def truncated_jpeg(d: Path) -> Path:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3), np.uint8)).save(
        buf, "JPEG", quality=90)
    p = d / "truncated.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    return p


def corrupt_png_chunk(d: Path) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF  # flip bits inside the compressed data: CRC no longer matches
    p = d / "corrupt.png"
    p.write_bytes(bytes(data))
    return p


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def decompression_bomb(d: Path) -> Path:
    """A ~100-byte PNG that declares 30000x30000 pixels."""
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(
        b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b"")
    p = d / "bomb.png"
    p.write_bytes(data)
    return p


def svg_file(d: Path) -> Path:
    p = d / "vector.svg"
    p.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    return p


def directory_named_jpg(d: Path) -> Path:
    p = d / "folder.jpg"
    p.mkdir()
    return p


def broken_symlink(d: Path) -> Path:
    p = d / "dangling.png"
    os.symlink(d / "does-not-exist.png", p)
    return p


ERRORS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "zero_byte": (zero_byte, "empty file"),
    "text_as_jpg": (text_as_jpg, "not a recognised image"),
    "truncated_jpeg": (truncated_jpeg, "cannot decode"),
    "corrupt_png_chunk": (corrupt_png_chunk, "cannot decode"),
    "decompression_bomb": (decompression_bomb, "image too large"),
    "svg": (svg_file, "unsupported image type: SVG"),
    "directory_named_jpg": (directory_named_jpg, "is a directory"),
    "broken_symlink": (broken_symlink, "broken symbolic link"),
}


def one_pixel(d: Path) -> Path:
    p = d / "one.png"
    Image.new("RGB", (1, 1), (0, 0, 255)).save(p)
    return p


def grey16_png(d: Path) -> Path:
    p = d / "grey16.png"
    Image.fromarray(np.full((20, 20), 40000, np.uint16)).save(p)
    return p


def grey_jpeg(d: Path) -> Path:
    p = d / "grey.jpg"
    Image.new("L", (20, 20), 128).save(p)
    return p


def cmyk_jpeg(d: Path) -> Path:
    p = d / "cmyk.jpg"
    Image.new("CMYK", (20, 20), (255, 0, 0, 0)).save(p)
    return p


def palette_png_transparent(d: Path) -> Path:
    p = d / "palette.png"
    img = Image.new("P", (20, 20), 0)
    img.putpalette([0, 0, 255, 255, 0, 0] + [0] * 762)
    img.save(p, transparency=1)
    return p


def rgba_png(d: Path) -> Path:
    p = d / "rgba.png"
    Image.new("RGBA", (20, 20), (0, 0, 255, 128)).save(p)
    return p


def animated_gif(d: Path) -> Path:
    p = d / "anim.gif"
    frames = [Image.new("RGB", (20, 20), c) for c in ((0, 0, 255), (255, 0, 0))]
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return p


def exif_rotated(d: Path) -> Path:
    p = d / "rotated.jpg"
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(p, exif=exif)
    return p


def very_wide(d: Path) -> Path:
    p = d / "wide.png"
    Image.new("RGB", (4000, 50), (0, 0, 255)).save(p)
    return p


def odd_name(d: Path) -> Path:
    p = d / "ünïcödé name 画像.PNG"
    Image.new("RGB", (20, 20), (0, 0, 255)).save(p, format="PNG")
    return p


def webp_bmp_tiff(d: Path) -> Path:
    p = d / "photo.WebP"
    Image.new("RGB", (20, 20), (0, 0, 255)).save(p, format="WEBP")
    return p


ODD_BUT_VALID: dict[str, Callable[[Path], Path]] = {
    "one_pixel": one_pixel,
    "grey16_png": grey16_png,
    "grey_jpeg": grey_jpeg,
    "cmyk_jpeg": cmyk_jpeg,
    "palette_png_transparent": palette_png_transparent,
    "rgba_png": rgba_png,
    "animated_gif": animated_gif,
    "exif_rotated": exif_rotated,
    "very_wide": very_wide,
    "odd_name": odd_name,
    "webp_upper_case": webp_bmp_tiff,
}
