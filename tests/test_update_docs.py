"""``benchmarks/update_docs.py``: ``--help`` writes nothing, ``--only`` rewrites the parts
named and keeps the others byte for byte, a plain run rewrites them all.

Every run is on a copy of the files it reads and writes (the script, the goals, the
results, docs/benchmarks.md and README.md), so the real docs are never touched.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = "<!-- bench:start -->"


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "docs").mkdir()
    for name in ("update_docs.py", "goals.json"):
        shutil.copy(ROOT / "benchmarks" / name, tmp_path / "benchmarks" / name)
    shutil.copytree(ROOT / "benchmarks" / "results", tmp_path / "benchmarks" / "results")
    shutil.copy(ROOT / "docs" / "benchmarks.md", tmp_path / "docs" / "benchmarks.md")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def _run(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(tree / "benchmarks" / "update_docs.py"), *args],
                          capture_output=True, text=True, timeout=60, cwd=tree)


def _texts(tree: Path) -> tuple[str, str]:
    return (tree / "docs" / "benchmarks.md").read_text(), (tree / "README.md").read_text()


def test_help_says_how_and_writes_nothing(tree: Path) -> None:
    before = _texts(tree)
    done = _run(tree, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: update_docs.py [-h] [--only SECTION")
    assert "decode_memory" in done.stdout and "deploy" in done.stdout
    assert _texts(tree) == before
    wrong = _run(tree, "--only", "nonsense")
    assert wrong.returncode == 2 and "invalid choice: 'nonsense'" in wrong.stderr
    assert _texts(tree) == before


def test_only_rewrites_the_sections_named_and_keeps_the_others(tree: Path) -> None:
    docs, readme = _texts(tree)
    suite = tree / "benchmarks" / "results" / "suite.md"
    suite.write_text("| a fresh | suite table |\n|---|---|\n")
    done = _run(tree, "--only", "suite")
    assert done.returncode == 0, done.stderr
    new_docs, new_readme = _texts(tree)
    assert new_readme == readme and "| a fresh | suite table |" in new_docs
    old_parts, new_parts = (_parts(text) for text in (docs, new_docs))
    assert [name for name in old_parts if old_parts[name] != new_parts[name]] == [
        "#### Test suite time (`python benchmarks/suite_time.py`)"]
    assert new_docs.split(BENCH)[0] == docs.split(BENCH)[0]  # the prose above the block

    suite.unlink()  # a section named with no results: nothing is written
    refused = _run(tree, "--only", "targets", "suite")
    assert refused.returncode == 1 and "benchmarks/results/suite.md" in refused.stderr
    assert _texts(tree) == (new_docs, new_readme)


def test_a_plain_run_equals_every_part_named(tree: Path, tmp_path_factory: pytest.TempPathFactory
                                             ) -> None:
    everything = tmp_path_factory.mktemp("all")
    shutil.copytree(tree, everything, dirs_exist_ok=True)
    assert _run(tree).returncode == 0
    from_results = _texts(tree)
    names = _parts_with_results(everything)
    assert len(names) > 10  # targets, deploy and the sections
    assert _run(everything, "--only", *names).returncode == 0
    assert _texts(everything) == from_results


def _parts(docs: str) -> dict[str, str]:
    """The bench block's parts by their heading line."""
    block = docs.split(BENCH, 1)[1].split("<!-- bench:end -->", 1)[0]
    chunks = block.split("\n#### ")
    return {("#### " + c).split("\n", 1)[0]: c for c in chunks[1:]}


def _parts_with_results(tree: Path) -> list[str]:
    """``--only``'s choices that this copy has results for (run on the copy's own script)."""
    script = tree / "benchmarks" / "update_docs.py"
    spec = importlib.util.spec_from_file_location("update_docs_copy", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [name for name in module.CHOICES if name in ("targets", "deploy")
            or (tree / "benchmarks" / "results" / f"{name}.md").exists()]


def test_the_docs_are_what_the_results_render(tree: Path) -> None:
    """The bench block and the deploy table as committed are a fresh render of the committed
    results: a result file re-measured without a render after it would leave the docs (their
    Targets table first) quoting figures that no file holds any more."""
    committed = _texts(tree)
    assert _run(tree).returncode == 0
    assert _texts(tree) == committed, "run python benchmarks/update_docs.py"
