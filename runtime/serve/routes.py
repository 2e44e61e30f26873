"""The service's routes, each declared once as an :class:`Endpoint`: its path, method,
handler, whether it needs the API key, and its OpenAPI operation.

A :class:`RouteTable` of them is the one source of what the app serves: the Starlette
routes, the paths the middleware lets through without a key, and the ``paths`` of the
OpenAPI schema are all read from it, so none of them can name a route the others lack.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from anime_detector.serve.config import ServeConfig
from anime_detector.serve.openapi import Operation, document, limits

__all__ = ["Endpoint", "RouteTable"]

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    """One route: ``method`` on ``path`` answered by ``handler``.

    Attributes:
        operation: How the schema documents it; None keeps it out of the schema (say why
            where it is declared).
        public: Answered without the API key. Only a literal path can be public (the key
            check compares the request's path with it).
    """

    path: str
    method: str
    handler: Handler
    operation: Operation | None
    public: bool = False


class RouteTable:
    """The endpoints of the app, in the order Starlette matches them.

    Raises:
        ValueError: Two endpoints share a path and method, or a public path has parameters.
    """

    def __init__(self, endpoints: Iterable[Endpoint]) -> None:
        self.endpoints = tuple(endpoints)
        seen: set[tuple[str, str]] = set()
        for endpoint in self.endpoints:
            key = (endpoint.path, endpoint.method)
            if key in seen:
                raise ValueError(f"{endpoint.method} {endpoint.path} is declared twice")
            if endpoint.public and "{" in endpoint.path:
                raise ValueError(f"public path {endpoint.path} has parameters: the key check "
                                 "compares literal paths")
            seen.add(key)

    def starlette(self) -> list[Route]:
        """The Starlette routes, one per endpoint."""
        return [Route(e.path, e.handler, methods=[e.method]) for e in self.endpoints]

    def public_paths(self) -> frozenset[str]:
        """The paths answered without the API key."""
        return frozenset(e.path for e in self.endpoints if e.public)

    def openapi(self, config: ServeConfig, model: tuple[str, str] | None = None
                ) -> dict[str, Any]:
        """The OpenAPI schema of the documented endpoints, with ``config``'s limits in the
        descriptions; ``model``: the served model's name and version, once known."""
        paths: dict[str, Any] = {}
        described = limits(config)
        for e in self.endpoints:
            if e.operation is not None:
                paths.setdefault(e.path, {})[e.method.lower()] = e.operation.render(
                    e.path, public=e.public, limits=described, model=model)
        return document(config, copy.deepcopy(paths))  # nothing shared with the declarations
