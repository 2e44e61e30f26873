"""ruff over the tree (incl. the TID253 import boundary) and mypy --strict on the runtime."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    if not shutil.which("ruff"):
        pytest.skip("ruff not installed (dev extra)")
    result = subprocess.run(["ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_runtime_is_mypy_strict_clean() -> None:
    pytest.importorskip("mypy")
    # runtime/ is installed as anime_detector; give mypy that name through a symlink, in a
    # folder that persists (git-ignored) so the incremental cache makes reruns fast.
    root = ROOT / ".mypy_cache" / "runtime-root"
    root.mkdir(parents=True, exist_ok=True)
    link = root / "anime_detector"
    if not link.is_symlink():
        link.symlink_to(ROOT / "runtime")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(root / "cache"), "-p", "anime_detector"],
        cwd=root, capture_output=True, text=True, env={**os.environ, "MYPYPATH": str(root)},
    )
    assert result.returncode == 0, result.stdout[-3000:]
