"""Overload, against a real server: a full queue refuses before any decoding, and settings that
could only ever refuse are refused at start."""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

from helpers.server import ServerProcess


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc/PID/stat, in clock ticks)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _queue_depth(url: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("anime_detector_queue_depth "):
            return float(line.split()[1])
    return 0.0


def test_a_full_queue_refuses_before_decoding(explain_model: Path, image_set: list[Path],
                                              tmp_path: Path) -> None:
    # The batcher waits 3 s for a fuller batch: the first request's 4 images fill the queue.
    with ServerProcess(explain_model, "--max-queue", "4", "--max-files", "4",
                       "--max-batch", "8", "--max-wait-ms", "3000",
                       "--max-pixels", "30000000", log=tmp_path / "log") as running:
        flat = io.BytesIO()
        Image.new("RGB", (5000, 5000), (200, 30, 90)).save(flat, "PNG")  # 25 MP in ~80 KB
        heavy = [("file", (f"big-{i}.png", flat.getvalue())) for i in range(4)]
        first: list[httpx.Response] = []
        files = [("file", (p.name, p.read_bytes())) for p in image_set[:4]]
        holder = threading.Thread(target=lambda: first.append(
            httpx.post(running.url + "/v1/predict", files=files, timeout=30)))
        holder.start()
        deadline = time.monotonic() + 5
        while _queue_depth(running.url) < 4:
            assert time.monotonic() < deadline, "the first request never filled the queue"
            time.sleep(0.02)
        before = _cpu_seconds(running.proc.pid)
        refused = httpx.post(running.url + "/v1/predict", files=heavy, timeout=30)
        spent = _cpu_seconds(running.proc.pid) - before
        assert refused.status_code == 503, refused.text
        assert "queue is full (4 images)" in refused.json()["error"]
        assert refused.headers["retry-after"] == "1"
        # Decoding the four 25 MP images costs about a CPU second; a refusal, a few ms.
        assert spent < 0.25, f"{spent:.2f} CPU s spent on a request refused for a full queue"
        holder.join(30)
        assert first[0].status_code == 200
        assert httpx.post(running.url + "/v1/predict", files=heavy[:1],
                          timeout=30).status_code == 200  # the image itself is fine


def _post_quietly(url: str, files: list[tuple[str, tuple[str, bytes]]]) -> None:
    """A client whose answer does not matter (the server may stop first)."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url + "/v1/predict", files=files, timeout=60)


def _metric_sum(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name}")


def test_a_full_queue_says_how_long_it_takes_to_drain(slow_model: Path, image_set: list[Path],
                                                      tmp_path: Path) -> None:
    # One image a run, on one thread: a second or so each, on any CPU.
    with ServerProcess(slow_model, "--max-batch", "1", "--max-queue", "8",
                       "--max-files", "8", "--threads", "1", "--grace", "1",
                       log=tmp_path / "log") as running:
        one = [("file", ("a.png", image_set[0].read_bytes()))]
        assert httpx.post(running.url + "/v1/predict", files=one, timeout=60).status_code == 200
        per_image = (_metric_sum(running.url, "anime_detector_inference_seconds_sum")
                     / _metric_sum(running.url, "anime_detector_batch_size_sum"))
        eight = [("file", (p.name, p.read_bytes())) for p in image_set[:8]]
        threading.Thread(target=_post_quietly, args=(running.url, eight), daemon=True).start()
        deadline = time.monotonic() + 10
        while _queue_depth(running.url) < 6:  # one runs, the others wait behind it
            assert time.monotonic() < deadline, "the eight never reached the queue"
            time.sleep(0.02)
        refused = httpx.post(running.url + "/v1/predict", files=eight, timeout=60)
        assert refused.status_code == 503 and "queue is full" in refused.text
        # 6 or 7 images to go at about per_image each (a moving average over the runs).
        assert 2 <= int(refused.headers["retry-after"]) <= math.ceil(8 * per_image * 1.5)


def test_a_queue_smaller_than_a_request_is_refused_at_start(explain_model: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "anime_detector", "serve",
                             str(explain_model), "--port", "0", "--max-queue", "2",
                             "--max-files", "8"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: --max-queue 2 is smaller than --max-files 8")
