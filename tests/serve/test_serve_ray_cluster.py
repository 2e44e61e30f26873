"""The service on a Ray cluster of two simulated nodes (``ray.cluster_utils.Cluster``), one
model replica on each: requests spread over both, answers equal ``predict``'s, a killed
replica costs a bounded number of 503s and comes back, and the config that
``--print-config`` writes is one Ray Serve accepts. One cluster for the module."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anime_detector.detector import Detector

from helpers.server import free_port, wait_ready

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")
yaml = pytest.importorskip("yaml")

from anime_detector.ray_support import ship_model  # noqa: E402
from anime_detector.serve.config import ServeConfig  # noqa: E402
from anime_detector.serve.ray_app import (  # noqa: E402
    APP_NAME,
    ReplicaOptions,
    app_builder,
    build_app,
)

pytestmark = pytest.mark.slow
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    ray.init(address=nodes.address, logging_level=logging.WARNING, log_to_driver=False)
    yield nodes
    serve.shutdown()
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture(scope="module")
def url(cluster: Any, explain_model: Path) -> str:
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port}, proxy_location="HeadOnly")
    config = ServeConfig(max_batch=4, max_queue=64)
    options = ReplicaOptions.make(replicas=2, cpus=1, max_batch=4, max_queue=64)
    serve.run(build_app(ship_model(explain_model), config, options), name=APP_NAME,
              route_prefix="/")
    address = f"http://127.0.0.1:{port}"
    wait_ready(address, 120)
    return address


def replicas() -> dict[str, dict[str, Any]]:
    """Every running model replica, by id, with its process and node (asked until both
    answered: the handle picks a replica per call)."""
    handle = serve.get_deployment_handle("ModelReplica", APP_NAME)
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while len(found) < 2 and time.monotonic() < deadline:
        with_retry = handle.process.remote()
        try:
            info = with_retry.result(timeout_s=10)
        except Exception:  # a replica that is starting again
            time.sleep(0.5)
            continue
        found[info["replica"]] = info
    return found


def post_all(url: str, files: list[Path], clients: int = 8) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        gate = asyncio.Semaphore(clients)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            async def one(path: Path) -> httpx.Response:
                async with gate:
                    return await client.post("/v1/predict", files=[
                        ("file", (path.name, path.read_bytes()))])
            return await asyncio.gather(*(one(p) for p in files))

    return asyncio.run(run())


def test_requests_spread_over_both_nodes_and_equal_predict(
        url: str, explain_model: Path, image_set: list[Path]) -> None:
    found = replicas()
    assert len(found) == 2 and len({r["node"] for r in found.values()}) == 2
    expected = {p.name: item for p, item in zip(
        image_set, Detector.load(explain_model).predict(image_set), strict=True)}
    answers = post_all(url, image_set * 2)
    for path, response in zip(image_set * 2, answers, strict=True):
        assert response.status_code == 200, response.text
        [row] = response.json()["results"]
        want = expected[path.name]
        assert row["name"] == path.name and row["label"] == want.label
        assert abs(row["score"] - want.score) <= TOLERANCE
    counts = {line.split('"')[1]: float(line.split()[-1]) for line in
              httpx.get(url + "/metrics").text.splitlines()
              if line.startswith("anime_detector_replica_images_total{")}
    assert set(counts) == set(found) and all(n > 0 for n in counts.values())
    assert sum(counts.values()) >= 2 * len(image_set)


def test_a_killed_replica_costs_bounded_503s_then_comes_back(
        url: str, image_set: list[Path]) -> None:
    before = replicas()
    victim = next(iter(before.values()))
    load = image_set * 4
    started = time.monotonic()

    async def run() -> list[httpx.Response]:
        gate = asyncio.Semaphore(8)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            async def one(i: int, path: Path) -> httpx.Response:
                async with gate:
                    if i == len(load) // 3:  # a third of the way in
                        os.kill(victim["pid"], signal.SIGKILL)
                    return await client.post("/v1/predict", files=[
                        ("file", (path.name, path.read_bytes()))])
            return await asyncio.gather(*(one(i, p) for i, p in enumerate(load)))

    answers = asyncio.run(run())
    assert time.monotonic() - started < 120  # nothing hung
    statuses = [a.status_code for a in answers]
    failed = [a for a in answers if a.status_code != 200]
    assert set(statuses) <= {200, 503}
    assert len(failed) <= 16, f"{len(failed)} of {len(load)} failed"  # at most what was in flight
    for answer in failed:
        assert answer.headers["retry-after"] == "1" and "Traceback" not in answer.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # Ray Serve starts a new replica in its place
        after = replicas()
        if len(after) == 2 and victim["replica"] not in after:
            break
        time.sleep(1)
    assert len(after) == 2 and victim["replica"] not in after
    assert all(a.status_code == 200 for a in post_all(url, image_set))


def test_print_config_is_a_config_ray_serve_accepts(url: str, explain_model: Path,
                                                    image_set: list[Path]) -> None:
    from ray.serve.schema import ServeDeploySchema

    printed = subprocess.run(
        [sys.executable, "-m", "anime_detector", "serve", str(explain_model), "--ray",
         "--print-config", "--replicas", "2", "--cpus-per-replica", "1", "--max-batch", "4"],
        capture_output=True, text=True, timeout=120, check=True).stdout
    document = yaml.safe_load(printed)
    ServeDeploySchema.model_validate(document) if hasattr(ServeDeploySchema, "model_validate") \
        else ServeDeploySchema.parse_obj(document)
    [application] = document["applications"]
    [deployment] = application["deployments"]
    assert deployment["num_replicas"] == 2 and deployment["ray_actor_options"]["num_cpus"] == 1
    assert application["import_path"] == "anime_detector.serve.ray_app:app_builder"
    serve.delete(APP_NAME)
    serve.run(app_builder(application["args"]), name=application["name"],
              route_prefix=application["route_prefix"])
    wait_ready(url, 120)
    answer = httpx.post(url + "/v1/predict", files=[
        ("file", (image_set[0].name, image_set[0].read_bytes()))])
    assert answer.status_code == 200 and answer.json()["results"][0]["label"]
    assert httpx.get(url + "/v1/model").json()["limits"]["max_batch"] == 4
