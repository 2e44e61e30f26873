"""``predict`` over thousands of files: streamed output, bounded memory, a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from helpers.cli import cli_command, start_interruptible


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("many")
    Image.new("RGB", (48, 48), (0, 0, 255)).save(folder / "seed.png")
    data = (folder / "seed.png").read_bytes()
    for i in range(3000):
        (folder / f"img-{i:05d}.png").write_bytes(data)
    return folder


def _peak_rss_mb(args: list[str]) -> tuple[float, int]:
    code = ("import resource, subprocess, sys\n"
            f"out = subprocess.run({args!r}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
            "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
            "print(peak, len(out.stdout.splitlines()))\n")
    peak, lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()
    return float(peak), int(lines)


def test_memory_does_not_grow_with_the_number_of_inputs(tiny_model: Path, many: Path) -> None:
    base = [*cli_command(), "predict", str(tiny_model), "-f", "json", "--batch-size", "16"]
    small, n_small = _peak_rss_mb([*base, *sorted(str(p) for p in many.iterdir())[:200]])
    large, n_large = _peak_rss_mb([*base, str(many)])
    assert (n_small, n_large) == (200, 3001)
    assert large - small < 40, (small, large)  # 15x the inputs, about the same peak


def test_ctrl_c_mid_run_is_exit_130_with_only_whole_lines(tiny_model: Path, many: Path) -> None:
    proc = start_interruptible([*cli_command(), "predict", str(tiny_model), str(many), "-f",
                                "json", "--batch-size", "4"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # results stream: the first batch is out already
    assert json.loads(first)["label"] == "anime"
    time.sleep(0.3)
    started = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=30)
    assert time.perf_counter() - started < 5
    assert proc.returncode == 130 and err.decode().strip().splitlines() == ["error: interrupted"]
    output = first + rest
    assert output.endswith(b"\n") and len(output.splitlines()) < 3001
    for line in output.splitlines():
        json.loads(line)  # every line whole


def test_decoding_threads_follow_threads(tiny_model: Path, many: Path) -> None:
    """--threads 1: one decoding thread and one inference thread, not every CPU on top."""
    code = (
        "import threading, sys\n"
        "from anime_detector import Detector\n"
        f"det = Detector.load({str(tiny_model)!r}, threads=1)\n"
        f"paths = sorted(str(p) for p in __import__('pathlib').Path({str(many)!r}).iterdir())\n"
        "seen = set()\n"
        "for i, _ in enumerate(det.predict_iter(paths[:64])):\n"
        "    seen |= {t.name for t in threading.enumerate() if t.name.startswith('decode')}\n"
        "print(len(seen))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ})
    assert out.stdout.strip() == "1"
