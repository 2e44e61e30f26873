"""``explain`` with the runtime only: in-graph gradient, errors, JSON grid, PNG files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from anime_detector.cli import app
from anime_detector.detector import load_explainer
from anime_detector.drawing.heatmap_png import INFERNO, colorize, write_heatmap_png
from anime_detector.errors import AnimeDetectorError, ModelError
from anime_detector.explain.heatmaps import explain_batch, gradcam
from anime_detector.preprocessing import load_image, preprocess

from helpers.images import draw_flat, draw_noisy
from helpers.onnx_models import EXPLAIN_CHANNELS as CHANNELS
from helpers.onnx_models import head_layers, save_explain_model

pytest.importorskip("onnxruntime")


@pytest.fixture()
def images(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "in" / "flat.png", tmp_path / "in" / "noisy.jpg"]
    paths[0].parent.mkdir()
    draw_flat(1).save(paths[0])
    draw_noisy(2).save(paths[1])
    return paths


def score(pooled: np.ndarray) -> float:
    """z_anime - z_not_anime of the head, in float64 numpy."""
    first, last = head_layers()
    hidden = np.maximum(pooled @ first.kernel.astype(np.float64) + first.bias, 0.0)
    logits = hidden @ last.kernel.astype(np.float64) + last.bias
    return float(logits[0] - logits[1])


@pytest.mark.parametrize("opset", [17, 18])
def test_in_graph_gradient_matches_finite_differences(tmp_path: Path, opset: int) -> None:
    path = save_explain_model(tmp_path / f"m{opset}.onnx", opset=opset)
    detector = load_explainer(path, device="cpu")
    batch = np.stack([preprocess(draw_flat(3)), preprocess(draw_noisy(4))])
    feature_map, weights = detector.engine.session.run(["feature_map", "cam_weights"],
                                                {"input": batch})
    assert feature_map.shape == (2, 7, 7, CHANNELS) and weights.shape == (2, CHANNELS)
    for n in range(2):
        pooled, eps = feature_map[n].astype(np.float64).mean(axis=(0, 1)), 1e-5
        numeric = [(score(pooled + eps * e) - score(pooled - eps * e)) / (2 * eps)
                   for e in np.eye(CHANNELS)]
        assert np.allclose(weights[n], np.array(numeric) / 49, rtol=1e-3, atol=1e-6)


def test_gradcam_keeps_positive_evidence_and_scales_to_one() -> None:
    fmap = np.zeros((2, 2, 2, 2), np.float32)
    fmap[0, 0, 0], fmap[0, 1, 1] = [2.0, 0.0], [0.0, 3.0]
    maps = gradcam(fmap, np.array([[1.0, -1.0], [1.0, 1.0]], np.float32))
    assert maps[0].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert maps[1].tolist() == [[0.0, 0.0], [0.0, 0.0]]  # nothing argues for anime


def test_model_exported_before_explain_is_refused_in_one_line(tiny_model: Path) -> None:
    with pytest.raises(ModelError) as err:
        load_explainer(tiny_model, device="cpu")
    message = str(err.value)
    assert "\n" not in message and str(tiny_model) in message
    assert "re-export it with `anime-detector export`" in message


def test_other_engines_and_files_are_refused_naming_onnxruntime(explain_model: Path,
                                                                 tmp_path: Path) -> None:
    with pytest.raises(AnimeDetectorError, match="engines that can: onnxruntime"):
        load_explainer(explain_model, engine="openvino")
    with pytest.raises(ModelError, match="onnxruntime"):
        load_explainer(tmp_path / "model.keras")


def cli(*args: str) -> object:
    return CliRunner().invoke(app, ["explain", *args])


def test_cli_json_has_the_grid_and_writes_one_png_per_image(
        explain_model: Path, images: list[Path], tmp_path: Path) -> None:
    broken = images[0].parent / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    out = tmp_path / "heat"
    result = cli(str(explain_model), str(images[0].parent), "--out", str(out), "-f", "json",
                 "--device", "cpu")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    rows = [json.loads(line) for line in result.stdout.splitlines()]  # type: ignore[attr-defined]
    good = [r for r in rows if "error" not in r]
    assert len(good) == 2 and len(rows) == 3
    for row in good:
        grid = np.array(row["heatmap"])
        assert grid.shape == (7, 7) and grid.min() >= 0 and grid.max() <= 1
        assert set(row) >= {"path", "label", "score", "probabilities"}
    written = sorted(p.name for p in out.iterdir())
    assert written == ["flat.png", "noisy.png"]  # no temporary files left behind
    with Image.open(out / "flat.png") as png:
        assert png.format == "PNG" and png.height == 160 + 56 + 32  # picture + banner + colour bar


def test_cli_old_model_is_an_error_line(tiny_model: Path, images: list[Path],
                                        tmp_path: Path) -> None:
    result = cli(str(tiny_model), str(images[0]), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "re-export" in lines[0]


def test_predict_explain_with_an_old_model_prints_nothing_but_the_error(
        tiny_model: Path, images: list[Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["predict", str(tiny_model), str(images[0]), "--explain",
                                      str(tmp_path / "heat")])
    assert result.exit_code == 2
    assert result.stdout == ""  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "re-export" in lines[0] and not (tmp_path / "heat").exists()


def test_png_write_is_atomic(explain_model: Path, images: list[Path], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    detector = load_explainer(explain_model, device="cpu")
    target = tmp_path / "out" / "flat.png"
    target.parent.mkdir()
    target.write_bytes(b"previous")
    probs, maps = explain_batch(detector.engine.session, preprocess(images[0])[None])
    prediction = detector.to_prediction(probs[0], str(images[0]), None)

    def broken_save(self: Image.Image, fp: Path, *args: object, **kwargs: object) -> None:
        Path(fp).write_bytes(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        write_heatmap_png(load_image(images[0]), prediction, maps[0], target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in target.parent.iterdir()] == ["flat.png"]


def test_colour_map_runs_from_dark_to_light() -> None:
    assert colorize(np.array([[0.0, 1.0]])).tolist() == [[[0, 0, 4], [252, 255, 164]]]
    brightness = INFERNO.astype(int).sum(axis=1)
    assert (np.diff(brightness) >= -2).all()  # monotone enough to read as "more"


def test_predict_explain_is_the_same_job_with_heatmaps(explain_model: Path, images: list[Path],
                                                      tmp_path: Path) -> None:
    out = tmp_path / "heat"
    plain = CliRunner().invoke(app, ["predict", str(explain_model), str(images[0]), "-f", "json"])
    explained = CliRunner().invoke(app, ["predict", str(explain_model), str(images[0]), "-f",
                                         "json", "--explain", str(out)])
    assert plain.exit_code == 0 and explained.exit_code == 0, explained.output
    row_plain, row = json.loads(plain.stdout), json.loads(explained.stdout)
    assert "heatmap" not in row_plain and np.array(row["heatmap"]).shape == (7, 7)
    assert row["probabilities"] == row_plain["probabilities"]
    assert [p.name for p in out.iterdir()] == [images[0].with_suffix(".png").name]
