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
:class:`Budget` is the in-flight budget the bodies share; a body that lags behind the minimum
rate gives up the room it has not used to a request that needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["FREE_S", "Body", "BodyTooLarge", "BodyTooSlow", "Budget", "ClientGone",
           "NotReady"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

FREE_S = 5.0  # a body's first seconds, before the minimum rate applies
LAG_S = 1.0  # a body behind the minimum rate this long may lose the room it has not used
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
        self.reserved = 0  # bytes of the in-flight budget it holds (:class:`Budget`)
        self.budget: Budget | None = None
        self.demoted = False  # it holds what it has received; each chunk must find room
        self.squeezed = False  # a chunk found no room: it ends with 408

    def lagging(self, now: float) -> bool:
        """Still arriving, for a while already, and slower than the minimum rate so far."""
        elapsed = now - self.started
        return (self.min_rate > 0 and not self.complete.is_set()
                and elapsed >= LAG_S and self.seen < self.min_rate * elapsed)

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
            except TimeoutError:  # what asyncio.wait_for raises (Python 3.11+)
                if not self._ready():
                    raise NotReady from None
        if message["type"] == "http.disconnect":
            self.gone = True
        elif message["type"] == "http.request":
            size = len(message.get("body", b""))
            self.seen += size
            if self.seen > self.limit:
                raise BodyTooLarge
            if self.demoted and self.budget is not None and not self.budget.grow(self, size):
                self.squeezed = True
                raise BodyTooSlow(self._too_slow())
            if not message.get("more_body", False):
                self.complete.set()
        return message

    def _too_slow(self) -> str:
        if self.deadline() >= self.started + self.timeout_s and not self.squeezed:
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


class Budget:
    """The bytes of request bodies in flight, all requests together: each request holds its
    declared size from admission to its answer, so every body admitted can arrive. When a new
    request finds no room, bodies that lag behind the minimum rate (:meth:`Body.lagging`) give
    up the room they have not used: from then on each of their chunks must find room or the
    body ends with 408. Clients that trickle large bodies thus cannot keep well-behaved ones
    out, and memory stays bounded. One request is always let in."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._holders: set[Body] = set()

    def admit(self, body: Body, size: int) -> bool:
        """Reserve ``size`` bytes for ``body``; False when there is no room, even after the
        laggards gave up what they have not used."""
        if self.used and self.used + size > self.total:
            self._demote_laggards()
            if self.used and self.used + size > self.total:
                return False
        body.reserved, body.budget = size, self
        self.used += size
        self._holders.add(body)
        return True

    def grow(self, body: Body, size: int) -> bool:
        """Room for ``size`` more bytes of a demoted ``body``; False: none."""
        if self.used + size > self.total:
            return False
        body.reserved += size
        self.used += size
        return True

    def release(self, body: Body) -> None:
        self.used -= body.reserved
        body.reserved = 0
        self._holders.discard(body)

    def _demote_laggards(self) -> None:
        now = time.perf_counter()
        for body in self._holders:
            if not body.demoted and body.lagging(now):
                body.demoted = True
                self.used -= body.reserved - body.seen
                body.reserved = body.seen
