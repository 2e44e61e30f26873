"""Start, readiness, draining, signals and the extra: the service's life as an operator sees it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from anime_detector.detector import Detector
from anime_detector.serve.app import create_app
from anime_detector.serve.config import ServeConfig

from helpers.import_probe import loaded_modules
from helpers.server import ServerProcess, serve_in_thread, wait_ready

WEB = ("starlette", "uvicorn", "multipart", "prometheus_client", "httpx")


def test_readyz_is_503_until_the_model_is_loaded_and_warm(explain_model: Path,
                                                          image_set: list[Path]) -> None:
    gate = threading.Event()

    def slow_loader() -> Detector:
        assert gate.wait(30)
        return Detector.load(explain_model)

    app = create_app(slow_loader, ServeConfig())
    with serve_in_thread(app) as url:
        loading = httpx.get(url + "/readyz")
        assert loading.status_code == 503 and loading.json() == {"status": "loading"}
        assert httpx.get(url + "/healthz").status_code == 200
        files = [("file", ("a.png", image_set[0].read_bytes()))]
        refused = httpx.post(url + "/v1/predict", files=files)
        assert refused.status_code == 503 and "model is loading" in refused.json()["error"]
        assert refused.headers["retry-after"] == loading.headers["retry-after"] == "5"
        gate.set()
        wait_ready(url, 30)
        assert httpx.post(url + "/v1/predict", files=files).status_code == 200
        app.state.service.draining = True  # what SIGTERM sets first
        assert httpx.get(url + "/readyz").json() == {"status": "draining"}


def test_a_model_that_fails_to_load_is_reported(tmp_path: Path) -> None:
    def broken() -> Detector:
        raise OSError("disk on fire")

    with serve_in_thread(create_app(broken, ServeConfig())) as url:
        deadline = time.monotonic() + 10
        while httpx.get(url + "/readyz").json()["status"] != "failed":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answer = httpx.get(url + "/v1/model")
        assert answer.status_code == 503 and "OSError: disk on fire" in answer.json()["error"]


def test_sigterm_lets_requests_in_flight_finish_then_exits_0(
        explain_model: Path, image_set: list[Path], tmp_path: Path) -> None:
    # The batcher waits 1.5 s for company: the request is in flight when SIGTERM lands.
    answers: list[httpx.Response] = []
    files = [("file", ("a.png", image_set[0].read_bytes()))]
    with ServerProcess(explain_model, "--max-batch", "8", "--max-wait-ms", "1500",
                       "--grace", "10", log=tmp_path / "log") as running:
        client = threading.Thread(target=lambda: answers.append(
            httpx.post(running.url + "/v1/predict", files=files, timeout=30)))
        client.start()
        time.sleep(0.5)
        assert running.stop(signal.SIGTERM) == 0
    client.join()
    assert answers[0].status_code == 200 and answers[0].json()["results"][0]["label"]
    log = running.log_text()
    assert "Traceback" not in log and "Shutting down" in log
    with pytest.raises(httpx.ConnectError):
        httpx.get(running.url + "/healthz")


def test_ctrl_c_exits_0_without_a_traceback(explain_model: Path, tmp_path: Path) -> None:
    with ServerProcess(explain_model, log=tmp_path / "log") as running:
        assert running.stop(signal.SIGINT) == 0
    assert "Traceback" not in running.log_text()


def test_a_bad_model_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    result = subprocess.run([sys.executable, "-m", "anime_detector", "serve", str(bad),
                             "--port", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert str(bad) in result.stderr


@pytest.mark.parametrize(("blocked", "args", "hint"), [
    ("uvicorn", [], "serve needs the service extra: pip install 'anime-detector[cpu,serve]' "
                    "(missing: uvicorn)"),
    ("ray", ["--ray"], "serve --ray needs Ray Serve: pip install "
                       "'anime-detector[cpu,serve-ray]' (missing: ray, ray.serve)"),
])
def test_missing_extra_gives_the_install_hint(blocked: str, args: list[str], hint: str) -> None:
    code = (f"import sys\nsys.modules[{blocked!r}] = None\n"
            "from typer.testing import CliRunner\nfrom anime_detector.cli import app\n"
            f"r = CliRunner().invoke(app, ['serve', 'm.onnx', *{args!r}])\n"
            "print(r.exit_code, r.output.strip())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.startswith(f"2 error: {hint}"), out


def test_predict_and_the_runtime_never_load_the_web_stack(tiny_model: Path,
                                                          tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    Image.new("RGB", (20, 20)).save(image)
    body = ("import anime_detector, anime_detector.cli, anime_detector.detector\n"
            "from typer.testing import CliRunner\nfrom anime_detector.cli import app\n"
            f"CliRunner().invoke(app, ['predict', {str(tiny_model)!r}, {str(image)!r}])\n")
    assert loaded_modules(body, WEB) == []


def test_predict_server_matches_local_predict_without_onnxruntime(
        server: ServerProcess, explain_model: Path, image_set: list[Path],
        tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    inputs = [str(p) for p in image_set[:11]] + [str(missing), str(text)]
    local = subprocess.run([sys.executable, "-m", "anime_detector", "predict",
                            str(explain_model), *inputs, "-f", "json"],
                           capture_output=True, text=True, timeout=120)
    out = tmp_path / "remote.txt"
    body = ("from pathlib import Path\nfrom typer.testing import CliRunner\n"
            "from anime_detector.cli import app\n"
            f"r = CliRunner().invoke(app, ['predict', '--server', {server.url!r}, *{inputs!r}, "
            "'-f', 'json'])\n"
            f"Path({str(out)!r}).write_text(str(r.exit_code) + '\\n' + r.stdout)\n")
    assert loaded_modules(body, ("onnxruntime", *WEB[:4])) == []
    code, remote = out.read_text().split("\n", 1)
    assert int(code) == local.returncode == 1
    local_rows = [json.loads(line) for line in local.stdout.splitlines()]
    remote_rows = [json.loads(line) for line in remote.splitlines()]
    assert [r["path"] for r in remote_rows] == [r["path"] for r in local_rows] == inputs
    for mine, theirs in zip(remote_rows, local_rows, strict=True):
        assert mine.get("label") == theirs.get("label") and mine.get("error") == theirs.get("error")
        if "score" in theirs:
            assert abs(mine["score"] - theirs["score"]) < 1e-5


def test_the_single_process_service_never_loads_ray(explain_model: Path) -> None:
    body = ("from anime_detector.serve.app import create_app\n"
            "from anime_detector.serve.server import run_server\n"
            "from anime_detector.detector import Detector\n"
            f"create_app(lambda: Detector.load({str(explain_model)!r}))\n"
            "from typer.testing import CliRunner\nfrom anime_detector.cli import app\n"
            "assert CliRunner().invoke(app, ['serve', '--help']).exit_code == 0\n")
    assert loaded_modules(body, ("ray", "tensorflow", "keras")) == []


@pytest.mark.parametrize(("autoscale", "error"), [
    ("1,3", None), ("3", "--autoscale takes MIN,MAX"), ("4,2", "need 1 <= MIN <= MAX"),
    ("0,2", "need 1 <= MIN <= MAX")])
def test_print_config_autoscale(explain_model: Path, autoscale: str, error: str | None) -> None:
    pytest.importorskip("ray.serve")
    yaml = pytest.importorskip("yaml")
    result = subprocess.run([sys.executable, "-m", "anime_detector", "serve",
                             str(explain_model), "--ray", "--print-config", "--autoscale",
                             autoscale, "--api-key", "never-in-the-file"],
                            capture_output=True, text=True, timeout=120)
    if error:
        assert result.returncode == 2 and result.stderr.startswith("error: ")
        assert error in result.stderr and result.stdout == ""
        return
    assert result.returncode == 0, result.stderr
    assert "never-in-the-file" not in result.stdout
    [deployment] = yaml.safe_load(result.stdout)["applications"][0]["deployments"]
    assert "num_replicas" not in deployment
    assert deployment["autoscaling_config"]["min_replicas"] == 1
    assert deployment["autoscaling_config"]["max_replicas"] == 3


def test_predict_server_fits_requests_to_a_small_queue(explain_model: Path,
                                                       image_set: list[Path],
                                                       tmp_path: Path) -> None:
    with ServerProcess(explain_model, "--max-queue", "2", "--max-files", "2",
                       log=tmp_path / "log") as running:
        result = subprocess.run(
            [sys.executable, "-m", "anime_detector", "predict", "--server", running.url,
             *map(str, image_set[:7]), "-f", "json"],
            capture_output=True, text=True, timeout=120)
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert result.returncode == 0, result.stderr
        assert [r["path"] for r in rows] == [str(p) for p in image_set[:7]]
        assert all("label" in r for r in rows)
