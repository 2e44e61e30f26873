"""Running the real ``anime-detector`` console script in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str | Path, cwd: Path | None = None, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    beside = Path(sys.executable).with_name("anime-detector")  # this environment's script
    exe = str(beside) if beside.exists() else shutil.which("anime-detector")
    cmd = [exe] if exe else [sys.executable, "-m", "anime_detector"]
    full_env = {**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})}
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=full_env)


def invoke(*args: str | Path, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    """The same command in this process (typer's ``CliRunner``): no interpreter or TensorFlow
    start-up per call. Use it wherever the process boundary is not what the test is about."""
    from typer.testing import CliRunner

    from anime_detector.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
    return subprocess.CompletedProcess([str(a) for a in args], result.exit_code,
                                       result.stdout, result.stderr)
