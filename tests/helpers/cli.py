"""Running the real ``anime-detector`` console script in a subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def cli_command() -> list[str]:
    """The command that starts this environment's ``anime-detector`` console script."""
    beside = Path(sys.executable).with_name("anime-detector")
    exe = str(beside) if beside.exists() else shutil.which("anime-detector")
    return [exe] if exe else [sys.executable, "-m", "anime_detector"]


def run_cli(*args: str | Path, cwd: Path | None = None, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})}
    return subprocess.run([*cli_command(), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=full_env)


@contextmanager
def _children_get_default_sigint() -> Iterator[None]:
    """A process started inside gets SIGINT's default disposition, as from a terminal, even
    when this test run was started with SIGINT ignored (a CI job run in the background):
    ``exec`` keeps an ignored signal ignored, but resets a handled one to the default."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_interruptible(cmd: list[str], **popen: Any) -> subprocess.Popen[Any]:
    """``Popen(cmd)`` for a test that sends SIGINT: the child can receive it (see above)."""
    with _children_get_default_sigint():
        return subprocess.Popen(cmd, **popen)


def wait_until_mapped(proc: subprocess.Popen[Any], library: str, timeout: float = 120) -> None:
    """Wait until ``proc`` has loaded a shared library whose path contains ``library``
    (Linux' /proc/PID/maps): a point in its start-up that no clock can name."""
    deadline = time.monotonic() + timeout
    maps = Path(f"/proc/{proc.pid}/maps")
    while time.monotonic() < deadline and proc.poll() is None:
        if library in maps.read_text(errors="replace"):
            return
        time.sleep(0.005)
    raise AssertionError(f"{library} was not loaded (exit code {proc.poll()})")


def invoke(*args: str | Path, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    """The same command in this process (typer's ``CliRunner``): no interpreter or TensorFlow
    start-up per call. Use it wherever the process boundary is not what the test is about."""
    from typer.testing import CliRunner

    from anime_detector.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
    return subprocess.CompletedProcess([str(a) for a in args], result.exit_code,
                                       result.stdout, result.stderr)
