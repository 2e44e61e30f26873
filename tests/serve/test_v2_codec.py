"""The Open Inference Protocol's request reader and response writer on their own: every
malformed request is one 400 (or 413) line naming what is wrong, before any tensor is
built; a response reads back with Triton's own result parser."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import numpy as np
import pytest

from anime_detector.serve.errors import RequestError
from anime_detector.serve.v2_codec import (
    InferRequest,
    TensorShape,
    encode_response,
    parse_request,
)

SHAPE = TensorShape((4, 5, 3), max_items=3)


def _json(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def _refusal(body: bytes, header_length: str | None = None) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse_request(body, header_length, SHAPE)
    assert "\n" not in caught.value.message
    return caught.value


def test_images_in_json_and_in_binary_read_the_same() -> None:
    files = [b"\x89PNG first", b"second"]
    in_json = parse_request(_json({"name": "image", "shape": [2], "datatype": "BYTES",
                                   "data": [base64.b64encode(f).decode() for f in files]}),
                            None, SHAPE)
    blob = b"".join(struct.pack("<I", len(f)) + f for f in files)
    header = _json({"name": "image", "shape": [2], "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(blob)}})
    in_binary = parse_request(header + blob, str(len(header)), SHAPE)
    assert in_json.images == in_binary.images == files


def test_a_tensor_in_json_and_in_binary_read_the_same() -> None:
    values = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3) / 7
    in_json = parse_request(_json({"name": "input", "shape": [2, 4, 5, 3], "datatype": "FP32",
                                   "data": values.tolist()}), None, SHAPE)  # nested
    header = _json({"name": "input", "shape": [2, 4, 5, 3], "datatype": "FP32",
                    "parameters": {"binary_data_size": values.nbytes}})
    in_binary = parse_request(header + values.tobytes(), str(len(header)), SHAPE)
    assert in_json.tensor is not None and in_binary.tensor is not None
    assert np.array_equal(in_json.tensor, values) and np.array_equal(in_binary.tensor, values)


def test_outputs_default_to_all_and_follow_binary_data_output() -> None:
    tensor = {"name": "image", "shape": [1], "datatype": "BYTES", "data": ["aA=="]}
    assert parse_request(_json(tensor), None, SHAPE).outputs == {
        "probabilities": False, "label": False, "score": False}
    chosen = parse_request(_json(tensor, parameters={"binary_data_output": True},
                                 outputs=[{"name": "label"},
                                          {"name": "score", "parameters": {"binary_data": False}}]),
                           None, SHAPE)
    assert chosen.outputs == {"label": True, "score": False}


IMAGE = {"name": "image", "shape": [1], "datatype": "BYTES"}
TENSOR = {"name": "input", "shape": [1, 4, 5, 3], "datatype": "FP32"}


@pytest.mark.parametrize(("body", "needle"), [
    (b"[1, 2]", "must be a JSON object"),
    (b"\xff\xfe", "not valid JSON"),
    (_json(), "exactly one input"),
    (_json({**IMAGE, "data": ["aA=="]}, {**IMAGE, "data": ["aA=="]}), "exactly one input"),
    (_json({**IMAGE, "name": "pixels", "data": ["aA=="]}), "unknown input 'pixels'"),
    (_json({**IMAGE}), "neither 'data' nor"),
    (_json({**IMAGE, "data": ["aA==", "aA=="]}), "shape [1] but 2 elements"),
    (_json({**IMAGE, "data": [7]}), "image[0]: a BYTES element in JSON must be a base64"),
    (_json({**IMAGE, "datatype": "FP32", "data": ["aA=="]}), "datatype FP32, not BYTES"),
    (_json({**IMAGE, "shape": [4], "data": ["aA=="] * 4}), "holds 4 images: send 1 to 3"),
    (_json({**IMAGE, "shape": [0], "data": []}), "holds 0 images"),
    (_json({**IMAGE, "shape": [-1], "data": ["aA=="]}), "shape of 1 whole numbers"),
    (_json({**IMAGE, "data": ["aA=="], "parameters": {"shared_memory_region": "r"}}),
     "shared memory is not supported"),
    (_json({**TENSOR, "data": [0.0] * 59}), "needs 60 values, not 59"),
    (_json({**TENSOR, "data": [[0.0], [0.0, 1.0]]}), "numbers only"),
    (_json({**TENSOR, "data": ["x"] * 60}), "numbers only"),
    (_json({**TENSOR, "data": [float("nan")] * 60}), "NaN or infinite"),
    (_json({**TENSOR, "shape": [1, 5, 4, 3], "data": [0.0] * 60}),
     "this model takes [N, 4, 5, 3]"),
    (_json({**IMAGE, "data": ["aA=="]}, outputs=[]), "non-empty list"),
    (_json({**IMAGE, "data": ["aA=="]}, outputs=[{"name": "logits"}]), "unknown output"),
    (_json({**IMAGE, "data": ["aA=="]}, parameters=[1]), "'parameters' must be"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_malformed_json_is_one_line(body: bytes, needle: str) -> None:
    error = _refusal(body)
    assert error.status == 400 and needle in error.message, error.message


def _binary(tensor: dict[str, Any], blob: bytes, size: int | None = None) -> tuple[bytes, str]:
    header = _json({**tensor, "parameters": {"binary_data_size": len(blob) if size is None
                                             else size}})
    return header + blob, str(len(header))


@pytest.mark.parametrize(("body", "needle"), [
    (_binary(IMAGE, b"\x05\x00"), "image[0]: the binary data ends inside a length"),
    (_binary(IMAGE, struct.pack("<I", 9) + b"abc"), "image[0]: 9 bytes announced, 3 left"),
    (_binary(IMAGE, b"abcd", size=3), "binary_data_size 3 is not the 4 bytes"),
    (_binary(TENSOR, bytes(16)), "needs 240 bytes of FP32, not 16"),
    ((_json({**IMAGE, "data": ["aA=="]}) + b"tail",
      str(len(_json({**IMAGE, "data": ["aA=="]})))), "4 bytes follow the JSON header"),
    ((b'{"inputs": []}', "99"), "is not a length within the body"),
    ((b'{"inputs": []}', "-1"), "is not a length within the body"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_malformed_binary_is_one_line(body: tuple[bytes, str], needle: str) -> None:
    error = _refusal(*body)
    assert error.status == 400 and needle in error.message, error.message


def test_a_json_with_more_values_than_the_limits_allow_is_413_before_parsing() -> None:
    body = b'{"inputs": [{"name": "input", "data": [' + b"0," * 200_000 + b"0]}]}"
    error = _refusal(body)
    assert error.status == 413


def test_a_response_reads_back_with_tritons_parser() -> None:
    infer_result = pytest.importorskip("tritonclient.http").InferResult
    probabilities = np.array([[0.25, 0.75], [0.875, 0.125]], dtype=np.float32)
    scores = probabilities[:, 0].copy()
    for outputs, binary in (({"label": True, "probabilities": True, "score": False}, True),
                            (dict.fromkeys(("label", "probabilities", "score"), False), False)):
        request = InferRequest("r1", [b"a", b"b"], None, outputs)
        body, header_length = encode_response("m", "v1", request, ["not_anime", "anime"],
                                              probabilities, scores)
        assert (header_length is not None) == binary
        result = infer_result.from_response_body(body, header_length=header_length)
        assert result.get_response()["id"] == "r1"
        assert [o["name"] for o in result.get_response()["outputs"]] == [
            "label", "probabilities", "score"]
        assert np.array_equal(result.as_numpy("probabilities"), probabilities)
        assert np.array_equal(result.as_numpy("score"), scores)
        labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
        assert labels == ["not_anime", "anime"]
