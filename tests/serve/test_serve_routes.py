"""The routes of a real service on loopback: rows equal ``predict``'s, under concurrency too."""

from __future__ import annotations

import asyncio
import io
import json
import random
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from anime_detector.detector import Detector, Failure
from anime_detector.drawing.heatmap_png import render_heatmap
from anime_detector.preprocessing import load_image

from helpers.server import ServerProcess, metric_value, scrape, wait_for_log


@pytest.fixture(scope="module")
def expected(explain_model: Path, image_set: list[Path]) -> dict[str, dict[str, Any]]:
    """``predict --format json``'s row for each image, from the same model, in-process."""
    detector = Detector.load(explain_model)
    return {p.name: {k: v for k, v in item.to_dict().items() if k != "path"}
            for p, item in zip(image_set, detector.predict(image_set), strict=True)}


TOLERANCE = 1e-5  # onnxruntime's sums differ in the last bits between batch sizes


def same_row(answer: dict[str, Any], expected: dict[str, Any]) -> bool:
    """The same label, and probabilities equal up to float32 rounding across batch sizes."""
    probs, want = answer.get("probabilities", {}), expected["probabilities"]
    return (answer.get("label") == expected["label"] and probs.keys() == want.keys()
            and abs(answer["score"] - expected["score"]) <= TOLERANCE
            and all(abs(probs[k] - want[k]) <= TOLERANCE for k in want))


def test_images_are_told_apart_beyond_the_tolerance(
        expected: dict[str, dict[str, Any]]) -> None:
    """Else a mixed-up answer could pass for the right one."""
    scores = sorted(float(row["score"]) for row in expected.values())
    assert min(b - a for a, b in zip(scores, scores[1:], strict=False)) > 2 * TOLERANCE


def test_multipart_rows_equal_predict(server: ServerProcess, image_set: list[Path],
                                      expected: dict[str, dict[str, Any]]) -> None:
    files = [("file", (p.name, p.read_bytes())) for p in image_set[:5]]
    response = httpx.post(server.url + "/v1/predict", files=files, timeout=30)
    assert response.status_code == 200, response.text
    rows = response.json()["results"]
    assert [r["name"] for r in rows] == [p.name for p in image_set[:5]]
    for r in rows:
        assert same_row(r, expected[r["name"]])
    assert response.headers["x-request-id"]


def test_raw_body_with_name(server: ServerProcess, image_set: list[Path],
                            expected: dict[str, dict[str, Any]]) -> None:
    path = image_set[1]
    response = httpx.post(server.url + "/v1/predict", params={"name": path.name},
                          content=path.read_bytes(), headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200
    [r] = response.json()["results"]
    assert r["name"] == path.name and same_row(r, expected[path.name])


def test_200_concurrent_requests_never_mix_results(
        server: ServerProcess, image_set: list[Path],
        expected: dict[str, dict[str, Any]]) -> None:
    rng = random.Random(7)
    picks = [rng.choice(image_set) for _ in range(200)]
    payloads = {p: p.read_bytes() for p in image_set}

    async def one(client: httpx.AsyncClient, path: Path) -> tuple[Path, httpx.Response]:
        for _ in range(50):  # a full queue answers 503 with Retry-After: honour it
            response = await client.post("/v1/predict", files=[("file", (path.name,
                                                                          payloads[path]))])
            if response.status_code != 503:
                return path, response
            await asyncio.sleep(float(response.headers.get("retry-after", "1")) / 10)
        return path, response

    async def run() -> list[tuple[Path, httpx.Response]]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            return await asyncio.gather(*(one(client, p) for p in picks))

    def batches_run() -> float:  # on Ray, the replicas' runs reach the front's /metrics
        return metric_value(scrape(server.url), "anime_detector_batch_size_count")  # with answers

    before = batches_run()  # the server is shared: other tests' batches are counted too
    results = asyncio.run(run())
    for path, response in results:
        assert response.status_code == 200, response.text
        [r] = response.json()["results"]
        assert r["name"] == path.name and same_row(r, expected[path.name])
    batches = batches_run() - before
    assert 0 < batches < 200, "the batcher ran one batch per image, at best"


def test_one_bad_image_is_a_row_among_good_ones(server: ServerProcess, image_set: list[Path],
                                                explain_model: Path) -> None:
    files = [("file", ("good.png", image_set[0].read_bytes())),
             ("file", ("notes.txt", b"not an image at all"))]
    response = httpx.post(server.url + "/v1/predict", files=files)
    assert response.status_code == 200
    good, bad = response.json()["results"]
    (local,) = Detector.load(explain_model).predict([image_set[0]])
    assert good["label"] == local.label
    assert good["score"] == pytest.approx(local.score, abs=1e-5)
    assert bad == {"name": "notes.txt", "error": "not a recognised image file"}


def test_explain_in_rows_and_as_png(server: ServerProcess, image_set: list[Path],
                                    explain_model: Path) -> None:
    path = image_set[3]
    response = httpx.post(server.url + "/v1/predict?explain=1",
                          files=[("file", (path.name, path.read_bytes()))])
    [r] = response.json()["results"]
    heat = r["heatmap"]
    assert len(heat) == 7 and len(heat[0]) == 7 and max(map(max, heat)) <= 1.0
    png = httpx.post(server.url + "/v1/explain", files=[("file", (path.name,
                                                                  path.read_bytes()))])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["x-label"] == r["label"]
    served = Image.open(io.BytesIO(png.content))
    detector = Detector.load(explain_model)  # what `explain` writes for the same file
    [local] = detector.predict_iter([path], explain=True)
    assert not isinstance(local, Failure) and local.heatmap is not None
    written = render_heatmap(load_image(path), local, local.heatmap)
    assert served.format == "PNG" and served.size == written.size
    diff = np.abs(np.asarray(served, np.int16) - np.asarray(written, np.int16))
    assert diff.mean() < 0.5


def test_model_info_health_and_metrics(server: ServerProcess, explain_model: Path) -> None:
    info = httpx.get(server.url + "/v1/model").json()
    assert info["model"] == explain_model.name  # on Ray too, where the file was shipped
    assert info["labels"] == ["anime", "not_anime"] and info["engine"] == "onnxruntime"
    assert info["can_explain"] is True and info["limits"]["max_batch"] == 8
    assert info["preprocessing"]["height"] == 224 and "onnxruntime" in info["versions"]
    assert httpx.get(server.url + "/healthz").json() == {"status": "alive"}
    assert httpx.get(server.url + "/readyz").status_code == 200
    metrics = httpx.get(server.url + "/metrics").text
    for name in ("http_requests_total", "http_request_duration_seconds_bucket",
                 "anime_detector_queue_depth", "anime_detector_batch_size_bucket",
                 "anime_detector_inference_seconds_bucket", "anime_detector_images_total",
                 "anime_detector_request_errors_total", "anime_detector_build_info"):
        assert name in metrics, name


def test_page_and_schema_load_nothing_from_outside(server: ServerProcess) -> None:
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "<title>anime-detector</title>" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    schema = httpx.get(server.url + "/openapi.json").json()
    assert set(schema["paths"]) >= {"/v1/predict", "/v1/explain", "/v1/model", "/readyz"}
    assert httpx.get(server.url + "/docs").status_code == 404  # no CDN-backed docs page


def test_one_log_line_per_request(process_server: ServerProcess) -> None:
    rid = "test-log-line-42"
    answer = httpx.get(process_server.url + "/v1/model", headers={"X-Request-ID": rid})
    assert answer.headers.get_list("x-request-id") == [rid]
    lines = wait_for_log(process_server, rid)
    assert len(lines) == 1 and "GET /v1/model 200" in lines[0]


def test_json_logs(explain_model: Path, tmp_path: Path) -> None:
    with ServerProcess(explain_model, "--log-format", "json", log=tmp_path / "log") as running:
        httpx.get(running.url + "/healthz", headers={"X-Request-ID": "json-1"})
        [line] = wait_for_log(running, "json-1")
        record = json.loads(line)
        assert record["route"] == "/healthz" and record["status"] == 200
        assert record["request_id"] == "json-1" and "ms" in record
        assert running.stop() == 0
