"""Sorting predicted images into ``DIR/<label>/`` folders (``--sort-into``).

Used by ``predict --sort-into`` and ``batch --sort-into``. Each image keeps its
sub-folder path relative to the INPUT argument it came from (its *root*), so
``predict m.onnx photos/ --sort-into out -r`` puts ``photos/2019/a.jpg`` at
``out/anime/2019/a.jpg``. Nothing is ever overwritten: a clash adds a suffix
(``a_1.jpg``, ``a_2.jpg``, ...).

Modes:

- ``copy`` (default): copy to a temporary file beside the destination, fsync,
  then publish it under a free name. A reader never sees half a file.
- ``link``: a hard link; across filesystems (where hard links cannot go) an
  absolute symbolic link.
- ``move``: a rename when source and destination share a filesystem (done as
  link-then-unlink, so it never overwrites); otherwise a complete ``copy``
  first and only then the source is deleted. Interrupted at any point, the
  image exists at the source, at the destination, or at both; never nowhere.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from anime_detector.choices import SortMode

__all__ = ["Sorter"]

_NO_HARD_LINK = {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK, errno.EACCES}


def _relative(source: Path, root: str | os.PathLike[str] | None) -> Path:
    if root is None:
        return Path(source.name)
    rel = Path(os.path.relpath(os.path.abspath(source), os.path.abspath(root)))
    return Path(source.name) if rel.parts[:1] == ("..",) or rel.is_absolute() else rel


def _candidates(target: Path) -> Iterable[Path]:
    yield target
    n = 1
    while True:
        yield target.with_name(f"{target.stem}_{n}{target.suffix}")
        n += 1


class Sorter:
    """Places images into ``dest/<label>/<path relative to root>``.

    >>> Sorter("out", "move").place("in/a/x.jpg", "anime", root="in")  # doctest: +SKIP
    PosixPath('out/anime/a/x.jpg')
    """

    def __init__(self, dest: str | os.PathLike[str], mode: SortMode | str = SortMode.copy) -> None:
        self.dest = Path(dest)
        self.mode = SortMode(mode)

    def target_for(
        self, source: str | os.PathLike[str], label: str, root: str | os.PathLike[str] | None
    ) -> Path:
        """Where ``source`` would go before clash handling (no file is touched)."""
        return self.dest / label / _relative(Path(source), root)

    def place(
        self,
        source: str | os.PathLike[str],
        label: str,
        root: str | os.PathLike[str] | None = None,
    ) -> Path:
        """Copy, link or move one image; returns where it landed.

        Raises:
            OSError: the image could not be placed; the source is untouched.
        """
        src = Path(source)
        target = self.target_for(src, label, root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.mode is SortMode.link:
            return _link(src, target)
        if self.mode is SortMode.move:
            placed = _hard_link(src, target)
            if placed is None:
                placed = _copy(src, target)
            src.unlink()  # only now: the image is complete at ``placed``
            return placed
        return _copy(src, target)


def _hard_link(src: Path, target: Path) -> Path | None:
    """Hard-link ``src`` under a free name; ``None`` when no hard link is possible."""
    for candidate in _candidates(target):
        try:
            os.link(src, candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno in _NO_HARD_LINK:
                return None
            raise
    raise AssertionError("unreachable")


def _link(src: Path, target: Path) -> Path:
    placed = _hard_link(src, target)
    if placed is not None:
        return placed
    for candidate in _candidates(target):
        try:
            os.symlink(os.path.abspath(src), candidate)
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def _copy(src: Path, target: Path) -> Path:
    """Copy to a fsynced temporary file, then publish it under a free name."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with open(src, "rb") as reader, os.fdopen(fd, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())
        shutil.copystat(src, tmp)
        return _publish(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _publish(tmp: Path, target: Path) -> Path:
    """Give the complete file ``tmp`` a free name beside it, never replacing a file."""
    placed = _hard_link(tmp, target)
    if placed is not None:
        return placed
    for candidate in _candidates(target):
        try:  # no hard links here: claim the name, then replace the claim
            os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        os.replace(tmp, candidate)
        return candidate
    raise AssertionError("unreachable")
