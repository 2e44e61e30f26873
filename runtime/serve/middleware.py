"""Around every request: its id, the access key, the body limit, the log line, the metrics,
and the last-resort 500 (a JSON body with the request id, never a traceback).

A pure ASGI middleware, so the body limit counts bytes as the server hands them over: a
declared ``Content-Length`` over the limit is refused before a byte is read, a chunked body
is cut off the moment it passes the limit. Either way the answer is 413. A body that has not
arrived within the request timeout is cut off with 408: a client that trickles its upload
holds neither a connection nor its share of the in-flight budget for longer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match

from anime_detector.serve.config import ServeConfig
from anime_detector.serve.errors import RETRY_AFTER, error_body
from anime_detector.serve.metrics import ServiceMetrics

__all__ = ["PUBLIC_ROUTES", "RequestContext"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# No key needed: the probes (ours and the Open Inference Protocol's), and the page itself
# (static, it holds no data; its calls to the API carry the key the user types in).
PUBLIC_ROUTES = frozenset({"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/"})
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
log = logging.getLogger("anime_detector.serve")


class _BodyTooLarge(Exception):
    pass


class _BodyTooSlow(Exception):
    pass


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _request_id(scope: Scope) -> str:
    given = _header(scope, b"x-request-id")
    return given if given and _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex


class RequestContext:
    """The outermost layer of our own: see the module docstring. ``routes``: the app's, whose
    paths (``/v2/models/{name}/infer``) label the metrics."""

    def __init__(self, app: ASGIApp, config: ServeConfig, metrics: ServiceMetrics,
                 routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.config = config
        self.metrics = metrics
        self.routes = routes
        self._key = config.api_key.encode() if config.api_key else None
        self._inflight = 0  # bytes of request bodies admitted and not finished

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        scope.setdefault("state", {}).update(request_id=rid, images=0)
        started = time.perf_counter()
        response: dict[str, Any] = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.update(status=message["status"], started=True)
                extra = [(b"x-content-type-options", b"nosniff")]
                if self.config.echo_request_id:
                    extra.append((b"x-request-id", rid.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        reserved = 0
        try:
            refusal = self._refusal(scope)
            if refusal is None and scope["method"] == "POST":
                reserved = self._admit(scope)
                refusal = None if reserved else (
                    503, f"busy: over {self.config.max_inflight_mb:g} MB of requests in "
                    "flight; retry shortly", "busy")
            if refusal is not None:
                status, message, kind = refusal
                self.metrics.errors.labels(kind).inc()
                await _send_json(send_with_id, status, error_body(message),
                                 _refusal_headers(status))
            else:
                await self.app(scope, self._limited(receive, started), send_with_id)
        except _BodyTooSlow:
            self.metrics.errors.labels("body_too_slow").inc()
            if not response["started"]:
                await _send_json(send_with_id, 408, error_body(
                    f"request body not received within {self.config.timeout_s:g} s"),
                    {"connection": "close"})
        except _BodyTooLarge:
            self.metrics.errors.labels("body_too_large").inc()
            if not response["started"]:
                await _send_json(send_with_id, 413, error_body(
                    f"request body over the limit of {self.config.max_body_mb:g} MB"),
                    _refusal_headers(413))
        except Exception:
            log.exception("unexpected error, request id %s", rid)
            self.metrics.errors.labels("internal").inc()
            if not response["started"]:
                await _send_json(send_with_id, 500, error_body(
                    f"internal server error (request id {rid})", request_id=rid))
        finally:
            self._inflight -= reserved
            self._record(scope, rid, int(response["status"]), time.perf_counter() - started)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        """(status, message, kind) when the request is refused before the app sees it."""
        if self._key is not None and scope["path"] not in PUBLIC_ROUTES:
            given = _given_key(scope)
            if given is None:
                return 401, "missing API key (send Authorization: Bearer KEY or X-API-Key)", \
                    "unauthorized"
            if not hmac.compare_digest(given.encode("latin-1"), self._key):
                return 401, "wrong API key", "unauthorized"
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.isdigit():
                return 400, f"bad Content-Length header: {length[:40]!r}", "bad_request"
            if int(length) > self.config.max_body_bytes:
                return 413, (f"request body of {int(length) / 2**20:.1f} MB is over the limit "
                             f"of {self.config.max_body_mb:g} MB"), "body_too_large"
        return None

    def _admit(self, scope: Scope) -> int:
        """Reserve this request's body size from the in-flight budget; 0: no room."""
        length = _header(scope, b"content-length")
        size = max(1, min(int(length) if length else self.config.max_body_bytes,
                          self.config.max_body_bytes))
        if self._inflight and self._inflight + size > self.config.max_inflight_bytes:
            return 0
        self._inflight += size
        return size

    def _limited(self, receive: Receive, started: float) -> Receive:
        """``receive`` with the body limit and the body deadline; after the last body chunk
        (waiting for a disconnect), unbounded."""
        limit, seen, complete = self.config.max_body_bytes, 0, False
        deadline = started + self.config.timeout_s

        async def counted() -> Message:
            nonlocal seen, complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), deadline - time.perf_counter())
            except TimeoutError:
                raise _BodyTooSlow from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
                complete = not message.get("more_body", False)
            return message

        return counted

    def _route(self, scope: Scope) -> str:
        """The path of the route that takes this request (its template), else ``other``."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(route, "path", "other"))
        return "other"

    def _record(self, scope: Scope, rid: str, status: int, seconds: float) -> None:
        route = self._route(scope)
        images = scope["state"].get("images", 0)
        self.metrics.requests.labels(route, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        fields = {"method": scope["method"], "route": route, "status": status,
                  "images": images, "ms": round(seconds * 1000, 1), "request_id": rid}
        if self.config.log_format == "json":
            log.info(json.dumps(fields))
        else:
            log.info("%s %s %d images=%d %.1fms id=%s", scope["method"], route, status, images,
                     seconds * 1000, rid)


def _given_key(scope: Scope) -> str | None:
    auth = _header(scope, b"authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return _header(scope, b"x-api-key")


def _refusal_headers(status: int) -> dict[str, str]:
    if status in (413, 503):  # the body was not read: close, or the server keeps reading it
        return {"connection": "close", **(RETRY_AFTER if status == 503 else {})}
    return {"www-authenticate": "Bearer"} if status == 401 else {}


async def _send_json(send: Send, status: int, body: dict[str, Any],
                     headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
