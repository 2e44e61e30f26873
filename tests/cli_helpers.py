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
