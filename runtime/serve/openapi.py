"""The OpenAPI 3.1 schema of the service (served at ``/openapi.json``): the
:class:`Operation` each route declares beside its handler, the pieces operations are built
from, and the document around them (info, security schemes, shared schemas).

Written out rather than derived: the routes read their bodies themselves (to count bytes
and bound the multipart parser), so a framework could not infer them. Each route carries
its operation in its declaration (:mod:`.routes`), which puts them into ``paths``. The test
suite fuzzes the service from this schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from anime_detector._version import __version__
from anime_detector.serve.config import ServeConfig

__all__ = ["BINARY", "JSON_OBJECT", "JSON_OK", "Operation", "document", "image_body", "limits",
           "ok", "query", "schema_ref"]

Json = dict[str, Any]
BINARY: Json = {"type": "string", "format": "binary"}
_ERROR_TEXT = {
    400: "Malformed request", 401: "Missing or wrong API key", 404: "No such model or version",
    408: "Headers not in within --header-timeout, or the body within --timeout",
    413: "Body over --max-body-mb", 415: "Unsupported media type",
    422: "No image could be read",
    503: "Not ready, the queue is full (Retry-After), or inference is stuck",
    504: "No answer within --timeout"}
_PATH_PARAMETER = re.compile(r"{(\w+)}")


def schema_ref(name: str) -> Json:
    """A reference to one of the document's shared schemas (``components``)."""
    return {"$ref": f"#/components/schemas/{name}"}


def ok(description: str, content: Json) -> Json:
    """A 200 response: ``content`` maps each media type to its ``{"schema": ...}``."""
    return {"description": description, "content": content}


JSON_OBJECT: Json = {"application/json": {"schema": {"type": "object"}}}
JSON_OK = ok("OK", JSON_OBJECT)


def query(name: str, schema: Json, description: str | None = None) -> Json:
    """An optional query parameter."""
    param: Json = {"name": name, "in": "query", "required": False, "schema": schema}
    if description is not None:
        param["description"] = description
    return param


def image_body(many: bool) -> Json:
    """The request body of the image routes: multipart ``file`` parts (one, or ``many``),
    or one image as the raw body."""
    part = {"type": "array", "items": BINARY} if many else BINARY
    return {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": part}}},
        "image/png": {"schema": BINARY},
        "image/jpeg": {"schema": BINARY},
    }}


def limits(config: ServeConfig) -> str:
    """The sentence that states a request's limits, for the descriptions."""
    return f"At most {config.max_files} files and {config.max_body_mb:g} MB per request."


@dataclass(frozen=True)
class Operation:
    """What the schema says about one route.

    Attributes:
        summary: One line.
        ok: The 200 response (:func:`ok`).
        errors: The error statuses it may answer; 401 is added for a route that needs the key.
        description: More words; ``{limits}`` stands for the service's limits (:func:`limits`).
        parameters: Query and header parameters; path parameters come from the path.
        body: The request body, if it takes one.
    """

    summary: str
    ok: Json
    errors: tuple[int, ...] = ()
    description: str | None = None
    parameters: tuple[Json, ...] = ()
    body: Json | None = None

    def render(self, path: str, *, public: bool, limits: str,
               model: tuple[str, str] | None) -> Json:
        """The operation object for ``path``; ``public``: answered without the key."""
        operation: Json = {"summary": self.summary}
        if self.description is not None:
            operation["description"] = self.description.format(limits=limits)
        if public:
            operation["security"] = []
        parameters = [*_path_parameters(path, model), *self.parameters]
        if parameters:
            operation["parameters"] = parameters
        if self.body is not None:
            operation["requestBody"] = self.body
        codes = sorted({*self.errors, *(() if public else (401,))})
        operation["responses"] = {"200": self.ok, **{str(code): {
            "description": _ERROR_TEXT[code],
            "content": {"application/json": {"schema": schema_ref("Error")}}}
            for code in codes}}
        return operation


def _path_parameters(path: str, model: tuple[str, str] | None) -> list[Json]:
    """One required parameter per ``{name}`` in ``path``. Once the model is loaded, its name
    and version are the only values ``{name}`` and ``{version}`` take."""
    known = dict(zip(("name", "version"), model, strict=True)) if model else {}
    parameters = []
    for name in _PATH_PARAMETER.findall(path):
        schema: Json = {"type": "string"}
        if name in known:
            schema["enum"] = [known[name]]
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


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


def document(config: ServeConfig, paths: Json) -> Json:
    """The whole schema around ``paths``: the key is asked for when ``config`` sets one."""
    security: list[dict[str, list[str]]] = (
        [{"bearer": []}, {"apiKey": []}] if config.key_digest() else [])
    return {
        "openapi": "3.1.0",
        "info": {"title": "anime-detector", "version": __version__,
                 "description": "Tell anime character art from photos and western cartoons."},
        "security": security,
        "paths": paths,
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
                    "results": {"type": "array", "items": schema_ref("Row")}}},
                "InferRequest": _INFER_REQUEST,
            },
        },
    }
