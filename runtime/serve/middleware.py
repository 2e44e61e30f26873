"""Around every request: its id, the access key, the body limit, the log line, the metrics,
and the last-resort 500 (a JSON body with the request id, never a traceback).

A pure ASGI middleware, so the body limit counts bytes as the server hands them over: a
declared ``Content-Length`` over the limit is refused before a byte is read, a chunked body
is cut off the moment it passes the limit. Either way the answer is 413. A body that has not
arrived within the request timeout, or arrives slower than the minimum rate, is cut off with
408: a client that trickles its upload holds neither a connection nor its share of the
in-flight budget for longer (:mod:`.body`). A ``POST`` is refused before its body is read
while the service is not ready, and mid-body once it drains. A client that goes away is
logged with status 499, no traceback, and its work is dropped.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match

from anime_detector.serve.body import Body, BodyTooLarge, BodyTooSlow, Budget, NotReady
from anime_detector.serve.config import ServeConfig, key_digest
from anime_detector.serve.errors import RETRY_AFTER, RequestError, error_body
from anime_detector.serve.metrics import ServiceMetrics

__all__ = ["RequestContext"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_Refusal = tuple[int, str, str, dict[str, str]]  # status, message, error kind, headers

_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
log = logging.getLogger("anime_detector.serve")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _request_id(scope: Scope) -> str:
    given = _header(scope, b"x-request-id")
    return given if given and _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex


class _Answer:
    """The response as it goes out: its status (500 until one is sent), whether it started
    and completed, and the headers every answer carries (nosniff, the request id)."""

    def __init__(self, send: Send, request_id: str | None) -> None:
        self._send = send
        self._extra = [(b"x-content-type-options", b"nosniff")]
        if request_id is not None:
            self._extra.append((b"x-request-id", request_id.encode()))
        self.status, self.started, self.complete = 500, False, False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.complete = True
        if message["type"] == "http.response.start":
            self.status, self.started = message["status"], True
            message["headers"] = [*message.get("headers", []), *self._extra]
        await self._send(message)


class RequestContext:
    """The outermost layer of our own: see the module docstring. ``routes``: the app's, whose
    paths (``/v2/models/{name}/infer``) label the metrics; ``public``: the paths answered
    without the key (the route table's, :meth:`~.routes.RouteTable.public_paths`)."""

    def __init__(self, app: ASGIApp, config: ServeConfig, metrics: ServiceMetrics,
                 routes: Sequence[BaseRoute] = (), public: frozenset[str] = frozenset()
                 ) -> None:
        self.app = app
        self.config = config
        self.metrics = metrics
        self.routes = routes
        self.public = public
        self._key = config.key_digest()  # compared as digests: a sealed config has no key
        self._budget = Budget(config.max_inflight_bytes)  # bodies admitted, not finished

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        scope.setdefault("state", {}).update(request_id=rid, images=0)
        started = time.perf_counter()
        answer = _Answer(send, rid if self.config.echo_request_id else None)
        service = scope["app"].state.service
        body = Body(receive, limit=self.config.max_body_bytes, timeout_s=self.config.timeout_s,
                    min_rate=self.config.min_body_rate_kbs * 1024, started=started,
                    ready=lambda: service.ready)
        self.metrics.in_flight.inc()  # back down in _record, when it is answered
        try:
            refusal = self._admission(scope, service, body)
            if refusal is not None:
                await self._refuse(answer, refusal)
            else:
                await self._run(scope, body, answer)
        except Exception as exc:  # each kind is answered in _failed
            await self._failed(exc, answer, body, service, rid)
        finally:
            self._budget.release(body)
            self._record(scope, rid, answer.status, time.perf_counter() - started)

    def _admission(self, scope: Scope, service: Any, body: Body) -> _Refusal | None:
        """Why the request is refused before a byte of its body is read, or None: the key
        and the declared length, then (a POST) readiness and the in-flight budget."""
        refusal = self._refusal(scope)
        if refusal is not None or scope["method"] != "POST":
            return refusal
        refusal = _unready(service.refusal())
        if refusal is None and not self._budget.admit(body, self._declared(scope)):
            refusal = (503, f"busy: over {self.config.max_inflight_mb:g} MB of requests in "
                       "flight; retry shortly", "busy", _refusal_headers(503))
        return refusal

    async def _refuse(self, answer: _Answer, refusal: _Refusal, **fields: str) -> None:
        """Count ``refusal`` and send it, unless an answer has started (``fields`` join the
        error body)."""
        status, message, kind, headers = refusal
        self.metrics.errors.labels(kind).inc()
        if not answer.started:
            await _send_json(answer.send, status, error_body(message, **fields), headers)

    async def _run(self, scope: Scope, body: Body, answer: _Answer) -> None:
        """The app, a POST's body read through the limits (size, deadline, minimum rate)."""
        if scope["method"] == "POST":
            await body.run(lambda limited: self.app(scope, limited, answer.send),
                           answered=lambda: answer.complete)
        else:
            await self.app(scope, body.receive, answer.send)

    async def _failed(self, exc: Exception, answer: _Answer, body: Body, service: Any,
                      rid: str) -> None:
        """The one answer to a request that failed: 503 (draining mid-body), 408 (a slow
        body), 413 (a body over the limit), 499 in the log (the client went away) or the
        last-resort 500 with the request id and never a traceback."""
        fields: dict[str, str] = {}
        if isinstance(exc, NotReady):  # SIGTERM while the body arrived: not read to the end
            error = service.refusal() or RequestError(503, "not ready", "not_ready")
            failure = (503, error.message, "not_ready", {"connection": "close", **error.headers})
        elif isinstance(exc, BodyTooSlow):
            failure = (408, str(exc), "body_too_slow", {"connection": "close"})
        elif isinstance(exc, BodyTooLarge):
            failure = (413, f"request body over the limit of {self.config.max_body_mb:g} MB",
                       "body_too_large", _refusal_headers(413))
        elif body.gone:  # the client went away: nobody to answer, nothing went wrong here
            answer.status = 499  # nginx's "client closed request", for the log
            return
        else:
            log.error("unexpected error, request id %s", rid, exc_info=exc)
            failure = (500, f"internal server error (request id {rid})", "internal", {})
            fields = {"request_id": rid}
        await self._refuse(answer, failure, **fields)

    def _refusal(self, scope: Scope) -> _Refusal | None:
        """Why the request is refused before the app sees it, whatever the service's state."""
        refused = self._refused(scope)
        return None if refused is None else (*refused, _refusal_headers(refused[0]))

    def _refused(self, scope: Scope) -> tuple[int, str, str] | None:
        """(status, message, kind) of :meth:`_refusal`."""
        if self._key is not None and scope["path"] not in self.public:
            given = _given_key(scope)
            if given is None:
                return 401, "missing API key (send Authorization: Bearer KEY or X-API-Key)", \
                    "unauthorized"
            if not hmac.compare_digest(key_digest(given.encode("latin-1")), self._key):
                return 401, "wrong API key", "unauthorized"
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.isdigit():
                return 400, f"bad Content-Length header: {length[:40]!r}", "bad_request"
            if int(length) > self.config.max_body_bytes:
                return 413, (f"request body of {int(length) / 2**20:.1f} MB is over the limit "
                             f"of {self.config.max_body_mb:g} MB"), "body_too_large"
        return None

    def _declared(self, scope: Scope) -> int:
        """What the body will hold at most: its ``Content-Length``, or the limit (chunked)."""
        length = _header(scope, b"content-length")
        return max(1, min(int(length) if length else self.config.max_body_bytes,
                          self.config.max_body_bytes))

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
        self.metrics.in_flight.dec()
        self.metrics.requests.labels(route, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        fields = {"method": scope["method"], "route": route, "status": status,
                  "images": images, "ms": round(seconds * 1000, 1), "request_id": rid}
        if self.config.log_format == "json":
            log.info(json.dumps(fields))
        else:
            log.info("%s %s %d images=%d %.1fms id=%s", scope["method"], route, status, images,
                     seconds * 1000, rid)


def _unready(error: RequestError | None) -> _Refusal | None:
    """The service's own 503 (loading, draining), answered before the body is read."""
    if error is None:
        return None
    return error.status, error.message, error.kind, {"connection": "close", **error.headers}


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
