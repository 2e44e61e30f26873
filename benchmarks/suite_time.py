"""Wall time of the test suite before and after, on this machine, one after the other.

    python benchmarks/suite_time.py --before-tree B --before-python B/.venv/bin/python

``--before-tree`` is a checkout of the older commit with its own environment (an
editable install of that checkout, so its console script runs its code). The "after" run
selects the tests that existed before (``--today``: the files the older commit had, under
their current names) so tests added since do not count against the target; the
whole current suite is timed too. Nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _common import save

ROOT = Path(__file__).resolve().parent.parent
TODAY = ["tests/export/test_export.py", "tests/runtime/test_bad_inputs.py",
         "tests/runtime/test_detector.py", "tests/runtime/test_preprocess.py",
         "tests/graphs/test_reference_graph.py", "tests/train/test_train.py",
         "tests/train/test_train_paths.py", "tests/timing/test_bench_command.py",
         "tests/cli/test_help.py", "tests/cli/test_predict.py", "tests/test_demo.py",
         "tests/cli/test_eval.py", "tests/test_import_boundary.py", "tests/test_sample_set.py"]
# (test_static_checks.py of the older commit is now ci/static-checks, outside pytest.)


def run(tree: Path, python: Path, selection: list[str]) -> dict[str, object]:
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    out = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *selection], cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    tail = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-300:]
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error)", tail)}
    return {"tree": str(tree), "seconds": seconds, "returncode": out.returncode,
            "summary": tail, **counts}


def main() -> None:
    from anime_detector.system import available_cpus, cpu_summary

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-tree", type=Path, required=True)
    parser.add_argument("--before-python", type=Path, required=True)
    parser.add_argument("--after-python", type=Path, default=Path(sys.executable))
    args = parser.parse_args()
    before = run(args.before_tree, args.before_python, [])
    today = run(ROOT, args.after_python, TODAY)
    full = run(ROOT, args.after_python, [])
    ratio = float(today["seconds"]) / float(before["seconds"])  # type: ignore[arg-type]
    report = {"before": before, "after_today_tests": today, "after_full_suite": full,
              "ratio": ratio, "cpu": cpu_summary()}
    md = "\n".join([
        "| suite | wall s | result |", "|---|---|---|",
        f"| before ({args.before_tree.name}) | {before['seconds']:.0f} | {before['summary']} |",
        f"| after, the tests that existed before | {today['seconds']:.0f} | {today['summary']} |",
        f"| after, whole suite (tests added since on top) | {full['seconds']:.0f} | "
        f"{full['summary']} |", "",
        f"today's tests now / before = {ratio:.0%} (target <= 60%); "
        f"{report['cpu']}, {available_cpus()} CPUs"])
    save("suite", report, md)


if __name__ == "__main__":
    main()
