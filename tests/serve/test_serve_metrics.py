"""``/metrics`` on a real server, read with prometheus_client's own parser: Prometheus'
naming conventions, errors of requests and of images counted apart, the process metrics,
the build info, the time requests spend in each stage, and every metric described in
docs/serve.md."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.samples import Sample

from anime_detector._version import __version__
from anime_detector.serve.metrics import STAGES

from helpers.server import ServerProcess, metric_value, scrape

DOCS = Path(__file__).resolve().parents[2] / "docs" / "serve.md"


@pytest.fixture(scope="module")
def scraped(process_server: ServerProcess, image_set: list[Path]) -> dict[str, list[Sample]]:
    """The metrics after: a good request with one bad image in it, a request whose only
    image is bad (422), a body declared over the limit (413), and an unknown route."""
    url = process_server.url + "/v1/predict"
    good = image_set[0]
    mixed = [("file", (good.name, good.read_bytes())), ("file", ("notes.png", b"plain text"))]
    assert httpx.post(url, files=mixed, timeout=30).status_code == 200
    only_bad = [("file", ("broken.jpg", b"\xff\xd8\xff not a jpeg"))]
    assert httpx.post(url, files=only_bad, timeout=30).status_code == 422
    host, port = process_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:  # 50 MB declared
        sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                     b"Content-Length: 52428800\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")
    assert httpx.get(process_server.url + "/nowhere").status_code == 404
    return scrape(process_server.url)


def test_http_metrics_follow_prometheus_names(scraped: dict[str, list[Sample]]) -> None:
    assert metric_value(scraped, "http_requests_total", route="/v1/predict", status="200") >= 1
    assert metric_value(scraped, "http_requests_total", route="/v1/predict", status="422") == 1
    assert metric_value(scraped, "http_request_duration_seconds_count", route="/v1/predict") >= 3
    assert metric_value(scraped, "http_request_duration_seconds_bucket", route="/v1/predict",
                 le="+Inf") >= 3
    assert metric_value(scraped, "http_requests_in_flight") == 1  # this scrape, nothing left over
    gone = {"anime_detector_request_seconds", "anime_detector_errors",
            "anime_detector_requests"}
    assert not gone & set(scraped)


def test_errors_of_requests_and_of_images_are_counted_apart(
        scraped: dict[str, list[Sample]]) -> None:
    assert metric_value(scraped, "anime_detector_image_errors_total", kind="bad_image") == 2
    assert metric_value(scraped, "anime_detector_request_errors_total", kind="unreadable") == 1
    assert metric_value(scraped, "anime_detector_request_errors_total", kind="body_too_large") == 1
    kinds = {s.labels["kind"] for s in scraped["anime_detector_request_errors"]
             if s.name.endswith("_total")}
    assert "bad_image" not in kinds  # an image's failure is not the request's


def test_process_and_build_metrics(scraped: dict[str, list[Sample]], explain_model: Path
                                   ) -> None:
    assert metric_value(scraped, "process_resident_memory_bytes") > 10 * 2**20
    assert metric_value(scraped, "process_cpu_seconds_total") > 0
    assert metric_value(scraped, "process_open_fds") > 0
    sha = hashlib.sha256(explain_model.read_bytes()).hexdigest()
    assert metric_value(scraped, "anime_detector_build_info", version=__version__,
                 engine="onnxruntime", model=explain_model.name, model_sha256=sha[:12]) == 1
    assert metric_value(scraped, "anime_detector_decode_bytes") == 0  # nothing being decoded


def _stage_totals(url: str) -> dict[str, float]:
    """Each stage's seconds, the inference routes' summed request time, the images predicted
    and the engine's time, as ``/metrics`` says now."""
    families = scrape(url)
    totals = {stage: metric_value(families, "anime_detector_stage_seconds_total", stage=stage)
              for stage in STAGES}
    totals["requests"] = sum(
        metric_value(families, "http_request_duration_seconds_sum", route=route, missing=0.0)
        for route in ("/v1/predict", "/v2/models/{name}/infer"))
    totals["images"] = metric_value(families, "anime_detector_images_total")
    totals["engine"] = metric_value(families, "anime_detector_inference_seconds_sum")
    return totals


def test_stage_times_grow_with_requests_and_fit_in_their_time(
        process_server: ServerProcess, image_set: list[Path]) -> None:
    """Real requests to both inference routes, one after another (each one inference run):
    every stage grows, the runs are the engine's own time, and the stages together fit in
    the requests' time on the server, which fits in the time the client waited."""
    url = process_server.url
    before = _stage_totals(url)
    waited = 0.0
    infer = {"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES",
                         "data": [base64.b64encode(p.read_bytes()).decode()
                                  for p in image_set[4:6]]}]}
    requests = [("/v1/predict", {"files": [("file", (p.name, p.read_bytes()))]})
                for p in image_set[:3]]
    requests += [("/v1/predict", {"files": [("file", (p.name, p.read_bytes()))
                                            for p in image_set[3:6]]}),
                 ("/v2/models/explain/infer", {"json": infer})]
    for path, payload in requests:
        started = time.perf_counter()
        answer = httpx.post(url + path, timeout=30, **payload)  # type: ignore[arg-type]
        waited += time.perf_counter() - started
        assert answer.status_code == 200, answer.text
    after = _stage_totals(url)
    grown = {key: after[key] - before[key] for key in after}
    assert grown["images"] == 3 + 3 + 2
    assert all(grown[stage] > 0 for stage in STAGES), grown
    assert grown["infer"] == pytest.approx(grown["engine"], rel=1e-6)
    assert sum(grown[stage] for stage in STAGES) <= grown["requests"] <= waited


def test_every_metric_is_described_in_the_docs(scraped: dict[str, list[Sample]]) -> None:
    documented = set(re.findall(r"`([a-z_]+)(?:\{[^`]*\})?`", DOCS.read_text()))
    for family, samples in scraped.items():
        base = family.removesuffix("_created")  # a counter's or histogram's start time
        names = {base, f"{base}_total"} | {s.name for s in samples}
        assert names & documented, f"{family} is not described in docs/serve.md"
