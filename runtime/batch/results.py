"""Where ``batch`` keeps its rows: checkpoints while running, one final file at the end.

While a job runs, finished rows are saved every few hundred rows (and when it
is interrupted) as complete files in ``RESULTS.partial/``; RESULTS itself is
written only when the job ends, to a temporary name first and then moved into
place, so a final result is never half written. ``--resume`` reads RESULTS and
``RESULTS.partial/`` and skips every path that already has a row.

Rows are exactly ``Prediction.to_dict()`` / ``Failure.to_dict()``. JSON Lines
output writes them as they are (what ``predict --format json`` prints);
Parquet has the columns ``path, label, score, probabilities, error`` with
nulls where a row has no such key.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from anime_detector.choices import ResultFormat
from anime_detector.errors import InputError
from anime_detector.file_io import atomic_path, atomic_write_text

__all__ = ["JSON_SUFFIXES", "ResultStore", "result_format", "partial_dir", "read_rows"]

Row = dict[str, Any]


def partial_dir(out: Path) -> Path:
    """The checkpoint folder of ``out``: ``RESULTS.partial/`` beside it."""
    return out.with_name(out.name + ".partial")


def _schema(labels: Sequence[str]) -> Any:
    import pyarrow as pa

    probs = pa.struct([pa.field(label, pa.float64()) for label in labels])
    return pa.schema([("path", pa.string()), ("label", pa.string()), ("score", pa.float64()),
                      ("probabilities", probs), ("error", pa.string())])


def _strip(row: Row) -> Row:
    """A Parquet row (all columns) back to the ``to_dict`` shape (only the keys it had)."""
    return {k: v for k, v in row.items() if v is not None}


def _read_jsonl(path: Path) -> list[Row]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


def result_format(out: Path, fmt: str | None = None) -> str:
    """``fmt`` if given, else the format ``out``'s suffix names: JSON Lines for
    :data:`JSON_SUFFIXES`, Parquet otherwise."""
    if fmt is not None:
        return ResultFormat(fmt).value
    return ResultFormat.json.value if out.suffix.lower() in JSON_SUFFIXES else "parquet"


def read_rows(path: Path, fmt: str) -> list[Row]:
    """The rows of a RESULTS file written by ``batch`` (``fmt``: parquet or json).

    Raises:
        InputError: the file cannot be read in that format.
    """
    try:
        if fmt == "json":
            return _read_jsonl(path)
        import pyarrow.parquet as pq

        return [_strip(r) for r in pq.read_table(path).to_pylist()]
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read as {fmt} results: {exc}") from None


def write_rows(path: Path, rows: Iterable[Row], fmt: str, labels: Sequence[str]) -> None:
    """Write ``rows`` to ``path`` atomically."""
    if fmt == "json":
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(list(rows), schema=_schema(labels))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


class ResultStore:
    """Collects a job's rows, checkpoints them, and writes RESULTS at the end."""

    def __init__(self, out: Path, fmt: str, labels: Sequence[str], resume: bool,
                 every_rows: int = 500, every_s: float = 60.0) -> None:
        self.out, self.fmt, self.labels = out, fmt, list(labels)
        self.partial = partial_dir(out)
        self.previous: list[Row] = []
        self.pending: list[Row] = []
        self.saved = 0
        self.every_rows, self.every_s = every_rows, every_s
        self._last = time.monotonic()
        if resume:
            self.previous = self._load_previous()
        elif self.partial.exists():
            shutil.rmtree(self.partial)  # an earlier interrupted run, not resumed

    def _load_previous(self) -> list[Row]:
        rows = read_rows(self.out, self.fmt) if self.out.exists() else []
        if self.partial.is_dir():
            for part in sorted(self.partial.glob("part-*.jsonl")):
                rows.extend(_read_jsonl(part))
        return rows

    def done_paths(self) -> set[str]:
        """Paths that already have a row (from RESULTS and checkpoints)."""
        return {str(r["path"]) for r in self.previous}

    def add(self, row: Row) -> None:
        """Keep one row; checkpoint when enough rows or time have gone by."""
        self.pending.append(row)
        if len(self.pending) >= self.every_rows or time.monotonic() - self._last > self.every_s:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Save the rows not yet saved as one complete part file."""
        self._last = time.monotonic()
        if not self.pending:
            return
        index = len(list(self.partial.glob("part-*.jsonl"))) if self.partial.is_dir() else 0
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.pending)
        atomic_write_text(self.partial / f"part-{index:06d}.jsonl", text)
        self.saved += len(self.pending)
        self.previous.extend(self.pending)
        self.pending = []

    def finish(self, order: Sequence[str]) -> Path:
        """Write RESULTS (old rows, then this run's in ``order``), drop the checkpoints."""
        rows: dict[str, Row] = {}
        for row in [*self.previous, *self.pending]:
            rows.pop(str(row["path"]), None)
            rows[str(row["path"])] = row  # the newest row for a path wins
        position = {path: i for i, path in enumerate(order)}
        ordered = sorted(rows.values(), key=lambda r: position.get(str(r["path"]), -1))
        write_rows(self.out, ordered, self.fmt, self.labels)
        shutil.rmtree(self.partial, ignore_errors=True)
        return self.out
