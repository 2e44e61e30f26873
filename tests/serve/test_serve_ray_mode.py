"""What Ray mode must do like the single process: an engine error on a replica is a 500 (not a
503 to retry), and the API key stays out of everything Ray shows or logs."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest

from anime_detector.serve.config import ServeConfig

from helpers.server import ServerProcess

pytest.importorskip("ray.serve", reason="Ray Serve not installed (the serve-ray extra)")

KEY = "k3y-that-ray-never-shows"


def test_the_deployment_arguments_carry_the_key_digest_never_the_key(
        explain_model: Path) -> None:
    from anime_detector.serve.ray_app import ReplicaOptions, build_app

    app = build_app(str(explain_model), ServeConfig(api_key=KEY), ReplicaOptions.make())
    ingress = app._bound_deployment  # what Ray's controller stores and its dashboard shows
    shown = repr((ingress.init_args, ingress.init_kwargs))
    assert KEY not in shown
    assert hashlib.sha256(KEY.encode()).hexdigest() in shown
    config = ServeConfig.from_dict(ingress.init_args[1])
    assert config.api_key is None
    assert config.key_digest() == ServeConfig(api_key=KEY).key_digest()


def _ray_logs_since(started: float) -> list[Path]:
    logs = Path("/tmp/ray/session_latest/logs")
    return [p for p in logs.rglob("*") if p.is_file() and p.stat().st_mtime >= started] \
        if logs.exists() else []


def test_an_engine_error_on_a_replica_is_500_as_in_one_process(
        batch_one_model: Path, image_set: list[Path], tmp_path: Path) -> None:
    started = time.time()
    with ServerProcess(batch_one_model, "--ray", "--max-batch", "8", "--max-wait-ms", "200",
                       log=tmp_path / "log", env={"ANIME_DETECTOR_API_KEY": KEY}) as running:
        key = {"Authorization": f"Bearer {KEY}"}
        files = [("file", (f"{i}.png", image_set[i].read_bytes())) for i in range(2)]
        assert httpx.post(running.url + "/v1/predict", files=files).status_code == 401
        failed = httpx.post(running.url + "/v1/predict", files=files, headers=key, timeout=60)
        assert failed.status_code == 500, failed.text  # a batch of two: the model's error
        assert "internal server error (request id " in failed.json()["error"]
        assert "retry-after" not in failed.headers and "Traceback" not in failed.text
        one = httpx.post(running.url + "/v1/predict", files=files[:1], headers=key, timeout=60)
        assert one.status_code == 200  # the replica survived its failed batch
    for path in _ray_logs_since(started):
        if path.stat().st_size < 50_000_000:
            assert KEY.encode() not in path.read_bytes(), path
