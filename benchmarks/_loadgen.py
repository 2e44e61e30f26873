"""A small closed-loop HTTP load generator for the service benchmarks (loopback only).

Each client holds one keep-alive connection and sends pre-encoded requests (``/v1/predict``
multipart, ``/v2`` infer binary), one image each, back to back: asyncio streams and no HTTP
library, so the client spends as little of the shared CPUs as it can. Every run is bounded
in time and in count. The server under load is started by the tests' launcher
(``tests/helpers/server.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from _common import TESTS  # noqa: F401 (puts the test helpers on the path)

from helpers.server import ServerProcess

__all__ = ["LoadResult", "burst", "encode_infer", "encode_predict", "run_load", "service"]

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def add_load_options(parser: argparse.ArgumentParser, seconds: float = 10.0,
                     rounds: int = 3) -> None:
    """``--clients``, ``--seconds``, ``--rounds`` and ``--images``: the load every serve
    benchmark drives (closed-loop clients, one image of ``--images`` per request)."""
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=seconds)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--images", type=Path, default=Path("examples/sample"))


def image_files(folder: Path) -> list[Path]:
    """The images under ``folder``, as ``predict`` finds them."""
    from anime_detector.image_paths import expand_inputs

    return [Path(p) for p in expand_inputs([str(folder)], recursive=True)]


def encode_predict(url: str, name: str, data: bytes, key: str | None = None) -> bytes:
    """One ``POST /v1/predict`` request with one multipart ``file`` part, as bytes."""
    from anime_detector.serve.client import encode_multipart

    boundary = uuid.uuid4().hex
    body = encode_multipart([(name, data)], boundary)
    host = urlsplit(url).netloc
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: {host}\r\n{auth}"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def encode_infer(url: str, model: str, name: str, data: bytes) -> bytes:
    """One ``POST /v2/models/MODEL/infer`` with one image as binary BYTES (what Triton's
    client sends), the outputs asked for in JSON (as /v1 answers)."""
    header = json.dumps({
        "id": name,
        "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(data) + 4}}],
        "outputs": [{"name": n, "parameters": {"binary_data": False}}
                    for n in ("probabilities", "label", "score")]}).encode()
    body = header + struct.pack("<I", len(data)) + data
    head = (f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n"
            f"Content-Type: application/octet-stream\r\n"
            f"Inference-Header-Content-Length: {len(header)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


@dataclass
class LoadResult:
    """Latencies (s) of answered requests, statuses counted, wall time, client CPU time."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0  # connections that broke or timed out
    wall_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise SystemExit(f"refusing to load {parts.hostname}: loopback addresses only")
    return parts.hostname, parts.port or 80


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    payload: bytes) -> tuple[int, bool]:
    """Send one request, read the whole answer: (status, connection kept)."""
    writer.write(payload)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").lower() != "close"


async def _client(url: str, payloads: list[bytes], start: int, deadline: float,
                  budget: list[int], result: LoadResult, timeout: float) -> None:
    host, port = _endpoint(url)
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    index = start
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        payload = payloads[index % len(payloads)]
        index += 1
        began = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            status, keep = await asyncio.wait_for(_exchange(*conn, payload), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            result.failures += 1
            if conn is not None:
                conn[1].close()
            conn = None
            continue
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status == 200:
            result.latencies.append(time.perf_counter() - began)
        if not keep:
            conn[1].close()
            conn = None
    if conn is not None:
        conn[1].close()


def run_load(url: str, payloads: list[bytes], clients: int, seconds: float,
             max_requests: int, timeout: float = 120.0) -> LoadResult:
    """``clients`` closed-loop clients for at most ``seconds`` and ``max_requests`` requests."""
    result = LoadResult()

    async def main() -> None:
        deadline = time.monotonic() + seconds
        budget = [max_requests]
        await asyncio.gather(*(_client(url, payloads, i * 7, deadline, budget, result, timeout)
                               for i in range(clients)))

    cpu, started = os.times(), time.perf_counter()
    asyncio.run(main())
    result.wall_s = time.perf_counter() - started
    after = os.times()
    result.client_cpu_s = (after.user - cpu.user) + (after.system - cpu.system)
    return result


def burst(url: str, payload: bytes, connections: int, timeout: float = 120.0) -> LoadResult:
    """``connections`` connections opened at once, one request each: all must be answered."""
    result = LoadResult()

    async def one() -> None:
        await _client(url, [payload], 0, time.monotonic() + timeout, [1], result, timeout)

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(connections)))

    started = time.perf_counter()
    asyncio.run(main())
    result.wall_s = time.perf_counter() - started
    return result


def service(model: Path, args: list[str]) -> ServerProcess:
    """``anime-detector serve MODEL ARGS`` on a free loopback port, ready, its log dropped,
    with a queue deep enough for the largest client count (256 images)."""
    return ServerProcess(model, "--max-queue", "256", *args, ready_s=180)
