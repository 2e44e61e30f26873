"""Printing prediction results as a table, JSON Lines or CSV, one row at a time."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import TextIO

from anime_detector.detector import Failure, Prediction

__all__ = ["FORMATS", "ResultWriter", "make_writer"]

FORMATS = ("table", "json", "csv")


class ResultWriter:
    """Base writer: ``write`` each result as it arrives, then ``close``."""

    def __init__(self, stream: TextIO, labels: Sequence[str]) -> None:
        self.stream = stream
        self.labels = list(labels)

    def write(self, item: Prediction | Failure) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stream.flush()


class JsonLinesWriter(ResultWriter):
    def write(self, item: Prediction | Failure) -> None:
        self.stream.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")


class CsvWriter(ResultWriter):
    def __init__(self, stream: TextIO, labels: Sequence[str]) -> None:
        super().__init__(stream, labels)
        self.csv = csv.writer(stream, lineterminator="\n")
        self.csv.writerow(["path", "label", "score", *[f"p_{k}" for k in self.labels], "error"])

    def write(self, item: Prediction | Failure) -> None:
        if isinstance(item, Failure):
            self.csv.writerow([item.source, "", "", *["" for _ in self.labels], item.error])
        else:
            probs = [f"{item.probabilities[k]:.6f}" for k in self.labels]
            self.csv.writerow([item.source, item.label, f"{item.score:.6f}", *probs,
                               item.output_error or ""])


class TableWriter(ResultWriter):
    """Fixed-width rows, printed as results arrive (no waiting for the whole batch)."""

    def __init__(self, stream: TextIO, labels: Sequence[str]) -> None:
        super().__init__(stream, labels)
        probs = "".join(f"{'p(' + k + ')':>14}" for k in self.labels)
        self.stream.write(f"{'label':<11}{probs}  path\n")

    def write(self, item: Prediction | Failure) -> None:
        if isinstance(item, Failure):
            self.stream.write(f"{'ERROR':<11}{'':>{14 * len(self.labels)}}  {item.source}: "
                              f"{item.error}\n")
            return
        probs = "".join(f"{item.probabilities[k]:>14.4f}" for k in self.labels)
        note = f" ({item.output_error})" if item.output_error else ""
        self.stream.write(f"{item.label:<11}{probs}  {item.source}{note}\n")


def make_writer(fmt: str, stream: TextIO, labels: Sequence[str]) -> ResultWriter:
    """The writer for ``fmt`` (one of :data:`FORMATS`)."""
    writers: dict[str, type[ResultWriter]] = {
        "table": TableWriter, "json": JsonLinesWriter, "csv": CsvWriter
    }
    return writers[fmt](stream, labels)
