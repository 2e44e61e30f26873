"""Versions are defined once and agree everywhere.

- ``requirements/dev-lock.txt`` (written by ``ci/lock.sh``) pins every dependency that
  ``pyproject.toml`` declares for the extras in ``ci/extras.env``, at a version inside the
  declared range.
- ``requirements/no-deps.txt`` is the only definition of the ``--no-deps`` pins (pnnx); every
  other mention in the repository quotes the same version.
- README.md's development command is the one ``.ci/run`` runs: the lock, the extras, the
  no-deps file.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "dev-lock.txt"
NO_DEPS = ROOT / "requirements" / "no-deps.txt"
PROJECT = canonicalize_name("anime-detector")


def lock_pins(text: str) -> dict[str, str]:
    """``name -> version`` from a pip requirements file of ``name==version`` lines."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
            assert match, f"not a name==version pin: {line!r}"
            pins[canonicalize_name(match[1])] = match[3]
    return pins


def ci_extras() -> list[str]:
    text = (ROOT / "ci" / "extras.env").read_text()
    match = re.search(r"^EXTRAS=([\w,\-]+)$", text, re.M)
    assert match, "ci/extras.env has no EXTRAS= line"
    return match[1].split(",")


def declared(extras: list[str]) -> list[Requirement]:
    """The requirements of the project with these extras, self-references followed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    found = [Requirement(text) for text in project["dependencies"]]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        assert extra in optional, f"ci/extras.env names extra {extra!r}, pyproject has none"
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in map(Requirement, optional[extra]):
            if canonicalize_name(requirement.name) == PROJECT:
                todo.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def applies(requirement: Requirement) -> bool:
    """Whether the requirement's marker holds on the lock's platform (CPython 3.11 Linux)."""
    if requirement.marker is None:
        return True
    environment = {**default_environment(), "python_version": "3.11",
                   "python_full_version": "3.11.7", "sys_platform": "linux",
                   "platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}
    return requirement.marker.evaluate(environment)


def test_lock_pins_every_declared_dependency_inside_its_range() -> None:
    pins = lock_pins(LOCK.read_text())
    problems = []
    for requirement in filter(applies, declared(ci_extras())):
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement}: the lock has {pins[name]}")
    assert not problems, "pyproject.toml and requirements/dev-lock.txt disagree " \
        "(run bash ci/lock.sh):\n" + "\n".join(problems)


def test_lock_is_written_by_the_lock_script() -> None:
    head = LOCK.read_text().splitlines()[:2]
    assert head[1].strip() == "#    bash ci/lock.sh", head


def no_deps_pins() -> dict[str, str]:
    return lock_pins(NO_DEPS.read_text())


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    suffixes = {".py", ".md", ".sh", ".toml", ".txt", ".cfg", ".yml", ".yaml", ".service", ""}
    paths = [ROOT / name for name in listed.stdout.splitlines()]
    return [path for path in paths if path.suffix in suffixes and path.is_file()
            and "results" not in path.parts and path != NO_DEPS]


def test_no_deps_pins_are_quoted_alike_everywhere() -> None:
    pins = no_deps_pins()
    assert "pnnx" in pins
    quoted = re.compile(r"\b(" + "|".join(map(re.escape, pins)) + r")==([0-9][\w.]*)")
    wrong = []
    for path in tracked_text_files():
        text = path.read_text(errors="replace")
        wrong += [f"{path.relative_to(ROOT)}: {m[0]}" for m in quoted.finditer(text)
                  if m[2] != pins[m[1]]]
    assert not wrong, f"requirements/no-deps.txt pins {pins}; other versions quoted:\n" \
        + "\n".join(wrong)


def test_install_hint_quotes_the_pnnx_pin() -> None:
    pytest.importorskip("onnx")
    from anime_detector.export.ncnn import PNNX_INSTALL

    assert PNNX_INSTALL == f"pip install --no-deps pnnx=={no_deps_pins()['pnnx']}"


def test_readme_development_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    extras = ",".join(ci_extras())
    assert f'pip install -c requirements/dev-lock.txt -e ".[{extras}]"' in readme
    assert "pip install --no-deps -r requirements/no-deps.txt && python -m pytest" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-c requirements/dev-lock.txt -e \".[$extras]\"" in ci
    assert "--no-deps -r requirements/no-deps.txt" in ci
    assert "ci/extras.env" in ci and "python -m venv" in ci.replace("python3", "python")


def test_arm64_root_installs_from_the_lock() -> None:
    script = (ROOT / "ci" / "arm64.sh").read_text()
    installs = [line for line in script.splitlines() if re.search(r"bin/pip\"? install", line)]
    assert installs
    for line in installs:
        assert "dev-lock.txt" in line or "no-deps.txt" in line, line
