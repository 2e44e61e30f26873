"""``anime-detector eval``: reports, ONNX vs Keras agreement, --compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from helpers.cli import invoke


@pytest.fixture()
def colour_dataset(tmp_path: Path) -> Path:
    for label, colour in (("anime", (0, 0, 255)), ("not_anime", (255, 0, 0))):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("RGB", (20, 20), colour).save(tmp_path / label / f"{i}.png")
    Image.new("RGB", (20, 20), (255, 0, 0)).save(tmp_path / "anime" / "wrong.png")
    (tmp_path / "not_anime" / "bad.jpg").write_bytes(b"nope")
    return tmp_path


def test_eval_report_on_onnx(tiny_model: Path, colour_dataset: Path) -> None:
    result = invoke("eval", tiny_model, colour_dataset, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["report"]
    assert report["n"] == 7 and report["accuracy"] == pytest.approx(6 / 7)
    assert [m["path"].endswith("wrong.png") for m in report["misclassified"]] == [True]
    assert report["unreadable"][0]["path"].endswith("bad.jpg")
    assert report["confusion_matrix"]["rows_true_cols_pred"] == [[3, 1], [0, 3]]
    assert report["roc_auc"] == pytest.approx(10.5 / 12)  # the red "anime" ties the reds
    assert report["per_class"]["anime"]["recall"] == pytest.approx(0.75)


def test_eval_table_and_compare(tiny_model: Path, colour_dataset: Path) -> None:
    result = invoke("eval", tiny_model, colour_dataset, "--compare", tiny_model)
    assert result.returncode == 0, result.stderr
    assert "label agreement 100.0% on 7 images" in result.stdout
    assert "misclassified (1)" in result.stdout


@pytest.mark.tf
@pytest.mark.slow
def test_keras_and_onnx_reports_agree(trained_run: dict[str, Path],
                                      vgg_export: dict[str, object]) -> None:
    result = invoke("eval", trained_run["run"] / "model.keras", trained_run["data"],
                     "--compare", vgg_export["path"], "--format", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads(result.stdout)
    first, second = payload["report"], payload["compare_report"]
    assert first["n"] == second["n"] == 32 and len(first["unreadable"]) == 1
    assert first["confusion_matrix"] == second["confusion_matrix"]
    assert payload["comparison"]["label_agreement"] == 1.0
    assert payload["comparison"]["max_abs_diff"] < 1e-5
