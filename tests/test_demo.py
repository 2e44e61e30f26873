"""``anime-detector demo``: the README's first command, on a small folder, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import run_cli

pytestmark = [pytest.mark.tf]


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline(trained_run: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", out, "--data", trained_run["data"], "--weights", "none",
                     "--run", trained_run["run"],
                     env={"ANIME_DETECTOR_CACHE": str(trained_run["root"] / "democache")})
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"reusing {trained_run['run']}" in result.stderr
    for name in ("model.onnx", "predictions.jsonl", "eval.json", "bench.json"):
        assert (out / name).exists(), name
    assert len(list((out / "annotated").iterdir())) == 6
    assert "SMOKE RUN" in result.stdout
    comparison = json.loads((out / "eval.json").read_text())["comparison"]
    assert comparison["label_agreement"] == 1.0 and comparison["max_abs_diff"] < 1e-5
    engines = [r["engine"] for r in json.loads((out / "bench.json").read_text())["results"]]
    assert engines == ["onnxruntime", "keras-predict"]


@pytest.mark.tf
def test_sample_set_is_found_from_any_folder_or_named_clearly(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from anime_detector.demo import sample_set
    from anime_detector.errors import SourceError

    monkeypatch.chdir(tmp_path)
    assert (sample_set() / "anime").is_dir()  # from the checkout, whatever the cwd
    with pytest.raises(SourceError, match="ships with the source checkout"):
        sample_set(checkout=tmp_path)  # as from a wheel: nothing beside the package
