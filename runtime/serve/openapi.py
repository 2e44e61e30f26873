"""The OpenAPI 3.1 schema of the service's routes (served at ``/openapi.json``).

Written out rather than derived: the routes read their bodies themselves (to count bytes
and bound the multipart parser), so a framework could not infer them. The test suite
fuzzes the service from this schema. The Open Inference Protocol's routes
(:mod:`.v2_routes`) are here too; once the model is loaded, its name and version are the
only values their paths take.
"""

from __future__ import annotations

from typing import Any

from anime_detector._version import __version__
from anime_detector.serve.config import ServeConfig

__all__ = ["openapi_schema"]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed request", 401: "Missing or wrong API key",
            404: "No such model or version",
            408: "Headers not in within --header-timeout, or the body within --timeout",
            413: "Body over --max-body-mb", 415: "Unsupported media type",
            422: "No image could be read", 503: "Not ready, or the queue is full (Retry-After)",
            504: "No answer within --timeout"}
    return {str(code): {"description": text[code], "content": {
        "application/json": {"schema": _ERROR}}} for code in codes}


def _image_body(many: bool) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    part = {"type": "array", "items": binary} if many else binary
    return {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": part}}},
        "image/png": {"schema": binary},
        "image/jpeg": {"schema": binary},
    }}


def _name_param() -> dict[str, Any]:
    return {"name": "name", "in": "query", "required": False, "schema": {"type": "string"},
            "description": "The image's name in the answer, for a raw image body."}


def _v2_params(model: tuple[str, str] | None, versioned: bool) -> list[dict[str, Any]]:
    name: dict[str, Any] = {"type": "string"}
    version: dict[str, Any] = {"type": "string"}
    if model is not None:
        name["enum"], version["enum"] = [model[0]], [model[1]]
    params = [{"name": "name", "in": "path", "required": True, "schema": name}]
    if versioned:
        params.append({"name": "version", "in": "path", "required": True, "schema": version})
    return params


def _v2_model_paths(model: tuple[str, str] | None, limits: str) -> dict[str, Any]:
    """``/v2/models/{name}[/versions/{version}]``, ``.../ready`` and ``.../infer``."""
    json_body = {"application/json": {"schema": {"type": "object"}}}
    paths: dict[str, Any] = {}
    for base, versioned in (("/v2/models/{name}", False),
                            ("/v2/models/{name}/versions/{version}", True)):
        params = _v2_params(model, versioned)
        paths[base] = {"get": {
            "summary": "Model metadata: its inputs (image, input) and outputs", "parameters":
            params, "responses": {"200": {"description": "OK", "content": json_body},
                                  **_errors(401, 404, 503)}}}
        paths[base + "/ready"] = {"get": {
            "summary": "The model is loaded and warm", "parameters": params,
            "responses": {"200": {"description": "Ready", "content": json_body},
                          **_errors(401, 404, 503)}}}
        paths[base + "/infer"] = {"post": {
            "summary": "Classify images, Open Inference Protocol (KServe v2)",
            "description": "One input: 'image' (BYTES, base64 in JSON) or 'input' (FP32 "
                           "[N, H, W, 3]); binary data after a JSON header of "
                           "Inference-Header-Content-Length bytes. " + limits,
            "parameters": [*params, {
                "name": "Inference-Header-Content-Length", "in": "header", "required": False,
                "schema": {"type": "integer", "minimum": 0}}],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}},
                "application/octet-stream": {"schema": {"type": "string",
                                                        "format": "binary"}}}},
            "responses": {"200": {"description": "The outputs asked for", "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/octet-stream": {"schema": {"type": "string",
                                                        "format": "binary"}}}},
                **_errors(400, 401, 404, 408, 413, 415, 503, 504)}}}
    return paths


_TENSOR = {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
    "name": {"type": "string", "enum": ["image", "input"]},
    "shape": {"type": "array", "items": {"type": "integer"}},
    "datatype": {"type": "string", "enum": ["BYTES", "FP32"]},
    "parameters": {"type": "object"},
    "data": {"type": "array"}}}
_INFER_REQUEST = {"type": "object", "required": ["inputs"], "properties": {
    "id": {"type": "string"},
    "parameters": {"type": "object"},
    "inputs": {"type": "array", "items": _TENSOR},
    "outputs": {"type": "array", "items": {"type": "object", "required": ["name"],
                                           "properties": {
        "name": {"type": "string", "enum": ["probabilities", "label", "score"]},
        "parameters": {"type": "object"}}}}}}


def openapi_schema(config: ServeConfig, model: tuple[str, str] | None = None
                   ) -> dict[str, Any]:
    """The schema, with this service's limits in the descriptions; ``model``: the served
    model's name and version on the ``/v2`` routes, once known."""
    limits = (f"At most {config.max_files} files and {config.max_body_mb:g} MB per request.")
    security: list[dict[str, list[str]]] = (
        [{"bearer": []}, {"apiKey": []}] if config.key_digest() else [])
    get_json = {"200": {"description": "OK", "content": {"application/json": {
        "schema": {"type": "object"}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "anime-detector", "version": __version__,
                 "description": "Tell anime character art from photos and western cartoons."},
        "security": security,
        "paths": {
            "/v1/predict": {"post": {
                "summary": "Classify one or more images",
                "description": "Multipart 'file' parts, or one image as the raw body. " + limits,
                "parameters": [{"name": "explain", "in": "query", "required": False,
                                "schema": {"type": "boolean"}}, _name_param()],
                "requestBody": _image_body(many=True),
                "responses": {"200": {"description": "One row per image", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Results"}}}},
                    **_errors(400, 401, 408, 413, 415, 422, 503, 504)}}},
            "/v1/explain": {"post": {
                "summary": "Grad-CAM overlay of one image, as PNG",
                "parameters": [_name_param()],
                "requestBody": _image_body(many=False),
                "responses": {"200": {"description": "The overlay", "content": {
                    "image/png": {"schema": {"type": "string", "format": "binary"}}}},
                    **_errors(400, 401, 408, 413, 415, 422, 503, 504)}}},
            "/v1/model": {"get": {"summary": "Labels, preprocessing, engine, versions, limits",
                                  "responses": {**get_json, **_errors(401, 503)}}},
            "/healthz": {"get": {"summary": "The process is alive", "security": [],
                                 "responses": get_json}},
            "/readyz": {"get": {"summary": "Model loaded and warmed up (503 before, and "
                                           "while draining)", "security": [],
                                "responses": {**get_json, **_errors(503)}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
                "200": {"description": "Prometheus text", "content": {
                    "text/plain": {"schema": {"type": "string"}}}}, **_errors(401)}}},
            "/v2": {"get": {"summary": "Server metadata (Open Inference Protocol)",
                            "responses": {**get_json, **_errors(401)}}},
            "/v2/health/live": {"get": {"summary": "The process is alive", "security": [],
                                        "responses": get_json}},
            "/v2/health/ready": {"get": {"summary": "Model loaded and warmed up", "security": [],
                                         "responses": {**get_json, **_errors(503)}}},
            **_v2_model_paths(model, limits),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "apiKey": {"type": "apiKey", "in": "header",
                                           "name": "X-API-Key"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string"}}},
                "Row": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": ["string", "null"]}, "label": {"type": "string"},
                    "score": {"type": "number"},
                    "probabilities": {"type": "object",
                                      "additionalProperties": {"type": "number"}},
                    "heatmap": {"type": "array", "items": {"type": "array",
                                                           "items": {"type": "number"}}},
                    "error": {"type": "string"}}},
                "Results": {"type": "object", "required": ["results"], "properties": {
                    "results": {"type": "array",
                                "items": {"$ref": "#/components/schemas/Row"}}}},
                "InferRequest": _INFER_REQUEST,
            },
        },
    }
