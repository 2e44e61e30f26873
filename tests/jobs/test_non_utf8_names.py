"""File names that are not valid UTF-8: output stays valid UTF-8, the real name recoverable."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from helpers.cli import cli_command

RAW = b"caf\xe9 \xff.png"  # Latin-1 bytes: not UTF-8


def _console(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LC_", "LANG", "PYTHONIOENCODING", "PYTHONUTF8"))}
    env["LC_ALL"] = "C"  # no encoding forced: whatever the locale gives
    return subprocess.run([*cli_command(), *map(str, args)], capture_output=True, env=env,
                          timeout=120)


@pytest.fixture()
def odd_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "odd"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), RAW), "wb") as handle:
        Image.new("RGB", (30, 30), (0, 0, 255)).save(handle, format="PNG")
    (folder / "ok.png").write_bytes(_png())
    return folder


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 30), (255, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_output_is_utf8_and_names_are_recoverable(tiny_model: Path, odd_folder: Path,
                                                  fmt: str) -> None:
    result = _console("predict", tiny_model, odd_folder, "--format", fmt)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("utf-8")  # raises if any byte is not UTF-8
    if fmt == "json":
        rows = {r["path"].rsplit("/", 1)[-1]: r for r in map(json.loads, text.splitlines())}
        odd = rows["caf\\xe9 \\xff.png"]
        assert odd["label"] == "anime"
        assert base64.b64decode(odd["path_b64"]).endswith(RAW)
        assert os.path.exists(os.fsdecode(base64.b64decode(odd["path_b64"])))
        assert "path_b64" not in rows["ok.png"]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [bool(r["path_b64"]) for r in rows] == [True, False]  # sorted: "caf..." first
    else:
        assert "caf\\xe9 \\xff.png" in text
