"""The thin remote client behind ``predict --server URL``: the standard library only.

A device with no onnxruntime at all classifies through a box that runs ``serve``: files
are read here, sent in multipart requests that fit the server's limits (``GET
/v1/model`` says them), and the rows come back as the same :class:`Prediction` and
:class:`Failure` objects a local ``predict`` writes, so the output is the same.

A URL that names a model on the Open Inference Protocol routes
(``http://host:8000/v2/models/NAME[/versions/V]``) sends the images there instead, as
binary BYTES tensors (``Inference-Header-Content-Length``): what a gateway that routes only
``/v2`` (KServe) lets through. That protocol fails a request on its first bad image
(``image[i]: reason``); that image becomes its :class:`Failure` and the rest are sent again.
"""

from __future__ import annotations

import json
import re
import struct
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from anime_detector.errors import AnimeDetectorError, InputError, one_line
from anime_detector.image_paths import expand_inputs
from anime_detector.jobs.predict_files import NO_IMAGES, PredictSummary
from anime_detector.prediction import Failure, Prediction, in_order
from anime_detector.preprocessing import check_image_path
from anime_detector.serve.config import ServeConfig

__all__ = ["RemoteDetector", "ServerError", "encode_multipart"]

_DEFAULTS = ServeConfig()  # what a server that reports no limits runs with

_RETRIES = 5  # answers of 503 with Retry-After retried after it, at most this often
_V2_MODEL = re.compile(r"^(?P<base>.*?)(?P<model>/v2/models/[^/]+(?:/versions/[^/]+)?)/?$")
_V2_BAD_IMAGE = re.compile(r"^image\[(\d+)\]: (.*)$", re.DOTALL)


class ServerError(AnimeDetectorError):
    """The server cannot be used at all: unreachable, wrong key, not an anime-detector."""


@dataclass(frozen=True)
class _Sendable:
    path: str
    data: bytes


class RemoteDetector:
    """A running service, used like a local model by ``predict``."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        v2 = _V2_MODEL.match(url.rstrip("/"))
        self.url = v2["base"] if v2 else url.rstrip("/")
        self.v2_model = v2["model"] if v2 else None  # /v2/models/NAME[/versions/V]
        self.api_key = api_key
        self.timeout = timeout
        self.model = self._v2_metadata() if self.v2_model else self._json("GET", "/v1/model")
        self.labels: tuple[str, ...] = tuple(self.model["labels"])
        limits = self.model.get("limits", {})
        # A request never holds more images than the server may queue at once.
        files = int(limits.get("max_files", _DEFAULTS.max_files))  # an older server: defaults
        self.max_files = min(files, int(limits.get("max_queue", files)))
        self.max_bytes = int(float(limits.get("max_body_mb", _DEFAULTS.max_body_mb)) * 2**20)

    def _request(self, method: str, route: str, body: bytes | None = None,
                 content_type: str | None = None, extra: dict[str, str] | None = None
                 ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {"Accept": "application/json", **(extra or {})}
        if content_type:
            headers["Content-Type"] = content_type
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url + route, data=body, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _json_body(response.read()), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, _json_body(exc.read()), dict(exc.headers or {})
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerError(f"cannot reach {self.url}: {one_line(reason)}") from None

    def _json(self, method: str, route: str) -> dict[str, Any]:
        status, body, _ = self._request(method, route)
        if status != 200 or "labels" not in body:
            raise ServerError(f"{self.url}{route}: HTTP {status}: "
                              f"{body.get('error', 'not an anime-detector service')}")
        return body

    def _v2_metadata(self) -> dict[str, Any]:
        """The model's v2 metadata, as ``GET /v1/model`` would say it (labels, engine)."""
        route = str(self.v2_model)
        status, body, _ = self._request("GET", route)
        labels = body.get("parameters", {}).get("labels") if isinstance(
            body.get("parameters"), dict) else None
        inputs = {t.get("name") for t in body.get("inputs", []) if isinstance(t, dict)}
        if status != 200 or not isinstance(labels, str) or "image" not in inputs:
            raise ServerError(f"{self.url}{route}: HTTP {status}: "
                              f"{body.get('error', 'not an anime-detector model')}")
        limits = {k: body["parameters"][k] for k in ("max_files", "max_body_mb")
                  if isinstance(body["parameters"].get(k), (int, float))}
        return {"model": body.get("name"), "labels": labels.split(","),
                "engine": body.get("platform"), "versions": body.get("versions"),
                "limits": limits}

    def predict_files(self, inputs: Sequence[str], emit: Callable[[Prediction | Failure], None],
                      recursive: bool = False, batch_size: int = 8) -> PredictSummary:
        """Send every image that ``inputs`` name and hand each result to ``emit``, in
        order: what :func:`~anime_detector.jobs.predict_files.predict_files` does with a
        local model.

        Raises:
            InputError: the inputs name no image at all.
        """
        paths = expand_inputs(inputs, recursive)
        if not paths:
            raise InputError(" ".join(inputs), NO_IMAGES)
        summary = PredictSummary(total=len(paths))
        for item in self.predict_iter(paths, batch_size):
            summary.failed += isinstance(item, Failure)
            emit(item)
        return summary

    def predict_iter(self, paths: Iterable[str], batch_size: int = 8
                     ) -> Iterator[Prediction | Failure]:
        """One result per path, in order: a file that cannot be sent is its
        :class:`Failure`; the others go in requests that fit the server's limits (at most
        ``batch_size`` images each)."""
        return in_order((_read(path, self.max_bytes) for path in paths), self._send,
                        size=min(batch_size, self.max_files),
                        weight=lambda sendable: len(sendable.data),
                        max_weight=self.max_bytes * 0.95)

    def _send(self, files: list[_Sendable]) -> list[Prediction | Failure]:
        return [_to_result(f.path, row) for f, row in zip(files, self._post(files), strict=True)]

    def _post(self, files: list[_Sendable]) -> list[dict[str, Any]]:
        if self.v2_model:
            return self._post_v2(files)
        boundary = uuid.uuid4().hex
        body = encode_multipart([(f.path, f.data) for f in files], boundary)
        status, answer = self._send_retrying(
            "/v1/predict", body, f"multipart/form-data; boundary={boundary}")
        if status == 401:
            raise ServerError(f"{self.url}: HTTP 401: {answer.get('error', 'unauthorized')}")
        rows = answer.get("results")
        if status in (200, 422) and isinstance(rows, list) and len(rows) == len(files):
            return rows
        reason = f"server answered HTTP {status}: {answer.get('error', 'no usable answer')}"
        return [{"error": reason} for _ in files]

    def _send_retrying(self, route: str, body: bytes, content_type: str,
                       extra: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        """POST, retrying a 503 that says Retry-After (busy, loading, a replica restarting)."""
        for _ in range(_RETRIES + 1):
            status, answer, headers = self._request("POST", route, body, content_type, extra)
            retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after")
            if status != 503 or retry_after is None:
                break
            time.sleep(min(5.0, float(retry_after) if retry_after.isdigit() else 1.0))
        return status, answer

    def _post_v2(self, files: list[_Sendable]) -> list[dict[str, Any]]:
        """The rows of ``files`` from the v2 ``infer`` route; an image the server names as bad
        gets its error row and the others are sent again without it."""
        header = json.dumps({"inputs": [{
            "name": "image", "shape": [len(files)], "datatype": "BYTES",
            "parameters": {"binary_data_size": sum(4 + len(f.data) for f in files)}}],
            "outputs": [{"name": "probabilities"}, {"name": "label"}, {"name": "score"}],
        }).encode()
        body = header + b"".join(struct.pack("<I", len(f.data)) + f.data for f in files)
        status, answer = self._send_retrying(
            f"{self.v2_model}/infer", body, "application/octet-stream",
            {"Inference-Header-Content-Length": str(len(header))})
        error = str(answer.get("error", "no usable answer"))
        if status == 401:
            raise ServerError(f"{self.url}: HTTP 401: {error}")
        bad = _V2_BAD_IMAGE.match(error) if status == 400 else None
        if bad and int(bad[1]) < len(files):
            index = int(bad[1])
            rest = files[:index] + files[index + 1:]
            rows = self._post_v2(rest) if rest else []
            return [*rows[:index], {"error": bad[2]}, *rows[index:]]
        outputs = {o.get("name"): o.get("data") for o in answer.get("outputs", [])
                   if isinstance(o, dict)}
        probs, labels, scores = (outputs.get(k) for k in ("probabilities", "label", "score"))
        count, width = len(files), len(self.labels)
        if (status != 200 or not isinstance(probs, list) or len(probs) != count * width
                or not isinstance(labels, list) or not isinstance(scores, list)
                or len(labels) != count or len(scores) != count):
            reason = f"server answered HTTP {status}: {error}"
            return [{"error": reason} for _ in files]
        return [{"label": labels[i], "score": scores[i],
                 "probabilities": dict(zip(self.labels, probs[i * width:(i + 1) * width],
                                           strict=True))} for i in range(count)]


def _read(path: str, max_bytes: int) -> Failure | _Sendable:
    try:
        checked = check_image_path(path)
        if checked.stat().st_size > max_bytes:
            raise InputError(path, f"file of {checked.stat().st_size / 2**20:.1f} MB is over "
                             f"the server's limit of {max_bytes / 2**20:g} MB")
        return _Sendable(path, checked.read_bytes())
    except InputError as exc:
        return Failure(path, exc.reason)
    except OSError as exc:
        return Failure(path, f"cannot read file: {exc.strerror or exc}")


def encode_multipart(files: list[tuple[str, bytes]], boundary: str) -> bytes:
    """A ``multipart/form-data`` body of ``file`` parts, one per (name, bytes): what
    ``/v1/predict`` reads (the load generator of the benchmarks sends the same)."""
    parts = []
    for path, data in files:
        name = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        name = name.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n')
        parts.append(head.encode("utf-8") + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _to_result(path: str, row: dict[str, Any]) -> Prediction | Failure:
    if "label" not in row:
        return Failure(path, str(row.get("error", "no result")))
    return Prediction(str(row["label"]), float(row["score"]),
                      {str(k): float(v) for k, v in row["probabilities"].items()}, path)
