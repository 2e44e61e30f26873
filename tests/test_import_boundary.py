"""The runtime never imports TensorFlow, keras, tf2onnx or Ray; --help skips onnxruntime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers.import_probe import loaded_modules

HEAVY = ("tensorflow", "keras", "tf2onnx", "ray")



def test_importing_the_package_and_cli_loads_no_tensorflow() -> None:
    assert loaded_modules("import anime_detector, anime_detector.cli", HEAVY) == []


def test_predict_end_to_end_loads_no_tensorflow(tiny_model: Path, tmp_path: Path) -> None:
    from PIL import Image

    image = tmp_path / "x.png"
    Image.new("RGB", (20, 20)).save(image)
    body = (
        "from typer.testing import CliRunner\n"
        "from anime_detector.cli import app\n"
        f"r = CliRunner().invoke(app, ['predict', {str(tiny_model)!r}, {str(image)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "import onnxruntime\n"
    )
    assert loaded_modules(body, HEAVY) == []


def test_help_and_version_load_no_onnxruntime() -> None:
    body = (
        "from typer.testing import CliRunner\n"
        "from anime_detector.cli import app\n"
        "for args in (['--version'], ['--help'], ['predict', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
    )
    assert loaded_modules(body, HEAVY + ("onnxruntime",)) == []


def test_public_api_names_all_resolve() -> None:
    import anime_detector

    for name in anime_detector.__all__:
        assert getattr(anime_detector, name) is not None, name


def test_batch_and_sorting_modules_load_no_ray_until_a_job_runs() -> None:
    body = (
        "import anime_detector.batch, anime_detector.cli.batch, anime_detector.jobs.sorting\n"
        "from typer.testing import CliRunner\n"
        "from anime_detector.cli import app\n"
        "assert CliRunner().invoke(app, ['batch', '--help']).exit_code == 0\n"
    )
    assert loaded_modules(body, HEAVY + ("pyarrow", "onnxruntime")) == []


def test_public_names_are_the_objects_not_same_named_modules() -> None:
    """``from anime_detector import preprocess`` is the function, also after the modules
    behind the lazy public names were imported."""
    code = ("import anime_detector.detector, anime_detector.engines\n"
            "from anime_detector import Detector, preprocess\n"
            "assert callable(preprocess) and not hasattr(preprocess, '__path__')\n"
            "assert preprocess.__module__ == 'anime_detector.preprocessing'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
