"""A missing optional engine or converter is a one-line error with the install command.

Each case runs in a fresh interpreter whose ``sys.meta_path`` starts with a finder that
refuses the package, exactly as if it were not installed (whether or not it is here).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.import_probe import loaded_modules

BLOCK = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == {package!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
        return None
sys.meta_path.insert(0, Blocker())
from pathlib import Path
{body}
"""


def _run(package: str, body: str) -> subprocess.CompletedProcess[str]:
    code = BLOCK.format(package=package, body=body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("engine, extra", [("openvino", "openvino"), ("ncnn", "ncnn")])
def test_engine_not_installed(engine: str, extra: str, tiny_model: Path) -> None:
    body = (f"from anime_detector.engines.{engine} import load\n"
            "from anime_detector.engines.base import EngineUnavailable\n"
            "try:\n"
            f"    load(Path({str(tiny_model)!r}))\n"
            "except EngineUnavailable as exc:\n"
            "    print(exc)\n")
    done = _run(engine, body)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"engine {engine!r} is not installed: pip install 'anime-detector[{extra}]'")


def test_converter_not_installed() -> None:
    body = ("from anime_detector.export.ncnn import find_pnnx\n"
            "from anime_detector.export.convert import ExportError\n"
            "try:\n"
            "    find_pnnx()\n"
            "except ExportError as exc:\n"
            "    print(exc)\n"
            "print('torch' in sys.modules)\n")
    done = _run("pnnx", body)
    assert done.returncode == 0, done.stderr
    message, torch_loaded = done.stdout.strip().splitlines()
    assert message.startswith("the pnnx converter is not installed: pip install --no-deps pnnx==")
    assert torch_loaded == "False"


def test_finding_the_converter_imports_no_torch() -> None:
    done = _run("torch", "from anime_detector.export.ncnn import find_pnnx\n"
                         "try:\n    print(find_pnnx().name)\nexcept Exception as exc:\n"
                         "    print(type(exc).__name__)\n")
    assert done.returncode == 0, done.stderr  # torch blocked: finding pnnx never imports it
    installed = importlib.util.find_spec("pnnx") is not None
    assert done.stdout.strip() == ("pnnx" if installed else "ExportError")


def test_engine_modules_import_no_engine_package() -> None:
    body = ("import anime_detector.engines.openvino, anime_detector.engines.ncnn, "
            "anime_detector.export.ncnn, anime_detector.onnx_metadata")
    assert loaded_modules(body, ("openvino", "ncnn", "pnnx", "torch", "onnx", "onnxruntime",
                                 "tensorflow")) == []
