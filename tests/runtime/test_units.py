"""Small mechanisms on their own: prefetch, input expansion, metrics."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anime_detector.classification_metrics import roc_auc
from anime_detector.image_paths import expand_inputs, walk_images
from anime_detector.prefetch import prefetch


def test_prefetch_keeps_input_order_whatever_finishes_first() -> None:
    def slow_for_small(n: int) -> int:
        time.sleep(0.02 * (5 - n))
        return n * n

    assert [d.value for d in prefetch(slow_for_small, range(5), workers=3)] == [0, 1, 4, 9, 16]


def test_prefetch_reports_each_error_and_goes_on() -> None:
    def half(n: int) -> float:
        if n == 2:
            raise ValueError("two is bad")
        return n / 2

    items = list(prefetch(half, range(4), workers=2))
    assert [i.value for i in items] == [0.0, 0.5, None, 1.5]
    assert isinstance(items[2].error, ValueError) and items[2].source == 2


def test_prefetch_early_stop_reads_at_most_depth_ahead() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def record(n: int) -> int:
        with lock:
            started.append(n)
        return n

    stream = prefetch(record, range(1000), workers=2, depth=4)
    assert next(stream).value == 0
    stream.close()  # the consumer stops: the pool shuts down, the rest is never read
    assert len(started) <= 6


def test_expansion_order_duplicates_and_recursion(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.png", "a.JPG", "sub/c.webp", "notes.txt", "vector.svg"):
        Image.new("RGB", (4, 4)).save(tmp_path / name) if not name.endswith(
            (".txt", ".svg")) else (tmp_path / name).write_text("x")
    flat = [Path(p).name for p in expand_inputs([str(tmp_path)])]
    assert flat == ["a.JPG", "b.png", "vector.svg"]  # svg listed to be reported, txt never
    deep = expand_inputs([str(tmp_path), str(tmp_path / "b.png")], recursive=True)
    assert [Path(p).name for p in deep] == ["a.JPG", "b.png", "c.webp", "vector.svg"]
    assert walk_images(tmp_path, recursive=True) == deep
    assert expand_inputs(["missing.png"]) == ["missing.png"]  # kept: a per-file error later


def test_roc_auc_counts_ties_half() -> None:
    assert roc_auc([1, 0], [0.5, 0.5]) == 0.5
    assert roc_auc([1, 1, 0, 0], [0.9, 0.4, 0.4, 0.1]) == pytest.approx(0.875)
    assert roc_auc([1, 1], [0.1, 0.2]) is None


def test_roc_auc_matches_scikit_learn_with_many_ties() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500), 1)  # only 11 distinct values: many ties
    assert roc_auc(truth, scores) == pytest.approx(metrics.roc_auc_score(truth, scores))
