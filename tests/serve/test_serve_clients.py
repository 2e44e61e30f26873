"""Clients that misbehave or leave, each against a real server on loopback: one that goes away
mid-upload or after it, an upload that meets SIGTERM or a model still loading, slow bodies
that hold connections while well-behaved clients keep being served."""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
from pathlib import Path

import httpx

from anime_detector.detector import Detector
from anime_detector.serve.app import create_app
from anime_detector.serve.client import encode_multipart
from anime_detector.serve.config import ServeConfig

from helpers.server import ServerProcess, serve_in_thread, wait_for_log


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def _metric(url: str, name: str) -> float:
    """The value of a metric without labels (0 when it is not there yet)."""
    found = re.search(rf"^{name} (\S+)$", httpx.get(url + "/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _internal_errors(url: str) -> float:
    found = re.search(r'^anime_detector_request_errors_total\{kind="internal"\} (\S+)$',
                      httpx.get(url + "/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _recv_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sends within ``seconds`` (b"" if nothing, or closed at once)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return b""


def test_a_client_that_leaves_mid_upload_is_a_499_and_frees_its_budget(
        explain_model: Path, image_set: list[Path], tmp_path: Path) -> None:
    with ServerProcess(explain_model, "--max-inflight-mb", "1", "--max-body-mb", "1",
                       log=tmp_path / "log") as running:
        for left in range(1, 4):
            with socket.create_connection(_address(running.url), timeout=10) as sock:
                sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png"
                             b"\r\nContent-Length: 900000\r\n\r\n" + b"\0" * 1000)
                time.sleep(0.3)  # the request is in, its body is being read: then it goes
            deadline = time.monotonic() + 10
            while len(wait_for_log(running, "POST /v1/predict 499 images=0")) < left:
                assert time.monotonic() < deadline, running.log_text()
                time.sleep(0.05)
        assert "Traceback" not in running.log_text()
        assert _internal_errors(running.url) == 0
        # Each left its 900 KB of the 1 MB budget behind it: a request of 900 KB gets in.
        data = image_set[0].read_bytes()
        answer = httpx.post(running.url + "/v1/predict", params={"name": "a.png"},
                            content=data + b"\0" * (900_000 - len(data)),
                            headers={"Content-Type": "image/png"})
        assert answer.status_code == 200, answer.text


def test_a_client_that_leaves_after_uploading_has_its_images_dropped(
        explain_model: Path, image_set: list[Path], tmp_path: Path) -> None:
    # The batcher waits 1.5 s for a fuller batch: the images sit in the queue meanwhile.
    with ServerProcess(explain_model, "--max-batch", "8", "--max-wait-ms", "1500",
                       log=tmp_path / "log") as running:
        body = encode_multipart([(p.name, p.read_bytes()) for p in image_set[:4]], "XyZ")
        content_type = "multipart/form-data; boundary=XyZ"
        with socket.create_connection(_address(running.url), timeout=10) as sock:
            sock.sendall(f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}"
                         f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            deadline = time.monotonic() + 5
            while _metric(running.url, "anime_detector_queue_depth") < 4:
                assert time.monotonic() < deadline, "the images never reached the queue"
                time.sleep(0.02)
        assert wait_for_log(running, "POST /v1/predict 499 images=4")
        assert _metric(running.url, "anime_detector_queue_depth") == 0  # off the queue at once
        time.sleep(2)  # past the batcher's wait: nothing of theirs ran
        assert _metric(running.url, "anime_detector_images_total") == 0
        assert "Traceback" not in running.log_text() and _internal_errors(running.url) == 0
        files = [("file", ("a.png", image_set[0].read_bytes()))]
        assert httpx.post(running.url + "/v1/predict", files=files).status_code == 200
        assert _metric(running.url, "anime_detector_images_total") == 1


def test_an_upload_still_arriving_at_sigterm_is_answered_503_at_once(
        explain_model: Path, tmp_path: Path) -> None:
    with ServerProcess(explain_model, "--grace", "10", log=tmp_path / "log") as running:
        with socket.create_connection(_address(running.url), timeout=10) as sock:
            sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                         b"Content-Length: 500000\r\n\r\n" + b"\0" * 1000)
            time.sleep(0.3)
            running.proc.send_signal(signal.SIGTERM)
            answer = _recv_within(sock, 3)  # the other 499000 bytes never come
        assert answer.startswith(b"HTTP/1.1 503 "), answer[:300]
        assert b"not ready: shutting down" in answer and b"connection: close" in answer.lower()
        assert running.stop() == 0
    assert "Traceback" not in running.log_text()


def test_an_upload_while_the_model_loads_is_refused_before_its_body(
        explain_model: Path) -> None:
    gate = threading.Event()

    def slow_loader() -> Detector:
        assert gate.wait(30)
        return Detector.load(explain_model)

    with serve_in_thread(create_app(slow_loader, ServeConfig())) as url:
        try:
            with socket.create_connection(_address(url), timeout=10) as sock:
                sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png"
                             b"\r\nContent-Length: 500000\r\n\r\n")  # and no body at all
                answer = _recv_within(sock, 3)
            assert answer.startswith(b"HTTP/1.1 503 "), answer[:300]
            assert b"not ready: model is loading" in answer
            assert b"retry-after: 5\r\n" in answer.lower()
        finally:
            gate.set()


def test_connections_past_the_cap_are_answered_503_and_closed(explain_model: Path,
                                                              tmp_path: Path) -> None:
    with ServerProcess(explain_model, "--max-connections", "4", log=tmp_path / "log") as running:
        held = [socket.create_connection(_address(running.url), timeout=10) for _ in range(4)]
        try:
            with socket.create_connection(_address(running.url), timeout=10) as extra:
                answer = _recv_within(extra, 3)  # before it sends a byte
            assert answer.startswith(b"HTTP/1.1 503 "), answer[:300]
            assert b'{"error": "busy: over 4 connections open; retry shortly"}' in answer
            assert b"retry-after: 1\r\n" in answer
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 5
        while True:  # the server sees the four go within moments
            try:
                if httpx.get(running.url + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)


def _trickler(url: str, stop: threading.Event, answers: list[bytes]) -> None:
    """Declare a body of 2 MiB and send a byte a second, again and again until ``stop``."""
    while not stop.is_set():
        with socket.create_connection(_address(url), timeout=10) as sock:
            sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                         b"Content-Length: 2097152\r\n\r\n\0")  # 2 MB: 4 fill the budget
            sock.settimeout(1)
            answer = b""
            while not stop.is_set():
                try:
                    answer = sock.recv(4096)
                    break  # answered (408, 503) or closed
                except TimeoutError:
                    try:
                        sock.sendall(b"\0")
                    except OSError:
                        break
            answers.append(answer[:12])
        stop.wait(0.2)


def test_well_behaved_clients_get_through_while_slow_bodies_hold_the_budget(
        explain_model: Path, image_set: list[Path], tmp_path: Path) -> None:
    # Eight clients trickling 2 MiB bodies would hold the 8 MiB in-flight budget for the whole
    # --timeout (30 s) each time; a body behind --min-body-rate (32 KB/s) gives up the room
    # it has not used, and is cut off 5 s in.
    with ServerProcess(explain_model, "--max-body-mb", "2", "--max-inflight-mb", "8",
                       log=tmp_path / "log") as running:
        stop = threading.Event()
        slow_answers: list[bytes] = []
        slow = [threading.Thread(target=_trickler, args=(running.url, stop, slow_answers))
                for _ in range(8)]
        try:
            for thread in slow:
                thread.start()
            time.sleep(1.5)  # the budget is theirs
            files = [("file", ("a.png", image_set[0].read_bytes()))]
            waits = []
            for _ in range(5):
                started = time.monotonic()
                for _ in range(10):  # a 503 says Retry-After: honour it
                    answer = httpx.post(running.url + "/v1/predict", files=files, timeout=30)
                    if answer.status_code != 503:
                        break
                    time.sleep(float(answer.headers["retry-after"]))
                assert answer.status_code == 200, answer.text
                waits.append(time.monotonic() - started)
            assert max(waits) < 4, waits
            deadline = time.monotonic() + 10  # and the trickles are cut off after 5 s
            while not any(a.startswith(b"HTTP/1.1 408") for a in slow_answers):
                assert time.monotonic() < deadline, slow_answers
                time.sleep(0.1)
        finally:
            stop.set()
            for thread in slow:
                thread.join(15)
