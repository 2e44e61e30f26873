"""Liveness, against a real server: ``/healthz`` fails when inference is stuck past the timeout
or its thread is gone, and systemd hears READY, WATCHDOG and STOPPING on its socket."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import httpx

from anime_detector.detector import Detector
from anime_detector.serve.app import create_app
from anime_detector.serve.config import ServeConfig

from helpers.server import ServerProcess, serve_in_thread, wait_ready


def _status(url: str, route: str = "/healthz") -> tuple[int, str]:
    answer = httpx.get(url + route, timeout=5)
    return answer.status_code, answer.text


def test_healthz_fails_once_the_inference_thread_is_gone(explain_model: Path) -> None:
    app = create_app(lambda: Detector.load(explain_model), ServeConfig())
    with serve_in_thread(app) as url:
        wait_ready(url, 30)
        assert _status(url) == (200, '{"status":"alive"}')
        app.state.service.backend.stop()  # the inference thread ends
        code, text = _status(url)
        assert code == 503 and "the inference thread has stopped" in text
        code, text = _status(url, "/v2/health/live")
        assert code == 503 and "the inference thread has stopped" in text


def test_healthz_fails_while_inference_is_stuck_past_the_timeout(
        slow_model: Path, image_set: list[Path], tmp_path: Path) -> None:
    # One thread: a run of 6 images takes seconds on any CPU, past 0.3 s + the 1 s beat.
    with ServerProcess(slow_model, "--timeout", "0.3", "--max-batch", "6", "--threads", "1",
                       log=tmp_path / "log") as running:
        assert _status(running.url)[0] == 200
        files = [("file", (p.name, p.read_bytes())) for p in image_set[:6]]
        answers: list[int] = []
        client = threading.Thread(target=lambda: answers.append(httpx.post(
            running.url + "/v1/predict", files=files, timeout=30).status_code))
        client.start()
        seen: list[tuple[int, str]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not seen or seen[-1][0] != 200 or
                                               all(code == 200 for code, _ in seen)):
            seen.append(_status(running.url))
            time.sleep(0.1)
        client.join(30)
        stuck = [text for code, text in seen if code == 503]
        assert stuck and "inference stuck for" in stuck[0], seen[-5:]
        assert seen[-1][0] == 200  # alive again once the run ended
        assert answers == [504]


def test_systemd_hears_ready_watchdog_and_stopping(explain_model: Path, tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        listener.settimeout(30)
        with ServerProcess(explain_model, log=tmp_path / "log", wait=False,
                           env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"}) as running:
            deadline = time.monotonic() + 30  # the watchdog is fed while the model loads
            while (message := listener.recv(256)) != b"READY=1":
                assert message == b"WATCHDOG=1" and time.monotonic() < deadline
            assert _status(running.url.replace("localhost", "127.0.0.1"), "/readyz")[0] == 200
            pings = [listener.recv(256) for _ in range(5)]  # every 0.1 s
            assert pings == [b"WATCHDOG=1"] * 5
            running.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while (message := listener.recv(256)) != b"STOPPING=1":
                assert message == b"WATCHDOG=1" and time.monotonic() < deadline
            assert running.stop() == 0
