"""Wall time of the same tests before and after a change, on this machine, one after the other.

    python benchmarks/suite_time.py --before-tree B --before-python B/.venv/bin/python

``--before-tree`` is a checkout of the older commit (``git worktree add B COMMIT``) with its
own environment (an editable install of that checkout, so its code runs; install it from
today's lock, ``-c requirements/dev-lock.txt``, so that only the code differs). The tests
both trees run are the older commit's test ids that still exist today: ids are collected on
both sides (``pytest --collect-only``) and the older files are mapped to their current
names through git's rename detection, so tests added since, in new files or old ones, do
not count against the change. ``--rounds N`` runs each side N times, interleaved
(before, today, today, before, ...), so that a drift in the shared machine's speed falls
on both sides alike; the ratio is of the summed times. ``--full`` also times today's whole
suite. Writes ``results/suite-same-tests.json`` and ``.md``. Nothing else should run
meanwhile.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from _common import save

ROOT = Path(__file__).resolve().parent.parent


def _pytest(tree: Path, python: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=tree, env=env, capture_output=True, text=True)


def collect(tree: Path, python: Path) -> list[str]:
    """The test ids pytest collects in ``tree``."""
    out = _pytest(tree, python, ["--collect-only", "-q"])
    return [line for line in out.stdout.splitlines() if "::" in line]


def renames(before_commit: str) -> dict[str, str]:
    """{test file at ``before_commit``: its name today}, from git's rename detection."""
    out = subprocess.run(["git", "diff", "--name-status", "-M30%", before_commit, "HEAD",
                          "--", "tests"], cwd=ROOT, capture_output=True, text=True, check=True)
    pairs = {}
    for line in out.stdout.splitlines():
        fields = line.split("\t")
        if fields[0].startswith("R") and len(fields) == 3:
            pairs[fields[1]] = fields[2]
    return pairs


def renamed(test: str, moved: dict[str, str]) -> str:
    """A test id of the older commit under its file's name today."""
    path, rest = test.split("::", 1)
    return f"{moved.get(path, path)}::{rest}"


def same_tests(before: list[str], after: list[str], moved: dict[str, str]) -> list[str]:
    """The ids of ``before`` (older names) whose renamed id is among ``after``."""
    today = set(after)
    return [test for test in before if renamed(test, moved) in today]


def run(tree: Path, python: Path, selection: list[str],
        moved: dict[str, str] | None = None) -> dict[str, object]:
    """One pytest run of ``selection`` in ``tree``: wall time, summary, and each test file's
    time (setup, call and teardown, from JUnit XML), keyed by its name today (``moved``)."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        started = time.perf_counter()
        out = _pytest(tree, python, ["-q", f"--junitxml={xml}", *selection])
        seconds = time.perf_counter() - started
        files = _file_seconds(xml, moved or {}) if xml.exists() else {}
    tail = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-300:]
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error)", tail)}
    return {"tree": str(tree), "seconds": seconds, "returncode": out.returncode,
            "summary": tail, "files": files, **counts}


def _file_seconds(xml: Path, moved: dict[str, str]) -> dict[str, float]:
    """Seconds per test file from pytest's JUnit XML (``classname`` is the dotted module)."""
    totals: dict[str, float] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        module = case.get("classname", "").split("::")[0]
        parts = module.split(".")
        path = next((".".join(parts[:i]).replace(".", "/") + ".py" for i in
                     range(len(parts), 0, -1) if parts[i - 1].startswith("test_")), module)
        path = moved.get(path, path)
        totals[path] = totals.get(path, 0.0) + float(case.get("time", 0.0))
    return totals


def slower_files(before: dict[str, float], after: dict[str, float], most: int = 8
                 ) -> list[tuple[str, float, float]]:
    """The files whose time grew most: (file today, seconds before, seconds after)."""
    rows = [(name, before.get(name, 0.0), after.get(name, 0.0)) for name in after]
    return sorted(rows, key=lambda r: r[2] - r[1], reverse=True)[:most]


def interleaved(rounds: int) -> list[str]:
    """The order of the runs, ``before`` and ``after`` each ``rounds`` times: ABBA..."""
    order: list[str] = []
    for index in range(rounds):
        order += ["before", "after"] if index % 2 == 0 else ["after", "before"]
    return order


def mean_files(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Each test file's mean seconds over ``runs``."""
    names = {name for one in runs for name in one["files"]}
    return {name: sum(one["files"].get(name, 0.0) for one in runs) / len(runs)
            for name in names}


def main() -> None:
    from anime_detector.system import available_cpus, cpu_summary

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-tree", type=Path, required=True)
    parser.add_argument("--before-python", type=Path, required=True)
    parser.add_argument("--after-python", type=Path, default=Path(sys.executable))
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of each side, interleaved (before, today, today, ...)")
    parser.add_argument("--full", action="store_true", help="also time today's whole suite")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=args.before_tree,
                            capture_output=True, text=True, check=True).stdout.strip()
    moved = renames(commit)
    old_ids = collect(args.before_tree, args.before_python)
    new_ids = collect(ROOT, args.after_python)
    kept = same_tests(old_ids, new_ids, moved)
    mapped = [renamed(test, moved) for test in kept]
    print(f"{len(old_ids)} tests at {commit[:7]}, {len(new_ids)} today, {len(kept)} in both",
          file=sys.stderr)
    order = interleaved(args.rounds)
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for side in order:
        one = (run(args.before_tree, args.before_python, kept, moved) if side == "before"
               else run(ROOT, args.after_python, mapped))
        runs[side].append(one)
        print(f"{side}: {one['seconds']:.0f} s, {one['summary']}", file=sys.stderr)
    full = run(ROOT, args.after_python, []) if args.full else None
    before_s, after_s = (sum(float(one["seconds"]) for one in runs[side])
                         for side in ("before", "after"))
    ratio = after_s / before_s
    report = {"before_commit": commit, "tests_before": len(old_ids), "tests_today":
              len(new_ids), "same_tests": len(kept), "order": order,
              "before": runs["before"], "after": runs["after"], "after_full_suite": full,
              "ratio": ratio, "cpu": cpu_summary()}
    rows = ["| suite | tests | wall s | result |", "|---|---|---|---|"]
    for side, label in (("before", f"before ({commit[:7]}), the tests both have"),
                        ("after", "today, the same tests")):
        for number, one in enumerate(runs[side], 1):
            rows.append(f"| {label}, run {number} | {len(kept)} | {one['seconds']:.0f} | "
                        f"{one['summary']} |")
    if full is not None:
        rows.append(f"| today, whole suite | {len(new_ids)} | {full['seconds']:.0f} | "
                    f"{full['summary']} |")
    changes = ["", "| test file (today's name) | s before | s today | change |",
               "|---|---:|---:|---:|"]
    for name, was, now in slower_files(mean_files(runs["before"]), mean_files(runs["after"])):
        changes.append(f"| {name} | {was:.1f} | {now:.1f} | {now - was:+.1f} |")
    md = "\n".join([*rows, "", f"same tests today / before = {ratio:.0%} ({after_s:.0f} s / "
                    f"{before_s:.0f} s; runs in the order {', '.join(order)}); {report['cpu']}, "
                    f"{available_cpus()} CPUs", *changes])
    print(md)
    save("suite-same-tests", report, md)


if __name__ == "__main__":
    main()
