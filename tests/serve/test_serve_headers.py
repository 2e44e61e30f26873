"""The headers every answer carries: the page's content security policy, nosniff, request ids."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx

from anime_detector.detector import Detector
from anime_detector.serve.app import create_app
from anime_detector.serve.config import ServeConfig

from helpers.server import ServerProcess


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def _digest(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def test_page_policy_allows_its_own_inline_code_and_no_framing(
        process_server: ServerProcess) -> None:
    answer = httpx.get(process_server.url + "/")
    assert answer.status_code == 200
    policy = _policy(answer.headers["content-security-policy"])
    assert "'unsafe-inline'" not in answer.headers["content-security-policy"]
    assert policy["frame-ancestors"] == ["'none'"] and answer.headers["x-frame-options"] == "DENY"
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        [block] = re.findall(rf"<{tag}>(.*?)</{tag}>", answer.text, re.DOTALL)
        assert policy[directive] == [_digest(block)]  # exactly the page's block, nothing else


def test_every_answer_says_nosniff(process_server: ServerProcess) -> None:
    url = process_server.url
    answers = [httpx.get(url + "/healthz"), httpx.get(url + "/v1/model"),
               httpx.get(url + "/metrics"), httpx.get(url + "/nothing"),
               httpx.post(url + "/v1/predict", content=b"x",
                          headers={"Content-Type": "text/plain"}),
               httpx.post(url + "/v1/predict", content=b"\0" * (3 << 20),
                          headers={"Content-Type": "image/png"})]
    assert [a.status_code for a in answers] == [200, 200, 200, 404, 415, 413]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url


def _answer_headers(app: Any, request_id: bytes) -> dict[bytes, bytes]:
    """One GET /healthz through the app itself, with a request id no HTTP parser lets through
    (both of uvicorn's refuse a control character in a header): what another ASGI host, or a
    proxy in front, might hand over."""
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": "GET", "path": "/healthz", "raw_path": b"/healthz",
             "query_string": b"", "headers": [(b"x-request-id", request_id)], "scheme": "http",
             "http_version": "1.1", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
             "root_path": "", "app": app}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return dict(sent[0]["headers"])


def test_a_request_id_is_kept_only_when_all_of_it_is_plain(explain_model: Path) -> None:
    app = create_app(lambda: Detector.load(explain_model), ServeConfig())
    assert _answer_headers(app, b"client-7.a_b")[b"x-request-id"] == b"client-7.a_b"
    for bad in (b"abc\n", b"a" * 65, b"a b", b"\xff"):
        given = _answer_headers(app, bad)[b"x-request-id"]
        assert given != bad and re.fullmatch(rb"[0-9a-f]{32}", given), (bad, given)
