"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_dir", "atomic_path", "atomic_write_bytes", "atomic_write_text",
           "sha256_path", "user_cache_dir"]


def user_cache_dir() -> Path:
    """``$ANIME_DETECTOR_CACHE``, else ``$XDG_CACHE_HOME/anime-detector`` (``~/.cache``)."""
    root = os.environ.get("ANIME_DETECTOR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "anime-detector")
    return Path(root)


def sha256_path(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, or of a folder's files (relative names and bytes, sorted)."""
    root = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for file in files:
        if root.is_dir():
            digest.update(str(file.relative_to(root)).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _fresh_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{secrets.token_hex(6)}.tmp")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    On any exception (``KeyboardInterrupt`` included) the temporary file is
    removed and ``target`` is left as it was. The file is created with the mode the
    process umask gives (the kernel applies it: the umask is never read or changed,
    which would race with other threads).
    """
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _fresh_name(final)
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; move it into place on success.

    With ``overwrite``, an existing ``target`` is first renamed aside and deleted only
    once the new folder is in place: interrupted at any moment, the old run or the new
    one exists (the old one possibly under its ``.<name>.*.old`` name), never neither.
    """
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_name(final)
    os.mkdir(tmp, 0o777)  # the umask applies, as for any new folder
    try:
        yield tmp
        _swap_in(tmp, final, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: Path, final: Path, overwrite: bool) -> None:
    if not (overwrite and final.exists()):
        os.replace(tmp, final)  # fails on a non-empty existing folder: never clobbers
        return
    old = final.with_name(f".{final.name}.{secrets.token_hex(6)}.old")
    os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(old, final)  # put the old run back
        raise
    shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))
