"""Real services on loopback: a subprocess running the CLI, or uvicorn on a thread of the
test process (for apps built in the test), each on a free port.

The serve tests and the service benchmarks (``benchmarks/_loadgen.py``) both start their
servers here, and read their ``/metrics`` here (:func:`scrape`); this module needs only the
standard library (uvicorn for :func:`serve_in_thread`, prometheus_client for :func:`scrape`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.samples import Sample

STARTUP_S = 120.0  # a local Ray cluster takes 10-30 s to start on 2 cores


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, deadline_s: float = STARTUP_S, proc: subprocess.Popen[bytes] | None = None
               ) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url + "/readyz",
                                                                   timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {deadline_s} s")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(url: str) -> dict[str, list[Sample]]:
    """The service's ``/metrics`` now: family name -> its samples, as Prometheus' own parser
    reads them."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=30) as answer:
        text = answer.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def metric_value(families: dict[str, list[Sample]], sample: str, *, missing: float | None = None,
                 **labels: str) -> float:
    """The one sample named ``sample`` with these labels (an assertion error if not one);
    ``missing``, when given, if there is none (a labelled series not yet written)."""
    found = [s.value for samples in families.values() for s in samples
             if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
    if not found and missing is not None:
        return missing
    assert len(found) == 1, (sample, labels, found)
    return float(found[0])


class ServerProcess:
    """``anime-detector serve MODEL ARGS`` in a subprocess; stderr goes to ``log`` (or
    nowhere). With ``wait``, returns once ``/readyz`` answers 200, within ``ready_s`` (a
    server that is not ready by then is stopped). ``with ServerProcess(...) as server:``
    stops it when the block ends, however it ends; :meth:`stop` may come first."""

    def __init__(self, model: Path, *args: str, log: Path | None = None,
                 env: dict[str, str] | None = None, wait: bool = True,
                 ready_s: float = STARTUP_S) -> None:
        self.mode = "ray" if "--ray" in args else "process"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file: IO[bytes] | None = open(log, "wb") if log else None  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "anime_detector", "serve", str(model), "--port",
             str(self.port), *args], stdout=subprocess.DEVNULL,
            stderr=self._log_file or subprocess.DEVNULL, env={**os.environ, **(env or {})})
        if wait:
            try:
                wait_ready(self.url, ready_s, proc=self.proc)
            except BaseException:
                self.stop()
                raise

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far."""
        return process_cpu_s(self.proc.pid)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` (SIGKILL after ``timeout`` s) and wait: the exit code. Once stopped,
        another call only returns that code again."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log_file:
            self._log_file.close()
        return self.proc.returncode

    def log_text(self) -> str:
        if self.log is None:
            raise RuntimeError("this server was started without a log file")
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def serve_in_thread(app: object, http: object = "auto") -> Iterator[str]:
    """uvicorn on a thread of this process, for an app the test built; yields its URL.
    ``http``: uvicorn's HTTP protocol (a name, or a class)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,  # type: ignore[arg-type]
                                           log_config=None, access_log=False,
                                           http=http))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_S
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


def wait_for_log(server: ServerProcess, needle: str, within_s: float = 5.0) -> list[str]:
    """The server's log lines holding ``needle``, once there are any (the line is written
    just after the response is sent)."""
    deadline = time.monotonic() + within_s
    while True:
        lines = [line for line in server.log_text().splitlines() if needle in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)
