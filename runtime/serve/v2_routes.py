"""The Open Inference Protocol's (KServe v2) HTTP routes, beside ``/v1``: what Triton's and
KServe's clients, load tools and platforms call.

Server and model metadata, liveness and readiness, and ``infer`` (with the versioned forms
``/v2/models/{name}/versions/{version}/...``). The model's name is ``--model-name`` or its
file's stem, its version the first characters of its sha256. Requests pass through the
same middleware (key, body limit, metrics) and the same :class:`~.service.Service` (decoding
with every limit of ``/v1/predict``, the batcher) as ``/v1/predict``; the tensors are read
and written by :mod:`.v2_codec`. Every error is ``{"error": "<one line>"}``. Each route is
declared once, in :data:`V2_ENDPOINTS`, with its OpenAPI operation and whether it needs the
key (:mod:`.routes`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from anime_detector._version import __version__
from anime_detector.errors import one_line
from anime_detector.prediction import Prediction
from anime_detector.preprocessing import input_shape
from anime_detector.serve.backend import ModelCard
from anime_detector.serve.errors import RequestError, error_body
from anime_detector.serve.openapi import BINARY, JSON_OBJECT, JSON_OK, Operation, ok, schema_ref
from anime_detector.serve.routes import Endpoint
from anime_detector.serve.service import Service
from anime_detector.serve.uploads import Upload
from anime_detector.serve.v2_codec import (
    IMAGE,
    INPUT,
    InferRequest,
    TensorShape,
    encode_response,
    parse_request,
)

__all__ = ["V2_ENDPOINTS", "model_name"]

HEADER_LENGTH = "inference-header-content-length"
SERVER = "anime-detector"
EXTENSIONS = ["binary_tensor_data"]
_PLATFORMS = {"onnxruntime": "onnxruntime_onnx"}  # Triton's name where it has one


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def model_name(card: ModelCard, given: str | None) -> str:
    """The model's name on these routes: ``given`` (``--model-name``), else its file's stem."""
    return given or Path(card.name).stem


def _model(request: Request) -> tuple[Service, ModelCard, str]:
    """The service, its model and that model's name, once the path names it (404 if not)."""
    service = _service(request)
    card = service.card
    name = model_name(card, service.config.model_name)
    asked = request.path_params["name"]
    version = request.path_params.get("version")
    if asked != name:
        raise RequestError(404, f"unknown model {one_line(asked, 80)!r}: this server serves "
                           f"{name!r}", "not_found")
    if version is not None and version != card.version:
        raise RequestError(404, f"model {name!r} has no version {one_line(version, 80)!r}: its "
                           f"version is {card.version!r}", "not_found")
    return service, card, name


async def server_metadata(request: Request) -> Response:
    return JSONResponse({"name": SERVER, "version": __version__, "extensions": EXTENSIONS})


async def server_live(request: Request) -> Response:
    problem = _service(request).liveness()  # inference stuck or gone: 503, as /healthz
    if problem is None:
        return JSONResponse({"live": True})
    return JSONResponse(error_body(problem, live=False), status_code=503)


async def server_ready(request: Request) -> Response:
    _ = _service(request).card  # 503 (Retry-After) until loaded and warm, and while draining
    return JSONResponse({"ready": True})


async def model_ready(request: Request) -> Response:
    _, _, name = _model(request)
    return JSONResponse({"name": name, "ready": True})


async def model_metadata(request: Request) -> Response:
    service, card, name = _model(request)
    labels = list(card.contract.labels)
    return JSONResponse({
        "name": name, "versions": [card.version],
        "platform": _PLATFORMS.get(card.info.engine, card.info.engine),
        "inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [-1]},
                   {"name": INPUT, "datatype": "FP32",
                    "shape": [-1, *input_shape(card.contract.spec)]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, len(labels)]},
                    {"name": "label", "datatype": "BYTES", "shape": [-1]},
                    {"name": "score", "datatype": "FP32", "shape": [-1]}],
        "parameters": {"labels": ",".join(labels), "positive_label": labels[
            card.contract.positive_index], "threshold": (
            card.contract.threshold if service.config.threshold is None
            else service.config.threshold),
            "max_files": service.config.max_files,
            "max_body_mb": service.config.max_body_mb},
    })


async def infer(request: Request) -> Response:
    service, card, name = _model(request)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise RequestError(415, f"Content-Encoding {one_line(encoding, 20)!r} is not "
                           "supported: send the body uncompressed", "unsupported_media_type")
    with service.metrics.timed("read_body"):
        body = await request.body()
        shape = TensorShape(input_shape(card.contract.spec), service.config.max_files)
        parsed = await asyncio.get_running_loop().run_in_executor(
            service.pool, parse_request, body, request.headers.get(HEADER_LENGTH), shape)
    items: list[Upload] | NDArray[np.float32]
    if parsed.images is not None:
        items = [Upload(f"{IMAGE}[{i}]", data) for i, data in enumerate(parsed.images)]
    else:
        assert parsed.tensor is not None  # a request holds one input or the other
        items = parsed.tensor
    request.scope["state"]["images"] = len(items)  # for the log line
    predictions = await service.classify(items)
    with service.metrics.timed("respond"):
        return _answer(card, name, parsed, predictions)


def _answer(card: ModelCard, name: str, parsed: InferRequest, predictions: list[Prediction]
            ) -> Response:
    """The infer response: JSON, or a JSON header and binary outputs."""
    labels = list(card.contract.labels)
    probabilities = np.array([[p.probabilities[k] for k in labels] for p in predictions],
                             dtype=np.float32).reshape(len(predictions), len(labels))
    scores = np.array([p.score for p in predictions], dtype=np.float32)
    content, header_length = encode_response(
        name, card.version, parsed, [p.label for p in predictions], probabilities, scores)
    if header_length is None:
        return Response(content, media_type="application/json")
    return Response(content, media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(header_length)})


_MODEL = "/v2/models/{name}"
_VERSION = "/v2/models/{name}/versions/{version}"
_OUTPUTS = {**JSON_OBJECT, "application/octet-stream": {"schema": BINARY}}


def _model_endpoints(base: str) -> tuple[Endpoint, ...]:
    """The model's routes under ``base``: its metadata, readiness and ``infer``."""
    return (
        Endpoint(base, "GET", model_metadata, Operation(
            "Model metadata: its inputs (image, input) and outputs", JSON_OK,
            errors=(404, 503))),
        Endpoint(base + "/ready", "GET", model_ready, Operation(
            "The model is loaded and warm", ok("Ready", JSON_OBJECT),
            errors=(404, 503))),
        Endpoint(base + "/infer", "POST", infer, Operation(
            "Classify images, Open Inference Protocol (KServe v2)",
            ok("The outputs asked for", _OUTPUTS),
            errors=(400, 404, 408, 413, 415, 503, 504),
            description="One input: 'image' (BYTES, base64 in JSON) or 'input' (FP32 "
                        "[N, H, W, 3]); binary data after a JSON header of "
                        "Inference-Header-Content-Length bytes. {limits}",
            parameters=({"name": "Inference-Header-Content-Length", "in": "header",
                         "required": False, "schema": {"type": "integer", "minimum": 0}},),
            body={"required": True, "content": {
                "application/json": {"schema": schema_ref("InferRequest")},
                "application/octet-stream": {"schema": BINARY}}})),
    )


V2_ENDPOINTS = (
    Endpoint("/v2", "GET", server_metadata, Operation(
        "Server metadata (Open Inference Protocol)", JSON_OK)),
    Endpoint("/v2/health/live", "GET", server_live, Operation(
        "The process is alive (503 when inference is stuck or its thread is gone)", JSON_OK,
        errors=(503,)), public=True),
    Endpoint("/v2/health/ready", "GET", server_ready, Operation(
        "Model loaded and warmed up", JSON_OK, errors=(503,)), public=True),
    *_model_endpoints(_MODEL),
    *_model_endpoints(_VERSION),
)
