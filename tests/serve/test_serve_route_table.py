"""Every route is declared once, in the app's route table (``ROUTES``): the app serves
exactly its routes, the OpenAPI schema's paths, parameters and security are read from it,
and with a key set only the routes it marks public answer without one."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from anime_detector.detector import Detector
from anime_detector.serve.app import ROUTES, create_app
from anime_detector.serve.config import ServeConfig
from anime_detector.serve.routes import RouteTable

# The routes with no operation, each on purpose: the HTML page, and the schema itself.
UNDOCUMENTED = {("GET", "/"), ("GET", "/openapi.json")}
PLACEHOLDER = re.compile(r"{(\w+)}")


def test_the_app_serves_exactly_the_table(explain_model: Path) -> None:
    app = create_app(lambda: Detector.load(explain_model), ServeConfig())
    served = [(route.path, set(route.methods or ()) - {"HEAD"}) for route in app.routes]
    assert served == [(e.path, {e.method}) for e in ROUTES.endpoints]


def test_every_route_is_documented_unless_named_undocumented() -> None:
    assert {(e.method, e.path) for e in ROUTES.endpoints if e.operation is None} == UNDOCUMENTED


def test_the_schema_paths_are_the_tables_documented_routes() -> None:
    schema = ROUTES.openapi(ServeConfig())
    documented = [(method.upper(), path) for path, operations in schema["paths"].items()
                  for method in operations]
    assert documented == [(e.method, e.path) for e in ROUTES.endpoints
                          if (e.method, e.path) not in UNDOCUMENTED]


@pytest.mark.parametrize("model", [None, ("explain", "0123abcd")])
def test_each_placeholder_is_a_path_parameter(model: tuple[str, str] | None) -> None:
    schema = ROUTES.openapi(ServeConfig(), model)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            assert [p["name"] for p in params] == PLACEHOLDER.findall(path), path
            values = dict(zip(("name", "version"), model, strict=True)) if model else {}
            for param in params:
                assert param["required"] is True
                assert param["schema"].get("enum") == (
                    [values[param["name"]]] if model else None), (path, param)


def test_the_schema_asks_the_key_on_exactly_the_keyed_routes() -> None:
    paths = ROUTES.openapi(ServeConfig(api_key="k" * 16))["paths"]
    for e in ROUTES.endpoints:
        if e.operation is None:
            continue
        operation = paths[e.path][e.method.lower()]
        assert (operation.get("security") == []) is e.public, e.path
        assert ("401" in operation["responses"]) is not e.public, e.path


def _status_without_key(app: Starlette, method: str, path: str) -> int:
    async def call() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (await client.request(method, path)).status_code
    return asyncio.run(call())


def test_without_the_key_only_the_public_routes_answer(explain_model: Path) -> None:
    app = create_app(lambda: Detector.load(explain_model), ServeConfig(api_key="s3cret-key"))
    public = set()
    for e in ROUTES.endpoints:
        status = _status_without_key(app, e.method, PLACEHOLDER.sub("x", e.path))
        assert status not in (404, 405, 500), (e.path, status)
        if status != 401:
            public.add(e.path)
    assert public == {e.path for e in ROUTES.endpoints if e.public} == ROUTES.public_paths()
    assert {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/"} == public


def test_a_table_refuses_a_route_twice_and_a_public_path_with_parameters() -> None:
    endpoints = list(ROUTES.endpoints)
    with pytest.raises(ValueError, match="declared twice"):
        RouteTable([*endpoints, endpoints[1]])
    templated = next(e for e in endpoints if "{" in e.path)
    with pytest.raises(ValueError, match="has parameters"):
        RouteTable([replace(templated, public=True)])
