"""Every route is declared once, in the app's route table: the OpenAPI schema documents
exactly those routes and methods, and the routes that need no key are routes of the app."""

from __future__ import annotations

from anime_detector.serve.app import ROUTE_TABLE
from anime_detector.serve.config import ServeConfig
from anime_detector.serve.middleware import PUBLIC_ROUTES
from anime_detector.serve.openapi import openapi_schema

UNDOCUMENTED = {"/openapi.json", "/"}  # the schema itself, and the HTML page (no API)


def app_routes() -> dict[str, set[str]]:
    return {route.path: {m.lower() for m in (route.methods or ())} - {"head"}
            for route in ROUTE_TABLE}


def test_the_schema_documents_exactly_the_app_routes() -> None:
    documented = {path: set(ops) for path, ops in
                  openapi_schema(ServeConfig())["paths"].items()}
    declared = {p: m for p, m in app_routes().items() if p not in UNDOCUMENTED}
    assert documented == declared


def test_public_routes_are_app_routes() -> None:
    assert PUBLIC_ROUTES <= set(app_routes())
