"""The Open Inference Protocol's (KServe v2) tensors over HTTP: reading an inference request,
writing its response. No web framework, no model: bytes in, checked tensors out.

A request body is a JSON object, or, with the binary tensor extension, a JSON header of
``Inference-Header-Content-Length`` bytes followed by the inputs' raw bytes in the order the
header lists them (each input says its ``binary_data_size``). Two inputs are understood:

- ``image``, BYTES ``[N]``: encoded image files; in JSON each is a base64 string, in binary
  each is a 4-byte little-endian length and the file's bytes (Triton's BYTES layout);
- ``input``, FP32 ``[N, H, W, 3]`` (``[N, 3, H, W]`` for an NCHW model): preprocessed
  images, little-endian, row-major.

Every count, shape, datatype and size is checked against the model and the service's limits
before a tensor is built; each problem is a :class:`~.errors.RequestError` (400, or 413 for
a JSON body holding more numbers than the largest allowed request).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.errors import one_line
from anime_detector.serve.errors import RequestError

__all__ = ["IMAGE", "INPUT", "OUTPUTS", "InferRequest", "TensorShape", "encode_response",
           "parse_request"]

IMAGE, INPUT = "image", "input"
OUTPUTS = ("probabilities", "label", "score")
_LENGTH = struct.Struct("<I")


def _bad(message: str) -> RequestError:
    return RequestError(400, message, "bad_request")


@dataclass(frozen=True)
class TensorShape:
    """What the model takes: ``(N, *image)`` FP32 (``image``: ``preprocessing.input_shape``),
    at most ``max_items`` images."""

    image: tuple[int, int, int]
    max_items: int

    @property
    def image_values(self) -> int:
        return math.prod(self.image)


@dataclass(frozen=True)
class InferRequest:
    """A checked inference request: either ``images`` (encoded files) or ``tensor``, and the
    outputs to answer, each with whether it goes as binary data."""

    id: str | None
    images: list[bytes] | None
    tensor: NDArray[np.float32] | None
    outputs: dict[str, bool] = field(default_factory=dict)


def parse_request(body: bytes, header_length: str | None, shape: TensorShape) -> InferRequest:
    """The request in ``body`` (``header_length``: the ``Inference-Header-Content-Length``
    header, when binary data follows the JSON).

    Raises:
        RequestError: 400 for anything malformed or not what the model takes.
    """
    header, binary = _split(body, header_length)
    # A JSON number takes at least two bytes with its comma: bound what parsing may build
    # by the largest request the limits allow, before parsing.
    most = shape.max_items * shape.image_values + 4096
    if header.count(b",") > most:
        raise RequestError(413, f"the JSON holds more values than {shape.max_items} images "
                           "of the model's size", "body_too_large")
    try:
        request = json.loads(header)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"the request is not valid JSON: {one_line(exc, 120)}") from None
    if not isinstance(request, dict):
        raise _bad("the request must be a JSON object")
    given = request.get("inputs")
    if not isinstance(given, list) or len(given) != 1 or not isinstance(given[0], dict):
        raise _bad(f"send exactly one input: '{IMAGE}' (BYTES, encoded images) or "
                   f"'{INPUT}' (FP32, preprocessed)")
    tensor = given[0]
    data = _binary_or_json(tensor, binary)
    name = tensor.get("name")
    images: list[bytes] | None = None
    array: NDArray[np.float32] | None = None
    if name == IMAGE:
        images = _images(tensor, data, shape)
    elif name == INPUT:
        array = _tensor(tensor, data, shape)
    else:
        raise _bad(f"unknown input {one_line(name, 60)!r}: this model takes '{IMAGE}' or "
                   f"'{INPUT}'")
    rid = request.get("id")
    return InferRequest(rid if isinstance(rid, str) else None, images, array,
                        _outputs(request))


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    if not header_length.strip().isdigit() or int(header_length) > len(body):
        raise _bad(f"Inference-Header-Content-Length {one_line(header_length, 20)!r} is not "
                   f"a length within the body of {len(body)} bytes")
    size = int(header_length)
    return body[:size], body[size:]


def _parameters(item: dict[str, Any]) -> dict[str, Any]:
    parameters = item.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _bad("'parameters' must be a JSON object")
    return parameters


def _binary_or_json(tensor: dict[str, Any], binary: bytes) -> bytes | list[Any]:
    """The input's binary data (the whole of what follows the header), or its JSON data."""
    parameters = _parameters(tensor)
    if any(key.startswith("shared_memory") for key in parameters):
        raise _bad("shared memory is not supported: send the data in the request")
    size = parameters.get("binary_data_size")
    if size is None:
        if binary:
            raise _bad(f"{len(binary)} bytes follow the JSON header but no input has a "
                       "binary_data_size")
        data = tensor.get("data")
        if not isinstance(data, list):
            raise _bad("the input has neither 'data' nor parameters.binary_data_size")
        return data
    if "data" in tensor:
        raise _bad("the input has both 'data' and parameters.binary_data_size")
    if not isinstance(size, int) or isinstance(size, bool) or size != len(binary):
        raise _bad(f"binary_data_size {one_line(size, 20)} is not the {len(binary)} bytes "
                   "after the JSON header")
    return binary


def _count(tensor: dict[str, Any], datatype: str, rank: int) -> list[int]:
    """The input's shape, after checking its datatype and rank; dimensions >= 0."""
    given = tensor.get("datatype")
    if given != datatype:
        raise _bad(f"input {tensor['name']!r} has datatype {one_line(given, 20)}, not "
                   f"{datatype}")
    dims = tensor.get("shape")
    if (not isinstance(dims, list) or len(dims) != rank
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                       for d in dims)):
        raise _bad(f"input {tensor['name']!r} needs a shape of {rank} whole numbers, not "
                   f"{one_line(dims, 60)}")
    return dims


def _check_items(name: str, count: int, shape: TensorShape) -> None:
    if not 1 <= count <= shape.max_items:
        raise _bad(f"input {name!r} holds {count} images: send 1 to {shape.max_items}")


def _images(tensor: dict[str, Any], data: bytes | list[Any], shape: TensorShape) -> list[bytes]:
    [count] = _count(tensor, "BYTES", 1)
    _check_items(IMAGE, count, shape)
    if isinstance(data, bytes):
        items = _unpack_bytes(data)
    else:
        if any(isinstance(d, list) for d in data):
            data = [d for row in data for d in (row if isinstance(row, list) else [row])]
        items = [_base64(i, d) for i, d in enumerate(data)]
    if len(items) != count:
        raise _bad(f"input {IMAGE!r} has shape [{count}] but {len(items)} elements")
    return items


def _base64(index: int, item: Any) -> bytes:
    if not isinstance(item, str):
        raise _bad(f"{IMAGE}[{index}]: a BYTES element in JSON must be a base64 string")
    try:
        return base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad(f"{IMAGE}[{index}]: not base64 ({one_line(exc, 80)})") from None


def _unpack_bytes(data: bytes) -> list[bytes]:
    """Triton's binary BYTES: each element a 4-byte little-endian length, then its bytes."""
    items: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 4 > len(data):
            raise _bad(f"{IMAGE}[{len(items)}]: the binary data ends inside a length")
        (size,) = _LENGTH.unpack_from(data, at)
        at += 4
        if at + size > len(data):
            raise _bad(f"{IMAGE}[{len(items)}]: {size} bytes announced, "
                       f"{len(data) - at} left in the binary data")
        items.append(data[at:at + size])
        at += size
    return items


def _tensor(tensor: dict[str, Any], data: bytes | list[Any], shape: TensorShape
            ) -> NDArray[np.float32]:
    dims = _count(tensor, "FP32", 4)
    _check_items(INPUT, dims[0], shape)
    want = [dims[0], *shape.image]
    if dims != want:
        raise _bad(f"input {INPUT!r} has shape {dims}; this model takes "
                   f"[N, {', '.join(map(str, shape.image))}]")
    values = math.prod(want)
    if isinstance(data, bytes):
        if len(data) != values * 4:
            raise _bad(f"input {INPUT!r} of shape {dims} needs {values * 4} bytes of FP32, "
                       f"not {len(data)}")
        array = np.frombuffer(data, dtype="<f4")
    else:
        try:
            array = np.asarray(data, dtype=np.float32).reshape(-1)
        except (ValueError, TypeError):
            raise _bad(f"input {INPUT!r}: 'data' must hold numbers only, nested evenly "
                       "or flat") from None
        if array.size != values:
            raise _bad(f"input {INPUT!r} of shape {dims} needs {values} values, not "
                       f"{array.size}")
    if not np.isfinite(array).all():
        raise _bad(f"input {INPUT!r} holds NaN or infinite values")
    return np.ascontiguousarray(array.reshape(want), dtype=np.float32)


def _outputs(request: dict[str, Any]) -> dict[str, bool]:
    """Output name -> binary, in the order asked (all three when none are named)."""
    default = bool(_parameters(request).get("binary_data_output", False))
    asked = request.get("outputs")
    if asked is None:
        return dict.fromkeys(OUTPUTS, default)
    if not isinstance(asked, list) or not asked:
        raise _bad("'outputs' must be a non-empty list of {\"name\": ...} objects")
    chosen: dict[str, bool] = {}
    for item in asked:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in OUTPUTS:
            raise _bad(f"unknown output {one_line(name, 60)!r}: this model gives "
                       f"{', '.join(OUTPUTS)}")
        chosen[name] = bool(_parameters(item).get("binary_data", default))
    return chosen


def encode_response(model: str, version: str, request: InferRequest, labels: list[str],
                    probabilities: NDArray[np.float32], scores: NDArray[np.float32]
                    ) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follows it."""
    count = len(labels)
    values: dict[str, tuple[str, list[int], Any]] = {
        "probabilities": ("FP32", list(probabilities.shape), probabilities),
        "label": ("BYTES", [count], labels),
        "score": ("FP32", [count], scores),
    }
    outputs, blobs = [], []
    for name, binary in request.outputs.items():
        datatype, dims, value = values[name]
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": dims}
        if binary:
            blob = (b"".join(_LENGTH.pack(len(s.encode())) + s.encode() for s in value)
                    if datatype == "BYTES" else value.astype("<f4").tobytes())
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = value if datatype == "BYTES" else value.reshape(-1).tolist()
        outputs.append(tensor)
    answer: dict[str, Any] = {"model_name": model, "model_version": version}
    if request.id is not None:
        answer["id"] = request.id
    answer["outputs"] = outputs
    header = json.dumps(answer).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)
