"""``bench``'s plan, without the command line: batch sizes and the rows to time."""

from __future__ import annotations

from pathlib import Path

import pytest

from anime_detector.errors import AnimeDetectorError
from anime_detector.timing.plan import parse_batch_sizes, plan_bench


@pytest.mark.parametrize("text", ["", "0", "1,x", "8,-1", " , "])
def test_batch_sizes_are_positive_integers(text: str) -> None:
    with pytest.raises(AnimeDetectorError, match="expected comma-separated positive integers"):
        parse_batch_sizes(text)


def test_batch_sizes_parse() -> None:
    assert parse_batch_sizes("1, 8,32") == [1, 8, 32]


def test_plan_times_the_model_on_onnxruntime(tiny_model: Path) -> None:
    plan = plan_bench([str(tiny_model)], engines="onnxruntime", device="cpu",
                      batch_sizes="1,4", hint_ncnn=False)
    assert plan.batch_sizes == [1, 4] and plan.note is None
    assert [(s.engine, s.model) for s in plan.specs] == [("onnxruntime", str(tiny_model))]
