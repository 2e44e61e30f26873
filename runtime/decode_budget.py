"""A memory budget for decoding, shared by every thread that decodes with it.

:func:`~anime_detector.preprocessing.preprocess` charges an image the memory its header
says decoding will take, before it decodes a pixel, and gives it back once the model
input is made. An image over the whole budget is refused at once; one that fits waits
for others to give back their share, up to ``wait_s`` (None: as long as it takes), then is
refused. Either refusal is an :class:`~anime_detector.errors.InputError`: one line, naming
the image.

A budget pickles as a new, empty one of the same capacity: each process that unpickles it
(Ray's decoding tasks) bounds its own decoding.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from anime_detector.errors import InputError

__all__ = ["MB", "DecodeBudget"]

MB = 2**20  # what ``--max-decode-mb`` counts in


def _mb(nbytes: float) -> str:
    return f"{nbytes / MB:.0f} MB"


class DecodeBudget:
    """Bytes of images being decoded at once, all threads together, at most ``capacity``."""

    def __init__(self, capacity: int, wait_s: float | None = 0.0) -> None:
        if capacity < 1:
            raise ValueError("a decode budget needs a positive capacity")
        self.capacity = capacity
        self.wait_s = wait_s
        self._used = 0
        self._freed = threading.Condition()

    def __reduce__(self) -> tuple[type[DecodeBudget], tuple[int, float | None]]:
        return DecodeBudget, (self.capacity, self.wait_s)

    @property
    def in_use(self) -> int:
        """Bytes charged now."""
        return self._used

    @contextmanager
    def hold(self, name: str, nbytes: int, what: str = "") -> Iterator[None]:
        """Charge ``nbytes`` for the ``with`` block (``what``: the image, for the message).

        Raises:
            InputError: ``nbytes`` is over the capacity, or did not fit within ``wait_s``.
        """
        shown = f" ({what})" if what else ""
        if nbytes > self.capacity:
            raise InputError(name, f"image too large to decode: about {_mb(nbytes)}{shown}, "
                             f"over the decode budget of {_mb(self.capacity)} (raise it with "
                             "--max-decode-mb)")
        with self._freed:
            if not self._freed.wait_for(lambda: self._used + nbytes <= self.capacity,
                                        self.wait_s):
                raise InputError(name, f"busy: {_mb(self._used)} of the decode budget of "
                                 f"{_mb(self.capacity)} in use for {self.wait_s:g} s; "
                                 "retry shortly")
            self._used += nbytes
        try:
            yield
        finally:
            with self._freed:
                self._used -= nbytes
                self._freed.notify_all()
