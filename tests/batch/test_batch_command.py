"""The ``batch`` command around ``run_batch``: the RESULTS format and one-line errors
(no Ray started: the library call is replaced)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import anime_detector.batch
from anime_detector.batch.results import result_format
from anime_detector.cli import app


@pytest.mark.parametrize(("out", "fmt", "want"), [
    ("r.parquet", None, "parquet"), ("r.jsonl", None, "json"), ("r.JSON", None, "json"),
    ("r.ndjson", None, "json"), ("results", None, "parquet"), ("r.jsonl", "parquet", "parquet"),
])
def test_results_format_from_the_option_else_the_suffix(out: str, fmt: str | None,
                                                        want: str) -> None:
    assert result_format(Path(out), fmt) == want


@pytest.mark.parametrize(("error", "line"), [
    (PermissionError(13, "Permission denied", "/ro/r.parquet"),
     "error: /ro/r.parquet: Permission denied"),
    (anime_detector.batch.BatchFailed("Ray job failed: lost a node"),
     "error: Ray job failed: lost a node"),
])
def test_errors_are_one_line_exit_2(error: Exception, line: str, tiny_model: Path,
                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(anime_detector.batch, "run_batch", fail)
    result = CliRunner().invoke(app, ["batch", str(tiny_model), str(tmp_path), "--out",
                                      str(tmp_path / "r.parquet")])
    assert result.exit_code == 2
    assert result.output.strip() == line
