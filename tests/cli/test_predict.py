"""``anime-detector predict`` through the real console script."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from helpers.bad_inputs import ERRORS
from helpers.cli import invoke, run_cli
from helpers.onnx_models import save_tiny_model


@pytest.fixture()
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.new("RGB", (30, 30), (0, 0, 255)).save(folder / "a blue.JPG")
    Image.new("RGB", (30, 30), (255, 0, 0)).save(folder / "b-red.png")
    Image.new("RGB", (30, 30), (0, 0, 250)).save(folder / "sub" / "c-deep.webp")
    (folder / "readme.txt").write_text("not listed")
    return folder


def test_json_lines_one_object_per_input_in_order(tiny_model: Path, mixed_folder: Path) -> None:
    result = run_cli("predict", tiny_model, mixed_folder, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["a blue.JPG", "b-red.png"]
    assert [r["label"] for r in rows] == ["anime", "not_anime"]
    assert rows[0]["score"] == rows[0]["probabilities"]["anime"]


def test_recursive_and_glob(tiny_model: Path, mixed_folder: Path) -> None:
    rec = invoke("predict", tiny_model, mixed_folder, "--recursive", "-f", "json")
    assert len(rec.stdout.splitlines()) == 3
    glob = invoke("predict", tiny_model, str(mixed_folder / "**" / "*.webp"), "-f", "json")
    assert [Path(json.loads(x)["path"]).name for x in glob.stdout.splitlines()] == ["c-deep.webp"]


def test_csv_and_table(tiny_model: Path, mixed_folder: Path) -> None:
    out = invoke("predict", tiny_model, mixed_folder, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["label"] for r in rows] == ["anime", "not_anime"]
    assert float(rows[0]["p_anime"]) > 0.99
    table = invoke("predict", tiny_model, mixed_folder)
    assert "anime" in table.stdout and "b-red.png" in table.stdout
    assert "2/2 predicted, 0 failed" in table.stderr


def test_bad_files_exit_1_and_the_rest_still_predict(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    for build, _ in ERRORS.values():
        build(folder)
    Image.new("RGB", (30, 30), (0, 0, 255)).save(folder / "zz-good.png")
    result = run_cli("predict", tiny_model, folder, "--format", "json", "--batch-size", "3")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(ERRORS) + 1
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["zz-good.png"]["label"] == "anime"
    errors = [r for r in rows if "error" in r]
    assert len(errors) == len(ERRORS)
    assert all("\n" not in r["error"] and r["error"] for r in errors)


def test_annotate_writes_labelled_copies(tiny_model: Path, mixed_folder: Path,
                                         tmp_path: Path) -> None:
    out = tmp_path / "annotated"
    result = invoke("predict", tiny_model, mixed_folder, "--annotate", out)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == ["a blue.png", "b-red.png"]
    with Image.open(out / "a blue.png") as img:
        assert img.height > 30 and img.mode == "RGB"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "missing.onnx", "no such model file"),
        (lambda d: _write(d / "e.onnx", b""), "empty model file"),
        (lambda d: _write(d / "t.onnx", b"hello"), "not an ONNX model"),
        (lambda d: save_tiny_model(d / "w.onnx", height=64, width=64), "expected (batch, 224"),
    ],
)
def test_bad_model_exits_2_with_one_line(make, fragment: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                         colour_images: dict[str, Path]) -> None:
    result = invoke("predict", make(tmp_path), colour_images["blue"])
    assert result.returncode == 2
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_images_found_is_a_usage_error(tiny_model: Path, tmp_path: Path) -> None:
    result = invoke("predict", tiny_model, tmp_path)
    assert result.returncode == 2 and "no images found" in result.stderr


def test_cuda_without_provider_is_a_clear_error(tiny_model: Path,
                                                colour_images: dict[str, Path]) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA; covered by the device check")
    result = invoke("predict", tiny_model, colour_images["blue"], "--device", "cuda")
    assert result.returncode == 2 and "no CUDA provider" in result.stderr


def test_verbose_reports_providers(tiny_model: Path, colour_images: dict[str, Path]) -> None:
    result = invoke("predict", tiny_model, colour_images["blue"], "-v", "--threads", "1")
    assert "CPUExecutionProvider" in result.stderr


def test_labels_option_for_bare_model(tmp_path: Path, colour_images: dict[str, Path]) -> None:
    bare = save_tiny_model(tmp_path / "bare.onnx", metadata=False)
    assert invoke("predict", bare, colour_images["blue"]).returncode == 2
    ok = invoke("predict", bare, colour_images["blue"], "--labels", "anime,not_anime")
    assert ok.returncode == 0 and "anime" in ok.stdout


def test_python_dash_m_entry_point(tiny_model: Path, colour_images: dict[str, Path]) -> None:
    import subprocess
    import sys

    from anime_detector import __version__

    out = subprocess.run([sys.executable, "-m", "anime_detector", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"anime-detector {__version__}"
    script = run_cli("--version")  # the installed console script of this environment
    assert script.returncode == 0 and script.stdout == out.stdout
