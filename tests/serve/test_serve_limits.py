"""Every refusal of the service, each against a real server: status, one-line JSON error,
no traceback, and memory that stays flat however large the body."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest

from helpers.bad_inputs import ERRORS
from helpers.server import ServerProcess, wait_for_log


@pytest.fixture(scope="module")
def keyed(explain_model: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[ServerProcess]:
    with ServerProcess(explain_model, log=tmp_path_factory.mktemp("log") / "keyed.log",
                       env={"ANIME_DETECTOR_API_KEY": "s3cret-key"}) as running:
        yield running


def assert_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert fragment in body["error"] and "\n" not in body["error"]
    assert "Traceback" not in response.text and response.headers["x-request-id"]


def raw_request(url: str, head: bytes, body_chunks: Iterable[bytes] = (),
                timeout: float = 10) -> bytes:
    """Send bytes on a socket; return what the server answered (up to 64 KB)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what a limit should do
        answer = b""
        try:
            while len(answer) < 65536 and (data := sock.recv(65536)):
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def test_declared_huge_body_refused_before_reading(server: ServerProcess) -> None:
    before = server.rss_mb() if server.mode == "process" else 0.0
    head = (b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: 1073741824\r\n\r\n")
    started = time.monotonic()
    answer = raw_request(server.url, head, (b"\0" * 65536 for _ in range(64)))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"over the limit of 2 MB" in answer and time.monotonic() - started < 5
    if server.mode == "process":
        assert server.rss_mb() - before < 20


def test_chunked_body_cut_off_at_the_limit(server: ServerProcess) -> None:
    before = server.rss_mb() if server.mode == "process" else 0.0
    head = (b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (65536, b"\1" * 65536)
    answer = raw_request(server.url, head, (chunk for _ in range(1600)))  # 100 MB offered
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    if server.mode == "process":
        assert server.rss_mb() - before < 30
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_too_many_files(server: ServerProcess, image_set: list[Path]) -> None:
    files = [("file", (f"{i}.png", image_set[0].read_bytes())) for i in range(9)]
    assert_error(httpx.post(server.url + "/v1/predict", files=files), 400, "Too many files")


@pytest.mark.parametrize(("content_type", "body", "status", "fragment"), [
    ("multipart/form-data; boundary=XyZ", b"--nope\r\ngarbage", 400, "multipart"),
    ("multipart/form-data", b"garbage", 400, "boundary"),
    ("multipart/form-data; boundary=XyZ", b"--XyZ--\r\n", 400, "no image in the request"),
    ("image/png", b"", 400, "empty request body"),
    ("text/plain", b"hello", 415, "unsupported media type 'text/plain'"),
    ("application/json", b"{}", 415, "unsupported media type"),
    ("", b"abc", 415, "unsupported media type 'none'"),
])
def test_malformed_requests(server: ServerProcess, content_type: str, body: bytes, status: int,
                            fragment: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = httpx.post(server.url + "/v1/predict", content=body, headers=headers)
    assert_error(response, status, fragment)


@pytest.mark.parametrize("case", ["zero_byte", "text_as_jpg", "truncated_jpeg",
                                  "corrupt_png_chunk", "decompression_bomb"])
def test_a_lone_bad_image_is_422(server: ServerProcess, tmp_path: Path, case: str) -> None:
    build, fragment = ERRORS[case]
    path = build(tmp_path)
    if case == "zero_byte":
        fragment = "empty file (0 bytes)"
    response = httpx.post(server.url + "/v1/predict",
                          files=[("file", (path.name, path.read_bytes()))])
    assert_error(response, 422, f"{path.name}: ")
    assert fragment in response.json()["error"]
    assert response.json()["results"][0]["name"] == path.name


def test_unknown_route_and_method(server: ServerProcess) -> None:
    assert_error(httpx.get(server.url + "/v2/nothing"), 404, "Not Found")
    assert_error(httpx.get(server.url + "/v1/predict"), 405, "Method Not Allowed")


def test_key_required_except_on_probes(keyed: ServerProcess, image_set: list[Path]) -> None:
    files = [("file", ("a.png", image_set[0].read_bytes()))]
    assert_error(httpx.post(keyed.url + "/v1/predict", files=files), 401, "missing API key")
    assert_error(httpx.post(keyed.url + "/v1/predict", files=files,
                            headers={"Authorization": "Bearer wrong"}), 401, "wrong API key")
    assert_error(httpx.get(keyed.url + "/metrics", headers={"X-API-Key": "s3cret-key0"}),
                 401, "wrong API key")
    ok = httpx.post(keyed.url + "/v1/predict", files=files,
                    headers={"Authorization": "Bearer s3cret-key"})
    assert ok.status_code == 200
    assert httpx.get(keyed.url + "/metrics", headers={"X-API-Key": "s3cret-key"}).is_success
    for public in ("/healthz", "/readyz", "/"):
        assert httpx.get(keyed.url + public).status_code == 200


def test_slow_client_does_not_hold_up_others(server: ServerProcess, image_set: list[Path]
                                             ) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    stop = threading.Event()

    def trickle() -> None:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
                if stop.is_set():
                    return
                sock.sendall(bytes([byte]))
                time.sleep(0.05)

    slow = threading.Thread(target=trickle)
    slow.start()
    try:
        time.sleep(0.3)
        files = [("file", ("a.png", image_set[0].read_bytes()))]
        for _ in range(10):
            started = time.monotonic()
            assert httpx.post(server.url + "/v1/predict", files=files).status_code == 200
            assert time.monotonic() - started < 2
    finally:
        stop.set()
        slow.join()


def _trickle_head(sock: socket.socket, head: bytes, give_up_s: float) -> tuple[bytes, float]:
    """Send ``head`` a byte every 50 ms until the server answers or closes; (answer, seconds)."""
    started = time.monotonic()
    answer = b""
    sock.settimeout(0.05)
    for byte in head:
        try:
            sock.sendall(bytes([byte]))
            chunk = sock.recv(4096)
        except TimeoutError:
            chunk = None
        except OSError:  # closed by the server
            break
        if chunk == b"":
            break
        answer += chunk or b""
        if time.monotonic() - started > give_up_s:
            break
    return answer, time.monotonic() - started


def test_slow_headers_and_slow_bodies_get_408_and_the_connection_closed(
        explain_model: Path, image_set: list[Path], tmp_path: Path) -> None:
    """A slowloris client (new or on a kept-alive connection) and a silent one are cut off
    after --header-timeout; a body, after --timeout (a slow one within it is served)."""
    with ServerProcess(explain_model, "--header-timeout", "1", "--timeout", "4",
                       log=tmp_path / "log") as running:
        host, port = running.url.removeprefix("http://").split(":")
        slow_head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        with socket.create_connection((host, int(port))) as trickler, \
                socket.create_connection((host, int(port))) as silent:
            answer, seconds = _trickle_head(trickler, slow_head, give_up_s=6)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert b'{"error": "request headers not received within 1 s"}' in answer
            assert 0.9 < seconds < 4
            silent.settimeout(5)
            assert silent.recv(4096).startswith(b"HTTP/1.1 408 ")
        with socket.create_connection((host, int(port))) as kept:
            kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            kept.settimeout(5)
            first = b""
            while b'{"status":"alive"}' not in first:  # the whole answer, head and body
                chunk = kept.recv(4096)
                assert chunk, f"closed after {first!r}"
                first += chunk
            assert first.startswith(b"HTTP/1.1 200 ")
            answer, _ = _trickle_head(kept, slow_head, give_up_s=6)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        data = image_set[0].read_bytes()
        head = (f"POST /v1/predict?name=a.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                f"Content-Type: image/png\r\nContent-Length: {len(data)}\r\n\r\n").encode()
        step = len(data) // 6 + 1
        pieces = [data[i:i + step] for i in range(0, len(data), step)]
        answer = raw_request(running.url, head, _slowly(pieces, 0.25))  # 1.5 s of body
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
        step = len(data) // 12 + 1
        pieces = [data[i:i + step] for i in range(0, len(data), step)]
        started = time.monotonic()
        answer = raw_request(running.url, head, _slowly(pieces, 0.6))  # 7 s of body
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
        assert b'{"error": "request body not received within 4 s"}' in answer
        assert time.monotonic() - started < 6.5
        assert wait_for_log(running, "POST /v1/predict 408 images=0")


def _slowly(chunks: list[bytes], pause_s: float) -> Iterator[bytes]:
    for chunk in chunks:
        time.sleep(pause_s)
        yield chunk


def test_timeout_answers_504(explain_model: Path, image_set: list[Path], tmp_path: Path
                             ) -> None:
    # The batcher waits 2 s for company; the request's budget is 0.3 s.
    with ServerProcess(explain_model, "--max-batch", "8", "--max-wait-ms", "2000",
                       "--timeout", "0.3", log=tmp_path / "log") as running:
        started = time.monotonic()
        response = httpx.post(running.url + "/v1/predict",
                              files=[("file", ("a.png", image_set[0].read_bytes()))])
        assert_error(response, 504, "no answer within the timeout of 0.3 s")
        assert time.monotonic() - started < 1.5


def test_unexpected_error_is_500_with_the_request_id_in_the_log(
        batch_one_model: Path, image_set: list[Path], tmp_path: Path) -> None:
    with ServerProcess(batch_one_model, "--max-batch", "8", "--max-wait-ms", "200",
                       log=tmp_path / "log") as running:
        files = [("file", (f"{i}.png", image_set[i].read_bytes())) for i in range(2)]
        response = httpx.post(running.url + "/v1/predict", files=files)
        rid = response.headers["x-request-id"]
        assert_error(response, 500, f"internal server error (request id {rid})")
        assert response.json()["request_id"] == rid
        assert wait_for_log(running, f"unexpected error, request id {rid}")
        assert wait_for_log(running, "POST /v1/predict 500 images=2 ")
        one = httpx.post(running.url + "/v1/predict", files=files[:1])
        assert one.status_code == 200  # the worker survived the failed batch


def test_cors_is_off_unless_origins_are_named(explain_model: Path) -> None:
    from anime_detector.detector import Detector
    from anime_detector.serve.app import create_app
    from anime_detector.serve.config import ServeConfig

    from helpers.server import serve_in_thread

    preflight = {"Origin": "http://camera.local", "Access-Control-Request-Method": "POST"}
    with serve_in_thread(create_app(lambda: Detector.load(explain_model))) as url:
        answer = httpx.get(url + "/healthz", headers={"Origin": "http://camera.local"})
        assert "access-control-allow-origin" not in answer.headers
        assert "access-control-allow-origin" not in httpx.options(
            url + "/v1/predict", headers=preflight).headers
    config = ServeConfig(cors_origins=("http://camera.local",), api_key="k")
    with serve_in_thread(create_app(lambda: Detector.load(explain_model), config)) as url:
        allowed = httpx.options(url + "/v1/predict", headers=preflight)
        assert allowed.status_code == 200  # preflight needs no key
        assert allowed.headers["access-control-allow-origin"] == "http://camera.local"
        assert "access-control-allow-credentials" not in allowed.headers
        other = httpx.options(url + "/v1/predict", headers={**preflight,
                                                            "Origin": "http://evil.example"})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


def test_bodies_in_flight_are_bounded_before_reading(explain_model: Path, image_set: list[Path],
                                                     tmp_path: Path) -> None:
    with ServerProcess(explain_model, "--max-inflight-mb", "1", "--max-body-mb", "1",
                       log=tmp_path / "log") as running:
        host, port = running.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as held:
            held.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                         b"Content-Length: 900000\r\n\r\n" + b"\0" * 1000)  # and no more
            time.sleep(0.3)
            second = httpx.post(running.url + "/v1/predict", content=b"\0" * 500_000,
                                headers={"Content-Type": "image/png"})
            assert_error(second, 503, "busy: over 1 MB of requests in flight")
            assert second.headers["retry-after"] == "1"
        time.sleep(0.3)  # the held request ended with its connection
        files = [("file", ("a.png", image_set[0].read_bytes()))]
        assert httpx.post(running.url + "/v1/predict", files=files).status_code == 200
