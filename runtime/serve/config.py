"""The service's settings: every limit and switch that ``serve`` takes on its command line."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["ServeConfig", "key_digest"]


def key_digest(key: str | bytes) -> bytes:
    """The SHA-256 of an API key: as configured (text, sent as UTF-8), or as a request's
    header carries it (its bytes)."""
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).digest()


@dataclass(frozen=True)
class ServeConfig:
    """Limits and switches of one service; the defaults are the command's.

    ``max_batch``/``max_wait_ms``: the dynamic batcher takes what is queued, up to
    ``max_batch`` images, and waits up to ``max_wait_ms`` for more only when asked to.
    ``max_queue``: images waiting for inference before new requests get 503.
    ``max_inflight_mb``: request bodies being read or worked on at once, all requests
    together (each counts its ``Content-Length``, or ``max_body_mb`` when chunked); past
    it, new requests get 503 before a byte of their body is read. One request is always
    let in. ``max_pixels``: larger images are refused from their header (the service's
    default is lower than ``predict``'s, to fit a small box). ``max_decode_mb``: images
    being decoded at once, all requests together, each charged what its header says
    decoding takes before a pixel is decoded; one over it all is refused, the others wait
    for room (up to ``timeout_s``). ``min_body_rate_kbs``: past its first seconds, a body
    arriving slower than this is cut off (408). ``max_connections``: open at once; past it
    a new one is answered 503 and closed (single process). ``header_timeout_s``: a
    request's line and headers must arrive within it, or 408 (single process; on Ray Serve,
    Ray's proxy reads them). ``model_name``: the model's name on the Open Inference Protocol
    routes (default: its file's stem).
    """

    max_body_mb: float = 20.0
    max_inflight_mb: float = 256.0
    max_files: int = 16
    max_pixels: int | None = 50_000_000  # None: predict's limit (89 MP, Pillow's warning)
    max_decode_mb: float = 512.0
    max_batch: int = 8  # why 8: docs/serve.md, "Batching: measured, then chosen"
    max_wait_ms: float = 0.0
    max_queue: int = 64
    timeout_s: float = 30.0
    header_timeout_s: float = 10.0
    min_body_rate_kbs: float = 32.0
    max_connections: int = 512
    threshold: float | None = None
    api_key: str | None = None
    api_key_sha256: str | None = None  # the key as a sealed config carries it (hex)
    cors_origins: tuple[str, ...] = ()
    grace_s: float = 10.0
    log_format: str = "text"
    echo_request_id: bool = True  # False behind a proxy that sets X-Request-ID (Ray Serve)
    model_name: str | None = None

    def __post_init__(self) -> None:
        if self.max_queue < self.max_files:  # such a request could never be queued
            raise ValueError(f"--max-queue {self.max_queue} is smaller than --max-files "
                             f"{self.max_files}: a request of {self.max_files} images would "
                             "never fit in the queue; raise --max-queue or lower --max-files")

    def sealed(self) -> ServeConfig:
        """This config with the API key replaced by its SHA-256, for where settings are
        shown or logged (Ray Serve's deployment arguments); it checks keys the same."""
        if self.api_key is None:
            return self
        return replace(self, api_key=None, api_key_sha256=key_digest(self.api_key).hex())

    def key_digest(self) -> bytes | None:
        """The SHA-256 of the API key that requests must carry, or None: no key needed."""
        if self.api_key is not None:
            return key_digest(self.api_key)
        return bytes.fromhex(self.api_key_sha256) if self.api_key_sha256 else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (a deployment's arguments, a YAML file); :meth:`from_dict` reverses it."""
        data = asdict(self)
        data["cors_origins"] = list(self.cors_origins)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServeConfig:
        return cls(**{**data, "cors_origins": tuple(data.get("cors_origins", ()))})

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_inflight_bytes(self) -> int:
        return int(self.max_inflight_mb * 1024 * 1024)

    @property
    def max_decode_bytes(self) -> int:
        return int(self.max_decode_mb * 1024 * 1024)
