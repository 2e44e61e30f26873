"""The one app definition: routes over a :class:`~.service.Service`, built by :func:`create_app`.

Each route is declared once, in :data:`ROUTES` (with :mod:`.v2_routes`' own): its handler,
whether it needs the key and its OpenAPI operation; the Starlette routes, the middleware's
key-free paths and ``/openapi.json`` are built from it (:mod:`.routes`).
Both ways of serving use it: uvicorn in one process (:mod:`.server`) and, scaled out, any
ASGI host. Every error answer is ``{"error": "<one line>"}``; nothing here ever puts a
traceback in a response (:mod:`.middleware` turns the unexpected into a 500 with an id).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from anime_detector.detector import Detector, Failure
from anime_detector.serve.backend import BackendOpener
from anime_detector.serve.batcher import local_backend
from anime_detector.serve.config import ServeConfig
from anime_detector.serve.errors import RequestError, error_body
from anime_detector.serve.metrics import CONTENT_TYPE, ServiceMetrics
from anime_detector.serve.middleware import RequestContext
from anime_detector.serve.openapi import (
    BINARY,
    JSON_OK,
    Operation,
    image_body,
    ok,
    query,
    schema_ref,
)
from anime_detector.serve.routes import Endpoint, RouteTable
from anime_detector.serve.service import Service, row
from anime_detector.serve.uploads import Upload, read_uploads
from anime_detector.serve.v2_routes import V2_ENDPOINTS, model_name

__all__ = ["ROUTES", "create_app"]

_TRUE = ("1", "true", "yes", "on")


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def _read(request: Request) -> tuple[Service, list[Upload]]:
    service = _service(request)
    with service.metrics.timed("read_body"):
        uploads = await read_uploads(request, service.config)
    request.scope["state"]["images"] = len(uploads)  # for the log line
    return service, uploads


def _unreadable(request: Request, failures: list[Failure]) -> Response:
    """422: no image of the request could be read (the rows say why, each)."""
    _service(request).metrics.errors.labels("unreadable").inc()
    message = (f"{failures[0].source}: {failures[0].error}" if len(failures) == 1 else
               f"none of the {len(failures)} images could be read")
    return JSONResponse(error_body(message, results=[row(f) for f in failures]),
                        status_code=422)


async def predict(request: Request) -> Response:
    explain = request.query_params.get("explain", "0").lower() in _TRUE
    service, uploads = await _read(request)
    items = await service.predict(uploads, explain)
    with service.metrics.timed("respond"):
        failures = [item for item in items if isinstance(item, Failure)]
        if len(failures) == len(items):
            return _unreadable(request, failures)
        return JSONResponse({"results": [row(item) for item in items]})


async def explain(request: Request) -> Response:
    service, uploads = await _read(request)
    if len(uploads) != 1:
        raise RequestError(400, f"explain takes one image, not {len(uploads)}", "bad_request")
    item, png = await service.explain_png(uploads[0])
    if isinstance(item, Failure):
        return _unreadable(request, [item])
    return Response(png, media_type="image/png", headers={
        "X-Label": item.label, "X-Score": f"{item.score:.6f}"})


async def model(request: Request) -> Response:
    return JSONResponse(_service(request).describe())


async def healthz(request: Request) -> Response:
    problem = _service(request).liveness()
    if problem is None:
        return JSONResponse({"status": "alive"})
    return JSONResponse(error_body(problem, status="stuck"), status_code=503)


async def readyz(request: Request) -> Response:
    service = _service(request)
    refusal = service.refusal()
    if refusal is None:
        return JSONResponse({"status": "ready"})
    reason = ("draining" if service.draining else "failed" if service.load_error else
              "loading")
    return JSONResponse({"status": reason}, status_code=503, headers=refusal.headers)


async def metrics(request: Request) -> Response:
    return Response(_service(request).metrics.render(), media_type=CONTENT_TYPE)


def _sha256_source(html: str, tag: str) -> str:
    """The CSP source that allows the page's one inline ``<tag>`` block and nothing else."""
    found = re.search(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
    assert found is not None, f"page.html has no <{tag}> block"
    digest = hashlib.sha256(found.group(1).encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


@functools.cache
def _page() -> tuple[str, dict[str, str]]:
    """The page and its headers: a CSP that allows exactly its inline script and style (by
    their hashes), and no framing (the page has a key field)."""
    html = files("anime_detector.serve").joinpath("page.html").read_text(encoding="utf-8")
    policy = ("default-src 'self'; img-src 'self' blob: data:; "
              f"style-src {_sha256_source(html, 'style')}; "
              f"script-src {_sha256_source(html, 'script')}; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return html, {"Content-Security-Policy": policy, "X-Frame-Options": "DENY",
                  "Referrer-Policy": "no-referrer"}


async def page(request: Request) -> Response:
    html, headers = _page()
    return HTMLResponse(html, headers=headers)


async def schema(request: Request) -> Response:
    service = _service(request)
    backend = service.backend if service.ready else None
    model = ((model_name(backend.card, service.config.model_name), backend.card.version)
             if backend else None)
    return JSONResponse(ROUTES.openapi(service.config, model))


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    _service(request).metrics.errors.labels(exc.kind).inc()
    return JSONResponse(error_body(exc.message, **exc.extra), status_code=exc.status,
                        headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        _service(request).metrics.errors.labels("bad_request").inc()
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    return JSONResponse(error_body(detail), status_code=exc.status_code,
                        headers=dict(exc.headers or {}))


_IMAGE_ERRORS = (400, 408, 413, 415, 422, 503, 504)
_NAME = query("name", {"type": "string"},
              "The image's name in the answer, for a raw image body.")

ROUTES = RouteTable([
    # The page: static, it holds no data (its calls to the API carry the key the user types
    # in), so it needs no key; HTML, so no operation.
    Endpoint("/", "GET", page, None, public=True),
    Endpoint("/v1/predict", "POST", predict, Operation(
        "Classify one or more images",
        ok("One row per image", {"application/json": {"schema": schema_ref("Results")}}),
        errors=_IMAGE_ERRORS,
        description="Multipart 'file' parts, or one image as the raw body. {limits}",
        parameters=(query("explain", {"type": "boolean"}), _NAME),
        body=image_body(many=True))),
    Endpoint("/v1/explain", "POST", explain, Operation(
        "Grad-CAM overlay of one image, as PNG",
        ok("The overlay", {"image/png": {"schema": BINARY}}),
        errors=_IMAGE_ERRORS, parameters=(_NAME,), body=image_body(many=False))),
    Endpoint("/v1/model", "GET", model, Operation(
        "Labels, preprocessing, engine, versions, limits", JSON_OK, errors=(503,))),
    Endpoint("/healthz", "GET", healthz, Operation(
        "The process is alive (503 when inference is stuck or its thread is gone)", JSON_OK,
        errors=(503,)), public=True),
    Endpoint("/readyz", "GET", readyz, Operation(
        "Model loaded and warmed up (503 before, and while draining)", JSON_OK,
        errors=(503,)), public=True),
    Endpoint("/metrics", "GET", metrics, Operation("Prometheus metrics", ok(
        "Prometheus text", {"text/plain": {"schema": {"type": "string"}}}))),
    Endpoint("/openapi.json", "GET", schema, None),  # the schema does not describe itself
    *V2_ENDPOINTS,
])
_STARLETTE_ROUTES = ROUTES.starlette()


def create_app(loader: Callable[[], Detector] | None = None, config: ServeConfig | None = None,
               *, backend: BackendOpener | None = None) -> Starlette:
    """The ASGI app over a detector that ``loader`` opens in this process, or over the
    ``backend`` an opener gives (model replicas elsewhere). Either runs on a thread after
    start-up, so ``/healthz`` answers at once and ``/readyz`` turns 200 once it is warm."""
    config = config or ServeConfig()
    metrics = ServiceMetrics()
    if backend is None:
        if loader is None:
            raise ValueError("create_app needs a loader or a backend")
        backend = local_backend(loader)
    service = Service(backend, config, metrics)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.start()
        yield
        service.stop()

    middleware = [Middleware(RequestContext, config=config, metrics=metrics,
                             routes=_STARLETTE_ROUTES, public=ROUTES.public_paths())]
    if config.cors_origins:
        middleware.insert(0, Middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins), allow_credentials=False,
            allow_methods=["GET", "POST"],
            expose_headers=["X-Request-ID", "Inference-Header-Content-Length"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID",
                           "Inference-Header-Content-Length"]))
    handlers: dict[Any, Any] = {RequestError: _request_error, HTTPException: _http_error}
    app = Starlette(routes=_STARLETTE_ROUTES, middleware=middleware, lifespan=lifespan,
                    exception_handlers=handlers)
    app.state.service = service
    return app
