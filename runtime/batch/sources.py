"""What ``batch`` reads: INPUT arguments expanded into image paths and URIs.

An INPUT is a local file, folder or glob (expanded exactly as ``predict``
does), a URI that pyarrow can open (``s3://bucket/prefix/``, ``gs://...``,
``file:///...``; a URI folder is listed, all levels with ``--recursive``), or a
text file of such entries, one per line (``.txt``, ``.lst`` or ``.list``;
blank lines and ``#`` comments are skipped).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from anime_detector.errors import InputError
from anime_detector.image_paths import expand_with_roots, is_image_name

__all__ = ["LIST_SUFFIXES", "Source", "expand_sources", "is_uri"]

LIST_SUFFIXES = (".txt", ".lst", ".list")


@dataclass(frozen=True)
class Source:
    """One image to predict, and the INPUT folder it is placed relative to when sorting."""

    path: str
    root: str | None


def is_uri(text: str) -> bool:
    """True for ``scheme://...`` (any scheme pyarrow knows, ``file://`` included)."""
    head, sep, _ = text.partition("://")
    return bool(sep) and head.isalnum() and len(head) > 1


def _list_file_entries(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read list file: {exc}") from None
    return [line for line in lines if line and not line.startswith("#")]


def _expand_uri(uri: str, recursive: bool) -> list[Source]:
    try:
        import pyarrow.fs as pafs
    except ImportError:
        from anime_detector.ray_support import RayMissingError

        raise RayMissingError() from None
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
        info = fs.get_file_info(path)
    except (OSError, ValueError) as exc:
        raise InputError(uri, f"cannot open: {exc}") from None
    if info.type != pafs.FileType.Directory:
        return [Source(uri, None)]  # a missing one becomes an error row
    prefix = uri[: len(uri) - len(path)] if uri.endswith(path) else uri.split("://")[0] + "://"
    selector = pafs.FileSelector(path, recursive=recursive)
    found = sorted(i.path for i in fs.get_file_info(selector)
                   if i.type == pafs.FileType.File and is_image_name(i.path))
    return [Source(prefix + p, None) for p in found]


def _expand_one(arg: str, recursive: bool, nested: bool) -> list[Source]:
    if is_uri(arg):
        return _expand_uri(arg, recursive)
    if not nested and arg.lower().endswith(LIST_SUFFIXES) and os.path.isfile(arg):
        entries = _list_file_entries(arg)
        return [s for entry in entries for s in _expand_one(entry, recursive, nested=True)]
    return [Source(path, root) for path, root in expand_with_roots([arg], recursive)]


def expand_sources(inputs: Iterable[str], recursive: bool = False) -> list[Source]:
    """Every image the INPUT arguments name, in order, each once (first mention wins).

    Raises:
        InputError: a list file or a URI cannot be read.
    """
    seen: dict[str, Source] = {}
    for arg in inputs:
        for source in _expand_one(arg, recursive, nested=False):
            seen.setdefault(source.path, source)
    return list(seen.values())
