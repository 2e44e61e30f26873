"""The head deadline on both of uvicorn's HTTP parsers (the service uses whichever is
installed; a ``[serve]``-only install has h11, ``[serve-ray]`` brings httptools)."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from anime_detector.serve.http_protocol import head_deadline_protocol

from helpers.server import serve_in_thread


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _answer(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
        if answer.endswith((b"ok", b"}")):
            break
    return answer


@pytest.mark.parametrize("parser", ["h11", "httptools"])
def test_a_head_that_does_not_arrive_in_time_is_408_then_closed(parser: str) -> None:
    pytest.importorskip(parser)
    protocol = head_deadline_protocol(0.5, parser)
    assert protocol.__mro__[2].__module__.endswith(f".{parser}_impl")  # the parser asked for
    with serve_in_thread(_ok, http=protocol) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # in time: answered
            assert _answer(sock).startswith(b"HTTP/1.1 200 ")
            started = time.monotonic()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a")  # the next, never ends
            answer = _answer(sock)
            assert answer.startswith(b"HTTP/1.1 408 ") and answer.endswith(
                b'{"error": "request headers not received within 0.5 s"}')
            assert 0.4 < time.monotonic() - started < 3
            assert sock.recv(1) == b""  # closed
