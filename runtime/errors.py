"""Errors the toolkit raises on purpose: each renders as one line naming the culprit."""

from __future__ import annotations

import os

__all__ = ["AnimeDetectorError", "DeviceError", "InputError", "ModelError", "SourceError"]


class AnimeDetectorError(Exception):
    """Base class: ``str(err)`` is a complete one-line message for the user."""


class SourceError(AnimeDetectorError):
    """Something named (a file, a folder) cannot be used; carries its name and why."""

    def __init__(self, source: str | os.PathLike[str], reason: str) -> None:
        self.source = os.fspath(source)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.source}: {self.reason}")


class InputError(SourceError):
    """An input image cannot be used."""


class ModelError(SourceError):
    """A model file is missing, unreadable, or not an anime-detector model."""


class DeviceError(AnimeDetectorError):
    """The requested device (for example ``cuda``) cannot run here."""
