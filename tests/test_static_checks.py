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


def test_runtime_is_mypy_strict_clean(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    # runtime/ is installed as anime_detector; give mypy that name through a symlink.
    (tmp_path / "anime_detector").symlink_to(ROOT / "runtime")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "anime_detector"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "MYPYPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-3000:]
