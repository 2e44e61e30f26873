"""Decode images on worker threads, ahead of inference, in input order.

Decoding (Pillow) and inference (onnxruntime) both release the GIL, so a few
threads keep the model fed. At most ``depth`` decoded images wait in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["Decoded", "prefetch"]

S = TypeVar("S")
T = TypeVar("T")


class Decoded(Generic[S, T]):
    """One source with either its decoded value or the exception it raised."""

    __slots__ = ("source", "value", "error")

    def __init__(self, source: S, value: T | None, error: Exception | None) -> None:
        self.source = source
        self.value = value
        self.error = error


def _call(fn: Callable[[S], T], source: S) -> Decoded[S, T]:
    try:
        return Decoded(source, fn(source), None)
    except Exception as exc:  # reported per item; one bad file never stops the rest
        return Decoded(source, None, exc)


def prefetch(
    fn: Callable[[S], T], sources: Iterable[S], workers: int = 2, depth: int = 32
) -> Iterator[Decoded[S, T]]:
    """Yield ``fn(source)`` for each source, in order, computed ahead on threads."""
    if workers <= 0:
        for source in sources:
            yield _call(fn, source)
        return
    queue: deque[Future[Decoded[S, T]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        for source in sources:
            queue.append(pool.submit(_call, fn, source))
            if len(queue) >= depth:
                yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()
