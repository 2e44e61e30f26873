"""Expanding command-line INPUT arguments (files, folders, globs) into image paths."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "expand_inputs", "is_image_name"]

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
)
# Listed so that a folder scan reports them as unsupported instead of hiding them.
UNSUPPORTED_SUFFIXES = frozenset({".svg", ".svgz"})
_GLOB_CHARS = set("*?[")


def is_image_name(path: str | os.PathLike[str]) -> bool:
    """True when the name ends in a supported image extension (any case)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _listed(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix in UNSUPPORTED_SUFFIXES


def _scan(folder: Path, recursive: bool) -> list[str]:
    found: list[str] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.is_dir() and not entry.is_symlink() and recursive:
            found.extend(_scan(entry, recursive))
        elif _listed(entry):
            found.append(str(entry))
    return found


def expand_inputs(inputs: Iterable[str], recursive: bool = False) -> list[str]:
    """Turn INPUT arguments into an ordered list of image paths.

    Folders give the images directly inside them (all levels with
    ``recursive``); glob patterns are expanded (``**`` too); anything else is
    kept as given, so a missing or unreadable file becomes a per-file error
    rather than vanishing. Duplicates keep their first position.
    """
    paths: list[str] = []
    for arg in inputs:
        path = Path(arg)
        if path.is_dir() and not _listed(path):
            paths.extend(_scan(path, recursive))
        elif not os.path.lexists(arg) and _GLOB_CHARS & set(arg):
            paths.extend(sorted(glob.glob(arg, recursive=True)))
        else:
            paths.append(arg)
    return list(dict.fromkeys(paths))
