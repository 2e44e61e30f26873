"""The import-linter contracts cover modules nobody has written yet.

A new top-level module that sits in no layer, and a new runtime module that imports
TensorFlow, each make ``lint-imports`` fail. Both are added to a linked copy of the package
(``ci/package-tree.sh``), never to the checkout.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"  # the [dev] extra, this venv


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"],
                          cwd=ROOT, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if not LINT_IMPORTS.exists():
        pytest.skip("lint-imports is not installed (the [dev] extra)")
    subprocess.run(["bash", str(ROOT / "ci" / "package-tree.sh"), str(tmp_path), "train",
                    "export"], check=True)
    return tmp_path


def add_module(tree: Path, name: str, text: str) -> None:
    (tree / "anime_detector" / name).write_text(text)


def test_the_contracts_hold_on_the_checkout(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout[-3000:]


def test_a_module_in_no_layer_fails(tree: Path) -> None:
    add_module(tree, "newthing.py", '"""Nothing."""\n')
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "anime_detector.newthing" in result.stdout


def test_a_runtime_module_importing_tensorflow_fails(tree: Path) -> None:
    # Sits in a layer (it replaces a core module's place by name) and imports TensorFlow.
    original = (ROOT / "runtime" / "sampling.py").read_text()
    (tree / "anime_detector" / "sampling.py").unlink()
    add_module(tree, "sampling.py", original + "\nimport tensorflow  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "anime_detector.sampling -> tensorflow" in result.stdout
