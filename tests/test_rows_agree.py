"""``predict``, ``batch``, ``serve`` and ``predict --server`` give the same rows.

All four run :mod:`anime_detector.prediction`'s decode -> run -> decide loop with their own
sources and sinks. The same images, good and bad, go through each: the local API, a Ray
Data job on a local Ray, the HTTP service's ``/v1/predict`` (a real server process) and the
remote client. Labels and error lines must be equal, scores and probabilities within 1e-6
(batches of different sizes may round differently in the engine).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("starlette")

from anime_detector.batch import PipelineConfig, read_rows, run_batch  # noqa: E402
from anime_detector.detector import Detector  # noqa: E402
from anime_detector.serve.client import RemoteDetector, encode_multipart  # noqa: E402

from helpers.bad_inputs import (  # noqa: E402
    corrupt_png_chunk,
    exif_rotated,
    grey_jpeg,
    rgba_png,
    text_as_jpg,
    truncated_jpeg,
    zero_byte,
)
from helpers.images import write_class_folder  # noqa: E402
from helpers.server import ServerProcess  # noqa: E402

TOLERANCE = 1e-6
BAD = (zero_byte, text_as_jpg, truncated_jpeg, corrupt_png_chunk)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Generated drawings, a few awkward but valid files, and four broken ones, mixed."""
    root = write_class_folder(tmp_path_factory.mktemp("rows") / "in", per_class=3)
    odd = root / "odd"
    odd.mkdir()
    good = sorted(str(p) for p in root.rglob("*.png"))
    good += [str(make(odd)) for make in (rgba_png, exif_rotated, grey_jpeg)]
    bad = [str(make(odd)) for make in BAD]
    return [good[0], bad[0], *good[1:4], bad[1], bad[2], *good[4:], bad[3]]


@pytest.fixture(scope="module")
def local_rows(tiny_model: Path, images: list[str]) -> list[dict[str, Any]]:
    detector = Detector.load(tiny_model, device="cpu")
    rows = [item.to_dict() for item in detector.predict_iter(images, batch_size=4)]
    assert sum("error" in r for r in rows) == len(BAD)  # the bad files failed, and only they
    return rows


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[ServerProcess]:
    running = ServerProcess(tiny_model, "--max-batch", "3")
    yield running
    running.stop()


def assert_same(rows: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert row.keys() == want.keys(), (row, want)
        for key, value in want.items():
            if key == "score":
                assert row[key] == pytest.approx(value, abs=TOLERANCE), want["path"]
            elif key == "probabilities":
                assert row[key].keys() == value.keys()
                assert all(row[key][k] == pytest.approx(v, abs=TOLERANCE)
                           for k, v in value.items()), want["path"]
            else:
                assert row[key] == value, (key, want["path"])


def test_batch_rows_equal_predict(tiny_model: Path, images: list[str],
                                  local_rows: list[dict[str, Any]], tmp_path: Path) -> None:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        out = tmp_path / "results.jsonl"
        summary = run_batch(tiny_model, images, out, progress=False,
                            config=PipelineConfig(actors=1, cpus_per_actor=1, batch_size=3))
    finally:
        ray.shutdown()
    assert (summary.images, summary.failed) == (len(images), len(BAD))
    assert_same(read_rows(out, "json"), local_rows)


def test_service_rows_equal_predict(server: ServerProcess, images: list[str],
                                    local_rows: list[dict[str, Any]]) -> None:
    # Every file goes to the server, the broken ones too: it decodes and judges them.
    boundary = uuid.uuid4().hex
    body = encode_multipart([(path, Path(path).read_bytes()) for path in images], boundary)
    request = urllib.request.Request(
        server.url + "/v1/predict", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, data = answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:  # 422: some images failed, the rows still come
        status, data = exc.code, json.loads(exc.read())
    assert status in (200, 422), data
    rows = [{"path": r.pop("name"), **r} for r in data["results"]]
    assert_same(rows, local_rows)


def test_remote_client_rows_equal_predict(server: ServerProcess, images: list[str],
                                          local_rows: list[dict[str, Any]]) -> None:
    remote = RemoteDetector(server.url)
    rows = [item.to_dict() for item in remote.predict_iter(images, batch_size=4)]
    assert_same(rows, local_rows)
