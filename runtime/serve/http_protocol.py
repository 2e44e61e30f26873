"""uvicorn's HTTP protocol with a deadline for each request's head, and a cap on connections.

uvicorn reads a request line and headers for as long as the client takes to send them: a
client that trickles a header byte at a time (slowloris) holds its connection, and enough
of them hold every connection the box can keep. Here the head must be complete within
``head_timeout_s`` of the connection opening, or of the first byte of the next request on a
kept-alive connection; otherwise the answer is 408 with the usual JSON error body and the
connection is closed. Bodies have their own deadline (:mod:`.body`).

The deadline wraps whichever protocol uvicorn's ``http="auto"`` would pick (httptools when
installed, else h11), using what both keep: ``loop``, ``transport`` and ``cycle`` (the
request being answered; set once its head is parsed).

A connection opened while ``max_connections`` are open is answered 503 (JSON, ``Retry-After``)
and closed at once, before a byte of it is read: uvicorn's own ``limit_concurrency`` answers
in plain text, and only once a request's head has arrived, which a slow client never sends.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from anime_detector.serve.errors import error_body

__all__ = ["head_deadline_protocol"]


def _answer(status: bytes, message: str, headers: bytes = b"") -> bytes:
    """A whole HTTP answer with the usual JSON error body; the connection closes after it."""
    body = json.dumps(error_body(message)).encode()
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
            b"x-content-type-options: nosniff\r\nconnection: close\r\n" + headers +
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _timeout_answer(seconds: float) -> bytes:
    return _answer(b"408 Request Timeout", f"request headers not received within {seconds:g} s")


class _HeadDeadline:
    """Mixin over a uvicorn HTTP protocol class (see the module docstring)."""

    head_timeout_s: float = 10.0
    max_connections: int = 0  # 0: no cap
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    server_state: Any
    _head_timer: asyncio.TimerHandle | None = None

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        open_now = len(self.server_state.connections)  # this one included
        if self.max_connections and open_now > self.max_connections:
            self.transport.write(_answer(
                b"503 Service Unavailable", f"busy: over {self.max_connections} connections "
                "open; retry shortly", b"retry-after: 1\r\n"))
            self.transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_head():
            self._arm()
        super().data_received(data)  # type: ignore[misc]
        if not self._waiting_for_head():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.write(_timeout_answer(self.head_timeout_s))
            self.transport.close()


def head_deadline_protocol(head_timeout_s: float, parser: str = "auto",
                           max_connections: int = 0) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with the head deadline and the
    connection cap (0: none) over ``parser``: ``"httptools"``, ``"h11"``, or ``"auto"``
    (uvicorn's own choice: httptools when it is installed, else h11, which always comes with
    uvicorn)."""
    base: type[asyncio.Protocol]
    if parser in ("auto", "httptools"):
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

            base = HttpToolsProtocol
        except ImportError:
            if parser == "httptools":
                raise
            parser = "h11"
    if parser == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    return type(f"HeadDeadline{base.__name__}", (_HeadDeadline, base),
                {"head_timeout_s": head_timeout_s, "max_connections": max_connections})
