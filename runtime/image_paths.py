"""Finding images: the one folder walker, and INPUT arguments (files, folders, globs) to paths.

Used by ``predict``, ``eval``, ``train`` (labelled folders), ``batch`` (its local inputs)
and every other command that takes a folder, so they all see the same files in the same
order. :func:`expand_with_roots` also gives the folder each image is placed relative to
by ``--sort-into``.
"""

from __future__ import annotations

import base64
import glob
import os
from collections.abc import Iterable
from pathlib import Path

from anime_detector.errors import InputError

__all__ = ["IMAGE_SUFFIXES", "expand_inputs", "expand_with_roots", "input_root",
           "is_image_name", "path_fields", "printable", "walk_images"]

# AVIF is listed whether or not this Pillow decodes it: where it cannot, each file is
# named with that reason (see preprocessing), never skipped in silence.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".avif", ".bmp", ".gif", ".tif",
     ".tiff"}
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


def _is_glob(arg: str) -> bool:
    """A pattern to expand: wildcard characters, and no file of that very name."""
    return bool(_GLOB_CHARS & set(arg)) and not os.path.lexists(arg)


def _expand_one(arg: str, recursive: bool) -> list[str]:
    path = Path(arg)
    if path.is_dir() and not _listed(path):
        return walk_images(path, recursive)
    if _is_glob(arg):
        matched = [p for p in sorted(glob.glob(arg, recursive=True)) if _listed(Path(p))]
        return matched or [arg]
    return [arg]


def input_root(arg: str) -> str:
    """The folder an INPUT argument's images are placed relative to.

    A folder is its own root; a glob's root is the folder before its first
    wildcard component; a single file's root is the folder it is in.
    """
    if os.path.isdir(arg):
        return arg
    if _is_glob(arg):
        fixed = []
        for part in Path(arg).parts[:-1]:
            if _GLOB_CHARS & set(part):
                break
            fixed.append(part)
        return str(Path(*fixed)) if fixed else "."
    return os.path.dirname(arg) or "."


def expand_with_roots(inputs: Iterable[str], recursive: bool = False) -> list[tuple[str, str]]:
    """:func:`expand_inputs`' paths, in its order, each with its :func:`input_root`; a
    path named by several arguments keeps the root of the first.

    Raises:
        InputError: a folder cannot be read.
    """
    pairs: dict[str, str] = {}
    for arg in inputs:
        root = input_root(arg)
        for path in _expand_one(arg, recursive):
            pairs.setdefault(path, root)
    return list(pairs.items())


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
    return [path for path, _ in expand_with_roots(inputs, recursive)]


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

