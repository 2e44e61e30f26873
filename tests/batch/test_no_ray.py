"""Without the [ray] extra, ``batch`` fails in one line with the install hint (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
sys.modules["ray"] = None  # as if the [ray] extra were not installed
from typer.testing import CliRunner
from anime_detector.cli import app
result = CliRunner().invoke(app, ["batch", {model!r}, {folder!r}, "--out", {out!r}])
print(result.exit_code)
print(result.output)
"""


def test_batch_without_ray_prints_the_install_hint(tiny_model: Path, tmp_path: Path) -> None:
    code = PROBE.format(model=str(tiny_model), folder=str(tmp_path), out=str(tmp_path / "r"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    exit_code, output = done.stdout.split("\n", 1)
    assert exit_code == "2"
    assert output.strip() == "error: Ray is not installed: pip install 'anime-detector[cpu,ray]'"
