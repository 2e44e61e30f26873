"""A request's body as the service reads it, and the client behind it.

:class:`Body` wraps the server's ``receive`` for one request. It counts bytes (past the
limit: :class:`BodyTooLarge`); holds the wait for the body to a deadline (:class:`BodyTooSlow`):
the request timeout, and sooner for a body that keeps arriving slower than the minimum rate
after its first :data:`FREE_S` seconds (a client that trickles a large declared body holds its
share of the in-flight budget no longer than that); refuses a body still arriving once the
service stops being ready (:class:`NotReady`, on SIGTERM); and notes a client that goes away
mid-upload. :meth:`Body.run` runs the app and, once the whole body is in, listens for the
client going away: the app is cancelled (its queued images are dropped, its decoding that has
not started never starts) and :class:`ClientGone` is raised, for a 499 in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["FREE_S", "TIMEOUTS", "Body", "BodyTooLarge", "BodyTooSlow", "ClientGone",
           "NotReady"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

# asyncio.wait_for raises asyncio.TimeoutError: the builtin TimeoutError from Python 3.11,
# a class of its own on 3.10. Catch both.
TIMEOUTS = (TimeoutError, asyncio.TimeoutError)
FREE_S = 5.0  # a body's first seconds, before the minimum rate applies
_POLL_S = 0.25  # how often a wait for the next body chunk looks at readiness


class BodyTooLarge(Exception):
    """More bytes than ``max_body_mb`` arrived."""


class BodyTooSlow(Exception):
    """The body did not arrive by its deadline."""


class ClientGone(Exception):
    """The client disconnected before its answer: nobody to answer."""


class NotReady(Exception):
    """The service stopped being ready (it drains) while the body was arriving."""


class Body:
    """One request's ``receive`` under the limits (see the module docstring).

    Args:
        receive: the server's.
        limit: most body bytes.
        timeout_s: the body's total time, from ``started`` (a ``perf_counter`` time).
        min_rate: bytes per second the body must keep up after :data:`FREE_S` (0: none).
        ready: False once the service drains.
    """

    def __init__(self, receive: Receive, *, limit: int, timeout_s: float, min_rate: float,
                 started: float, ready: Callable[[], bool]) -> None:
        self._receive = receive
        self.limit, self.timeout_s, self.min_rate = limit, timeout_s, min_rate
        self.started = started
        self._ready = ready
        self.seen = 0
        self.complete = asyncio.Event()
        self.gone = False

    def deadline(self) -> float:
        """When the body must be complete, given the bytes seen so far."""
        total = self.started + self.timeout_s
        if self.min_rate <= 0:
            return total
        return min(total, self.started + FREE_S + self.seen / self.min_rate)

    async def receive(self) -> Message:
        """The next message, within the limits; after the last body chunk, as the server's."""
        if self.complete.is_set():
            return await self._receive()
        while True:
            left = self.deadline() - time.perf_counter()
            if left <= 0:
                raise BodyTooSlow(self._too_slow())
            try:
                message = await asyncio.wait_for(self._receive(), min(left, _POLL_S))
                break
            except TIMEOUTS:
                if not self._ready():
                    raise NotReady from None
        if message["type"] == "http.disconnect":
            self.gone = True
        elif message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise BodyTooLarge
            if not message.get("more_body", False):
                self.complete.set()
        return message

    def _too_slow(self) -> str:
        if self.deadline() >= self.started + self.timeout_s:
            return f"request body not received within {self.timeout_s:g} s"
        return (f"request body arriving slower than {self.min_rate / 1024:g} KB/s "
                f"({self.seen} bytes in {time.perf_counter() - self.started:.1f} s)")

    async def run(self, app: Callable[[Receive], Awaitable[None]],
                  answered: Callable[[], bool]) -> None:
        """``app(self.receive)``, cancelled with :class:`ClientGone` when the client goes away
        after sending its body and before ``answered()`` (the answer fully sent)."""
        task = asyncio.ensure_future(app(self.receive))
        watch = asyncio.ensure_future(self._until_gone(answered))
        done: set[asyncio.Future[None]] = set()
        try:
            done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if task in done:
            task.result()  # the app's own outcome, its exception included
            return
        self.gone = True
        raise ClientGone

    async def _until_gone(self, answered: Callable[[], bool]) -> None:
        """Return when the client disconnects with its answer not yet sent."""
        await self.complete.wait()
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                if not answered():
                    return
                await asyncio.Event().wait()  # answered: the app finishes on its own
