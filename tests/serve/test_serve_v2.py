"""The Open Inference Protocol (KServe v2) routes, driven by Triton's own HTTP client
(``tritonclient.http``) against the real service, in one process and on Ray Serve: health,
metadata, infer with BYTES images and FP32 tensors, in JSON and as binary data, with the
same probabilities as ``predict --format json``; and the errors, in the protocol's shape."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from anime_detector.detector import Detector
from anime_detector.preprocessing import preprocess

from helpers.cli import run_cli
from helpers.server import ServerProcess

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

NAME = "explain"  # the model file's stem
TOLERANCE = 1e-5  # onnxruntime's sums differ in the last bits between batch sizes
OUTPUTS = ("probabilities", "label", "score")


@pytest.fixture(scope="module")
def version(explain_model: Path) -> str:
    return hashlib.sha256(explain_model.read_bytes()).hexdigest()[:12]


@pytest.fixture(scope="module")
def expected(explain_model: Path, image_set: list[Path]) -> dict[str, dict[str, Any]]:
    """``anime-detector predict --format json``'s row of each image, by file name."""
    done = run_cli("predict", explain_model, *image_set[:8], "--format", "json", timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return {Path(row["path"]).name: row for row in rows}


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[Any]:
    triton = httpclient.InferenceServerClient(server.url.removeprefix("http://"),
                                              network_timeout=60.0)
    yield triton
    triton.close()


def _images(paths: list[Path], binary: bool) -> Any:
    """The ``image`` input: encoded files (base64 strings in JSON, as the protocol says)."""
    data = [p.read_bytes() for p in paths]
    tensor = httpclient.InferInput("image", [len(data)], "BYTES")
    values = data if binary else [base64.b64encode(d) for d in data]
    tensor.set_data_from_numpy(np.array(values, dtype=np.object_), binary_data=binary)
    return tensor


def _outputs(binary: bool, names: tuple[str, ...] = OUTPUTS) -> list[Any]:
    return [httpclient.InferRequestedOutput(n, binary_data=binary) for n in names]


def _check(result: Any, paths: list[Path], expected: dict[str, dict[str, Any]]) -> None:
    probabilities = result.as_numpy("probabilities")
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
    scores = result.as_numpy("score")
    assert probabilities.shape == (len(paths), 2)
    for i, path in enumerate(paths):
        row = expected[path.name]
        want = [row["probabilities"][k] for k in ("anime", "not_anime")]
        assert np.abs(probabilities[i] - want).max() <= TOLERANCE, path.name
        assert labels[i] == row["label"] and abs(scores[i] - row["score"]) <= TOLERANCE


def test_predictions_are_told_apart_beyond_the_tolerance(
        expected: dict[str, dict[str, Any]]) -> None:
    scores = sorted(row["score"] for row in expected.values())
    assert min(b - a for a, b in zip(scores, scores[1:], strict=False)) > 2 * TOLERANCE


def test_health_and_metadata(client: Any, version: str) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(NAME) and client.is_model_ready(NAME, version)
    assert not client.is_model_ready("other") and not client.is_model_ready(NAME, "0" * 12)
    server = client.get_server_metadata()
    assert server["name"] == "anime-detector" and "binary_tensor_data" in server["extensions"]
    meta = client.get_model_metadata(NAME)
    assert client.get_model_metadata(NAME, version) == meta
    assert meta["name"] == NAME and meta["versions"] == [version]
    assert {(t["name"], t["datatype"], tuple(t["shape"])) for t in meta["inputs"]} == {
        ("image", "BYTES", (-1,)), ("input", "FP32", (-1, 224, 224, 3))}
    assert [(t["name"], t["datatype"]) for t in meta["outputs"]] == [
        ("probabilities", "FP32"), ("label", "BYTES"), ("score", "FP32")]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_images_equal_predict(client: Any, image_set: list[Path],
                              expected: dict[str, dict[str, Any]], binary: bool) -> None:
    paths = image_set[:5]
    result = client.infer(NAME, [_images(paths, binary)], outputs=_outputs(binary),
                          request_id="req-7")
    _check(result, paths, expected)
    response = result.get_response()
    assert response["id"] == "req-7" and response["model_name"] == NAME
    assert all(("parameters" in o) == binary for o in response["outputs"])


def _tensor(explain_model: Path, paths: list[Path], binary: bool) -> Any:
    """The ``input`` input: preprocessed on the client, by the same function."""
    spec = Detector.load(explain_model).contract.spec
    batch = np.stack([preprocess(p, spec) for p in paths])
    tensor = httpclient.InferInput("input", list(batch.shape), "FP32")
    return tensor.set_data_from_numpy(batch, binary_data=binary)


def test_binary_tensors_equal_predict(client: Any, explain_model: Path, image_set: list[Path],
                                      expected: dict[str, dict[str, Any]], version: str
                                      ) -> None:
    paths = image_set[3:6]
    _check(client.infer(NAME, [_tensor(explain_model, paths, binary=True)],
                        model_version=version, outputs=_outputs(True)), paths, expected)


def test_no_outputs_named_gives_all_as_binary(client: Any, image_set: list[Path],
                                              expected: dict[str, dict[str, Any]]) -> None:
    """tritonclient then asks binary_data_output for every output."""
    result = client.infer(NAME, [_images(image_set[:2], binary=True)])
    assert [o["name"] for o in result.get_response()["outputs"]] == list(OUTPUTS)
    _check(result, image_set[:2], expected)


def test_only_the_outputs_asked_for(client: Any, image_set: list[Path],
                                    expected: dict[str, dict[str, Any]]) -> None:
    path = image_set[6]
    result = client.infer(NAME, [_images([path], binary=False)],
                          outputs=[httpclient.InferRequestedOutput("score", binary_data=True),
                                   httpclient.InferRequestedOutput("label", binary_data=False)])
    outputs = result.get_response()["outputs"]
    assert [o["name"] for o in outputs] == ["score", "label"]
    assert outputs[1]["data"] == [expected[path.name]["label"]]
    assert abs(result.as_numpy("score")[0] - expected[path.name]["score"]) <= TOLERANCE
    assert result.as_numpy("probabilities") is None


def _error(call: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value


def test_a_bad_image_names_its_index(client: Any, image_set: list[Path]) -> None:
    tensor = httpclient.InferInput("image", [3], "BYTES")
    tensor.set_data_from_numpy(np.array([image_set[0].read_bytes(), b"not an image",
                                         image_set[1].read_bytes()], dtype=np.object_))
    error = _error(lambda: client.infer(NAME, [tensor]))
    assert error.status() == "400"
    assert error.message().startswith("image[1]: ") and "\n" not in error.message()


@pytest.mark.parametrize(("datatype", "shape", "needle"), [
    ("FP64", [1, 224, 224, 3], "datatype FP64, not FP32"),
    ("FP32", [1, 224, 224], "shape of 4"),
    ("FP32", [1, 3, 224, 224], "this model takes [N, 224, 224, 3]"),
], ids=["datatype", "rank", "shape"])
def test_a_wrong_tensor_is_refused(client: Any, datatype: str, shape: list[int],
                                   needle: str) -> None:
    tensor = httpclient.InferInput("input", shape, datatype)
    tensor.set_data_from_numpy(np.zeros(shape, dtype=np.float64 if datatype == "FP64"
                                        else np.float32))
    error = _error(lambda: client.infer(NAME, [tensor]))
    assert error.status() == "400" and needle in error.message(), error.message()


def test_an_unknown_model_or_version_is_404(client: Any, image_set: list[Path]) -> None:
    for name, version in (("other", ""), (NAME, "0" * 12)):
        error = _error(lambda n=name, v=version: client.infer(
            n, [_images(image_set[:1], binary=True)], model_version=v))
        assert error.status() == "404" and "\n" not in error.message()
    assert _error(lambda: client.get_model_metadata("other")).status() == "404"


def test_more_images_than_max_files_is_refused(client: Any, image_set: list[Path]) -> None:
    error = _error(lambda: client.infer(NAME, [_images(image_set[:9], binary=True)]))
    assert error.status() == "400" and "send 1 to 8" in error.message()


def test_an_oversize_body_is_413(server: ServerProcess) -> None:
    """Over --max-body-mb (2 MB): refused from its Content-Length, in the protocol's shape."""
    header = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": 3 << 20}}]}).encode()
    response = httpx.post(f"{server.url}/v2/models/{NAME}/infer",
                          content=header + bytes(3 << 20),
                          headers={"Inference-Header-Content-Length": str(len(header))},
                          timeout=30)
    assert response.status_code == 413 and "over the limit" in response.json()["error"]


@pytest.mark.parametrize(("body", "headers", "status", "needle"), [
    (b'{"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["@@"]}]}',
     {}, 400, "image[0]: not base64"),
    (b"{not json", {}, 400, "not valid JSON"),
    (b'{"inputs": []}', {}, 400, "exactly one input"),
    (b'{"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["aA=="]}],'
     b' "outputs": [{"name": "logits"}]}', {}, 400, "unknown output 'logits'"),
    (b'{"inputs": []}', {"Inference-Header-Content-Length": "99"}, 400,
     "Inference-Header-Content-Length"),
    (b'{"inputs": []}', {"Content-Encoding": "gzip"}, 415, "Content-Encoding"),
], ids=["base64", "json", "no-input", "output", "header-length", "gzip"])
def test_malformed_requests(server: ServerProcess, body: bytes, headers: dict[str, str],
                            status: int, needle: str) -> None:
    response = httpx.post(f"{server.url}/v2/models/{NAME}/infer", content=body,
                          headers=headers, timeout=30)
    assert response.status_code == status
    assert set(response.json()) == {"error"} and needle in response.json()["error"]


def test_curl_style_json_and_metrics(server: ServerProcess, image_set: list[Path],
                                     expected: dict[str, dict[str, Any]]) -> None:
    """Plain JSON with base64 images (what the docs' curl example sends); /metrics counts
    it under the route's template and its images in the batch histogram."""
    path = image_set[7]
    request = {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                           "data": [base64.b64encode(path.read_bytes()).decode()]}]}
    response = httpx.post(f"{server.url}/v2/models/{NAME}/infer", json=request, timeout=30)
    assert response.status_code == 200
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["label"]["data"] == [expected[path.name]["label"]]
    assert outputs["probabilities"]["shape"] == [1, 2]
    text = httpx.get(server.url + "/metrics", timeout=10).text
    assert 'route="/v2/models/{name}/infer",status="200"' in text


@pytest.fixture(scope="module")
def keyed_server(explain_model: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[ServerProcess]:
    with ServerProcess(explain_model, "--api-key", "v2-key", "--model-name", "anime",
                       log=tmp_path_factory.mktemp("log") / "keyed.log") as running:
        yield running


def test_key_and_model_name(keyed_server: ServerProcess, explain_model: Path,
                            image_set: list[Path], expected: dict[str, dict[str, Any]]
                            ) -> None:
    """The probes need no key, everything else does; --model-name names the model. A JSON
    tensor (about 3 MB an image) fits this server's default body limit."""
    triton = httpclient.InferenceServerClient(keyed_server.url.removeprefix("http://"))
    try:
        assert triton.is_server_live() and triton.is_server_ready()
        assert _error(lambda: triton.get_model_metadata("anime")).status() == "401"
        key = {"Authorization": "Bearer v2-key"}
        assert triton.get_model_metadata("anime", headers=key)["name"] == "anime"
        assert _error(lambda: triton.get_model_metadata(NAME, headers=key)).status() == "404"
        paths = image_set[:2]
        result = triton.infer("anime", [_tensor(explain_model, paths, binary=False)],
                              outputs=_outputs(False), headers=key)
        _check(result, paths, expected)
    finally:
        triton.close()


def test_predict_server_on_the_v2_routes(server: ServerProcess, explain_model: Path,
                                         image_set: list[Path], tmp_path: Path) -> None:
    """``predict --server URL/v2/models/NAME``: the rows and exit code of a local ``predict``,
    a bad file among good ones included (the protocol fails the request on it: the client
    gives it its error row and sends the others again)."""
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    inputs = [str(p) for p in (image_set[0], bad, image_set[1], image_set[2])]
    local = run_cli("predict", explain_model, *inputs, "--format", "json", timeout=300)
    remote = run_cli("predict", "--server", f"{server.url}/v2/models/{NAME}", *inputs,
                     "--format", "json", "--batch-size", "4", timeout=300)
    assert remote.returncode == local.returncode == 1, remote.stderr
    local_rows = [json.loads(line) for line in local.stdout.splitlines()]
    remote_rows = [json.loads(line) for line in remote.stdout.splitlines()]
    assert [r["path"] for r in remote_rows] == [r["path"] for r in local_rows] == inputs
    for mine, theirs in zip(remote_rows, local_rows, strict=True):
        assert mine.get("label") == theirs.get("label")
        assert mine.get("error") == theirs.get("error")
        if "score" in theirs:
            assert abs(mine["score"] - theirs["score"]) <= TOLERANCE
