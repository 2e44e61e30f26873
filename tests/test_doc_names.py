"""Every module and repository path the documentation names exists.

README.md, CONTRIBUTING.md and docs/*.md name modules (``anime_detector.engines.open_engine``,
or in code ``serve.app.create_app`` below ``anime_detector``) and files
(``tests/helpers/server.py``, or ``serve/ray_app.py`` inside a source folder). A rename
that forgets a doc leaves a reader looking for something that is gone; these tests read
the text and the source tree only (``ast``, no import), so they cost milliseconds.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", *(REPO / "docs").glob("*.md")])
DOTTED = re.compile(r"\banime_detector(?:\.[A-Za-z_]\w*)+")
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
ROOTS = ("runtime", "train", "export", "tests", "benchmarks", "ci", ".ci", "examples", "docs")
SOURCE_ROOTS = ("runtime", "train", "export", "tests", "benchmarks", "ci")
RELATIVE = re.compile(r"[a-z_][a-z0-9_]*(?:\.[A-Za-z_]\w*)+")
FILE_SUFFIXES = {"py", "json", "onnx", "keras", "h5", "md", "png", "csv", "parquet", "txt"}
# Dotted names that are not modules: a file name and model metadata keys.
NOT_MODULES = {
    "anime_detector.json": "the manifest in an ncnn model folder",
    "anime_detector.int8_target": "a key of an .onnx file's metadata",
    "anime_detector.int8": "a key of an .onnx file's metadata (how int8 was tuned)",
}


@cache
def package_dirs() -> dict[str, Path]:
    """Import package -> source folder, as pyproject.toml maps them (read as text: no
    ``tomllib`` on Python 3.10)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    table = text.split("[tool.setuptools.package-dir]", 1)[1].split("\n[", 1)[0]
    found = dict(re.findall(r'^"?([\w.]+)"?\s*=\s*"([^"]+)"', table, re.M))
    assert "anime_detector" in found, "pyproject.toml has no [tool.setuptools.package-dir]"
    return {package: REPO / folder for package, folder in found.items()}


def module_file(module: str) -> Path | None:
    """The source file of ``module`` (a package's ``__init__.py``), or ``None``."""
    for package, folder in sorted(package_dirs().items(), key=lambda item: -len(item[0])):
        if module == package or module.startswith(package + "."):
            path = folder.joinpath(*module[len(package):].split(".")[1:])
            if (path / "__init__.py").is_file():
                return path / "__init__.py"
            return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None
    return None


def defined_names(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """Names a module or class body binds (``def``, ``class``, assignments, imports), and
    what a module lists in ``__all__`` (served lazily by ``__getattr__``)."""
    names: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update({t.id: node for t in targets if isinstance(t, ast.Name)})
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                names.update({e.value: node for e in getattr(node.value, "elts", ())
                              if isinstance(e, ast.Constant) and isinstance(e.value, str)})
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update({(a.asname or a.name).split(".")[0]: node for a in node.names})
    return names


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or a module then a name it defines (then a name that
    class defines)."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        source = module_file(".".join(parts[:split]))
        if source is not None:
            break
    else:
        return False
    body = ast.parse(source.read_text(encoding="utf-8")).body
    for name in parts[split:]:
        node = defined_names(body).get(name)
        if node is None:
            return False
        if not isinstance(node, ast.ClassDef):
            return True  # an attribute of a function or a value: beyond what text can check
        body = node.body
    return True


def doc_id(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_dotted_module_name_exists(doc: Path) -> None:
    names = set(DOTTED.findall(doc.read_text(encoding="utf-8"))) - set(NOT_MODULES)
    assert not sorted(n for n in names if not resolves(n))


def relative_names(text: str) -> set[str]:
    """Inline code that is a dotted name starting with a module of ``anime_detector``
    (``jobs.writers``), not a file name (``metrics.json``), as a full dotted name."""
    spans = (span.strip("`").strip() for span in CODE.findall(text))
    return {f"anime_detector.{name}" for name in spans if RELATIVE.fullmatch(name)
            and name.rsplit(".", 1)[1] not in FILE_SUFFIXES
            and module_file("anime_detector." + name.split(".")[0]) is not None}


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_relative_module_name_exists(doc: Path) -> None:
    assert not sorted(n for n in relative_names(doc.read_text(encoding="utf-8"))
                      if not resolves(n))


def missing_paths(text: str) -> list[str]:
    """Paths in code (inline or blocks) that name nothing in the repository: under its
    folders (``tests/helpers/``, globs too), or a ``.py`` file inside one
    (``serve/ray_app.py``). The repository's ``train/`` holds Python only: another
    ``train/NAME`` is a run folder's file."""
    missing = []
    for span in CODE.findall(text):
        for token in re.findall(r"[\w.*/-]+", span):
            root = token.split("/", 1)[0]
            if root not in ROOTS:
                if token.endswith(".py") and not any(
                        any((REPO / r).rglob(token)) for r in SOURCE_ROOTS):
                    missing.append(token)
                continue
            if "/" not in token or root == token.rstrip("/"):
                continue
            if root == "train" and Path(token).suffix not in ("", ".py"):
                continue
            if not any(REPO.glob(token.rstrip("/"))):
                missing.append(token)
    return missing


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_repository_path_in_code_exists(doc: Path) -> None:
    assert not missing_paths(doc.read_text(encoding="utf-8"))


def test_the_checks_catch_what_is_gone() -> None:
    assert resolves("anime_detector.engines.open_engine")
    assert resolves("anime_detector.preprocess")  # served lazily, listed in __all__
    assert resolves("anime_detector.train.backbones.Backbone.display")
    assert resolves("anime_detector.export")
    assert not resolves("anime_detector.engines._MODULES")
    assert not resolves("anime_detector.no_such_module")
    assert not resolves("anime_detector.train.backbones.Backbone.no_such_field")
    text = ("`serve.app.create_app`, `jobs.gone`, `metrics.json`, `Detector.predict`; "
            "`python benchmarks/serve_load.py`, `serve/ray_app.py`, `tests/gone.py`, "
            "`serve/gone.py`, `train/model.keras`, `benchmarks/results/gpu*.json`")
    assert relative_names(text) == {"anime_detector.serve.app.create_app",
                                    "anime_detector.jobs.gone"}
    assert missing_paths(text) == ["tests/gone.py", "serve/gone.py"]


def test_every_library_function_of_the_command_table_exists() -> None:
    """README's "where each command's logic lives" table: each name in its last column is
    a module or a name in one (a module renamed away is caught here, where the check
    above skips names whose first part is no module)."""
    rows = [line for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines()
            if re.match(r"\| `[\w -]+` \| `\w+\.py` \|", line)]
    assert len(rows) >= 9, "the command table was not found"
    names = {span.strip("`") for row in rows for span in re.findall(r"`[^`]+`",
                                                                  row.split("|")[3])}
    dotted = sorted(n for n in names if RELATIVE.fullmatch(n))
    assert dotted and not [n for n in dotted if not resolves(f"anime_detector.{n}")]
