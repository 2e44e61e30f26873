"""The wheel holds every package: pyproject's explicit list matches the folders on disk.

An editable install maps whole folders, so a package missing from the list still imports
in development and fails only in a real install (the ARM64 check found one that way).
"""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_every_folder_with_an_init_is_a_listed_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: ROOT / folder for name, folder in config["package-dir"].items()}
    on_disk = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            on_disk.add(".".join((name, *parts)))
    assert on_disk == set(config["packages"])
