"""The loop every way of predicting composes: batches in input order, failures in place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from anime_detector.detector import Detector
from anime_detector.prediction import Failure, InferenceResult, ModelInput, in_order

from helpers.bad_inputs import text_as_jpg
from helpers.images import write_class_folder


def test_results_come_in_input_order_in_batches_with_failures_in_place() -> None:
    items: list[int | Failure] = [1, Failure("a", "bad"), 2, 3, Failure("b", "bad"), 4, 5]
    batches: list[list[int]] = []

    def run(batch: list[int]) -> list[int]:
        batches.append(batch)
        return [10 * n for n in batch]

    out = list(in_order(items, run, size=2))
    assert out == [10, Failure("a", "bad"), 20, 30, Failure("b", "bad"), 40, 50]
    assert batches == [[1, 2], [3, 4], [5]]


def test_a_batch_runs_before_its_weight_would_pass_the_limit() -> None:
    batches: list[list[int]] = []
    out = list(in_order([5, 4, 9, 1, 1], lambda b: batches.append(b) or b, size=10,
                        weight=lambda n: n, max_weight=10))
    assert out == [5, 4, 9, 1, 1]
    assert batches == [[5, 4], [9, 1], [1]]  # 5+4+9 > 10; 9+1 fits; a lone 1 at the end


def test_only_failures_never_run_an_empty_batch() -> None:
    def run(batch: list[int]) -> list[int]:
        raise AssertionError("no batch to run")

    assert list(in_order([Failure("a", "x")], run, size=4)) == [Failure("a", "x")]


def test_it_holds_one_batch_at_a_time() -> None:
    taken: list[int] = []

    def source() -> Iterator[int]:
        for n in range(100):
            taken.append(n)
            yield n

    stream = in_order(source(), lambda b: b, size=3)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    assert len(taken) == 3  # the rest is not read ahead


def test_finish_matches_predict_iter(tiny_model: Path, tmp_path: Path) -> None:
    """The pieces the service and Ray compose give predict_iter's results."""
    folder = write_class_folder(tmp_path / "in", per_class=2)
    paths = [*sorted(str(p) for p in folder.rglob("*.png")), str(text_as_jpg(tmp_path))]
    detector = Detector.load(tiny_model)
    pipeline = detector.pipeline(threshold=0.3)
    items = [pipeline.decode(p) for p in paths]
    assert isinstance(items[-1], Failure) and isinstance(items[0], ModelInput)
    arrays = np.stack([i.array for i in items if isinstance(i, ModelInput)])
    results = detector.infer(arrays)
    assert all(isinstance(r, InferenceResult) for r in results)
    assert pipeline.finish(items, results) == list(detector.predict_iter(paths, threshold=0.3))
    with pytest.raises(ValueError):  # one result short
        pipeline.finish(items, results[:-1])
