"""Errors the toolkit raises on purpose: each renders as one line naming the culprit.

Also the command line's exit codes, one definition for the entry point (which imports
nothing heavier than this module) and the commands.
"""

from __future__ import annotations

import os

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "TRAIN_HINT",
    "AnimeDetectorError",
    "DeviceError",
    "InputError",
    "ModelError",
    "SourceError",
    "describe_error",
    "one_line",
]

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
TRAIN_HINT = "this command needs the training extra: pip install 'anime-detector[cpu,train]'"


class AnimeDetectorError(Exception):
    """Base class: ``str(err)`` is a complete one-line message for the user."""


class SourceError(AnimeDetectorError):
    """Something named (a file, a folder) cannot be used; carries its name and why."""

    def __init__(self, source: str | os.PathLike[str], reason: str) -> None:
        self.source = os.fspath(source)
        self.reason = one_line(reason, 1000)
        super().__init__(f"{self.source}: {self.reason}")


class InputError(SourceError):
    """An input image cannot be used."""


class ModelError(SourceError):
    """A model file is missing, unreadable, or not an anime-detector model."""


class DeviceError(AnimeDetectorError):
    """The requested device (for example ``cuda``) cannot run here."""


def one_line(text: object, limit: int = 300) -> str:
    """``text`` with its whitespace (newlines too) collapsed, cut at ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def describe_error(exc: BaseException, limit: int = 300) -> str:
    """The one-line reason to show a user for ``exc``: ours say it themselves, others get
    their type name in front (``OSError: ...``). A :class:`SourceError` gives its reason only,
    since the caller reports the source beside it."""
    if isinstance(exc, SourceError):
        return exc.reason
    if isinstance(exc, AnimeDetectorError):
        return one_line(exc, limit)
    message = one_line(exc, limit)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
