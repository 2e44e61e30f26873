"""Finding images: the one folder walker, and INPUT arguments (files, folders, globs) to paths.

Used by ``predict``, ``eval``, ``train`` (labelled folders) and every other command that
takes a folder, so they all see the same files in the same order.
"""

from __future__ import annotations

import base64
import glob
import os
from collections.abc import Iterable
from pathlib import Path

from anime_detector.errors import InputError

__all__ = ["IMAGE_SUFFIXES", "expand_inputs", "is_image_name", "path_fields", "printable",
           "walk_images"]

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


def walk_images(folder: str | os.PathLike[str], recursive: bool = False) -> list[str]:
    """Image files in ``folder`` (all levels with ``recursive``), sorted by name per level.

    Names with an image extension are listed, and so are known-unsupported ones (SVG)
    so that callers report them instead of hiding them. Symlinked folders are not entered.
    Without ``recursive``, a sub-folder with an image name (``x.jpg/``) is listed too.
    """
    found: list[str] = []
    try:
        entries = sorted(Path(folder).iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise InputError(folder, f"cannot read folder: {exc.strerror or exc}") from None
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink() and recursive:
            found.extend(walk_images(entry, recursive))
        elif _listed(entry):  # a folder named like an image is listed, to be reported
            found.append(str(entry))
    return found


def expand_inputs(inputs: Iterable[str], recursive: bool = False) -> list[str]:
    """Turn INPUT arguments into an ordered list of image paths.

    Folders give the images directly inside them (all levels with
    ``recursive``); glob patterns are expanded (``**`` too); anything else is
    kept as given, so a missing or unreadable file becomes a per-file error
    rather than vanishing. A glob keeps only image names (other files it matches are not
    inputs); a glob that matches no image is kept as given, so it is reported as an input
    error instead of vanishing. Duplicates keep their first position.

    Raises:
        InputError: a folder cannot be read.
    """
    paths: list[str] = []
    for arg in inputs:
        path = Path(arg)
        if path.is_dir() and not _listed(path):
            paths.extend(walk_images(path, recursive))
        elif not os.path.lexists(arg) and _GLOB_CHARS & set(arg):
            matched = [p for p in sorted(glob.glob(arg, recursive=True)) if _listed(Path(p))]
            paths.extend(matched or [arg])
        else:
            paths.append(arg)
    return list(dict.fromkeys(paths))


def printable(text: str) -> str:
    """``text`` as valid UTF-8: bytes of a file name that are not UTF-8 (Python keeps them
    as lone surrogates) become ``\\xNN`` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def path_fields(path: str | None) -> dict[str, str | None]:
    """``{"path": ...}`` for a result row, always valid UTF-8. A name that is not valid
    UTF-8 also gets ``path_b64``: its exact bytes, base64-encoded, so the real file can be
    found again (``os.fsdecode(base64.b64decode(row["path_b64"]))``)."""
    if path is None:
        return {"path": None}
    shown = printable(path)
    if shown == path:
        return {"path": path}
    raw = path.encode("utf-8", "surrogateescape")
    return {"path": shown, "path_b64": base64.b64encode(raw).decode("ascii")}

