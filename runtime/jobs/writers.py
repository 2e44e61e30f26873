"""Printing prediction results as a table, JSON Lines or CSV, one row at a time."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import TextIO

from anime_detector.choices import OutputFormat
from anime_detector.detector import Failure, Prediction
from anime_detector.image_paths import printable

__all__ = ["ResultWriter", "make_writer"]



class ResultWriter:
    """Base writer: ``write`` each result as it arrives, then ``close``.

    Each result is one ``write`` of a whole line, flushed at once: a reader of a pipe sees
    results as their batch finishes, and an interrupt never leaves half a line.
    """

    def __init__(self, stream: TextIO, labels: Sequence[str]) -> None:
        self.stream = stream
        self.labels = list(labels)

    def write(self, item: Prediction | Failure) -> None:
        self.stream.write(self.line(item))
        self.stream.flush()

    def line(self, item: Prediction | Failure) -> str:
        raise NotImplementedError

    def close(self) -> None:
        self.stream.flush()


class JsonLinesWriter(ResultWriter):
    def line(self, item: Prediction | Failure) -> str:
        return json.dumps(item.to_dict(), ensure_ascii=False) + "\n"


class CsvWriter(ResultWriter):
    def __init__(self, stream: TextIO, labels: Sequence[str]) -> None:
        super().__init__(stream, labels)
        self.stream.write(self._csv_line(["path", "label", "score",
                                          *[f"p_{k}" for k in self.labels], "error", "path_b64"]))

    @staticmethod
    def _csv_line(cells: list[str]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        return buffer.getvalue()

    def line(self, item: Prediction | Failure) -> str:
        row = item.to_dict()  # valid UTF-8 path (+ path_b64 for names that are not)
        if isinstance(item, Failure):
            cells = ["", "", *["" for _ in self.labels], row["error"]]
        else:
            probs = [f"{item.probabilities[k]:.6f}" for k in self.labels]
            cells = [item.label, f"{item.score:.6f}", *probs, row.get("output_error", "")]
        return self._csv_line([row["path"], *cells, row.get("path_b64", "")])


class TableWriter(ResultWriter):
    """Fixed-width rows, printed as results arrive (no waiting for the whole batch)."""

    def __init__(self, stream: TextIO, labels: Sequence[str]) -> None:
        super().__init__(stream, labels)
        probs = "".join(f"{'p(' + k + ')':>14}" for k in self.labels)
        self.stream.write(f"{'label':<11}{probs}  path\n")

    def line(self, item: Prediction | Failure) -> str:
        if isinstance(item, Failure):
            return (f"{'ERROR':<11}{'':>{14 * len(self.labels)}}  "
                    f"{printable(item.source)}: {printable(item.error)}\n")
        probs = "".join(f"{item.probabilities[k]:>14.4f}" for k in self.labels)
        note = f" ({printable(item.output_error)})" if item.output_error else ""
        return f"{item.label:<11}{probs}  {printable(item.source or '')}{note}\n"


def make_writer(fmt: str, stream: TextIO, labels: Sequence[str]) -> ResultWriter:
    """The writer for ``fmt`` (an :class:`~anime_detector.choices.OutputFormat` value). A
    terminal or pipe stream is switched to UTF-8 whatever the locale, so the output is valid
    UTF-8 everywhere."""
    if hasattr(stream, "reconfigure") and getattr(stream, "encoding", "utf-8") != "utf-8":
        stream.reconfigure(encoding="utf-8")
    writers: dict[OutputFormat, type[ResultWriter]] = {
        OutputFormat.table: TableWriter, OutputFormat.json: JsonLinesWriter,
        OutputFormat.csv: CsvWriter,
    }
    return writers[OutputFormat(fmt)](stream, labels)
