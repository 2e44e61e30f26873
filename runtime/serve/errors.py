"""The errors a route raises on purpose, each answered as ``{"error": "<one line>"}``."""

from __future__ import annotations

from typing import Any

from anime_detector.errors import one_line

__all__ = ["RETRY_AFTER", "RequestError", "error_body"]

RETRY_AFTER = {"Retry-After": "1"}  # every 503: the client may try again in a second


class RequestError(Exception):
    """Answer ``status`` with a one-line ``message`` (and optional headers / extra fields).

    ``kind`` names the error in the ``anime_detector_errors`` metric.
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
