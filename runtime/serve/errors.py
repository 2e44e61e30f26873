"""The errors a route raises on purpose, each answered as ``{"error": "<one line>"}``."""

from __future__ import annotations

import math
from typing import Any

from anime_detector.errors import one_line

__all__ = ["LOADING_RETRY_S", "RETRY_AFTER", "RequestError", "error_body", "retry_after"]

RETRY_AFTER = {"Retry-After": "1"}  # a busy 503: the client may try again in a second
LOADING_RETRY_S = 5  # a 503 while the model loads: loading and warming up take seconds


def retry_after(seconds: float) -> dict[str, str]:
    """The ``Retry-After`` header of a 503: whole seconds, at least 1."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class RequestError(Exception):
    """Answer ``status`` with a one-line ``message`` (and optional headers / extra fields).

    ``kind`` names the error in the ``anime_detector_request_errors`` metric.
    """

    def __init__(self, status: int, message: str, kind: str, *,
                 headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = one_line(message, 500)
        self.kind = kind
        self.headers = headers or {}
        self.extra = extra or {}


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": one_line(message, 500), **extra}
