"""Print what the ARM64 tests measured: ``python ci/arm64_report.py [--expect A,B] R.jsonl...``.

Each input file is one CPU class, each line one case (``tests/arm64/`` writes them). Exit 1
when nothing was measured, or a file lacks a case named by ``--expect``: a parity run that
skipped what it should have tested has failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def main(args: list[str]) -> int:
    expect = set(args[1].split(",")) if args[:1] == ["--expect"] else set()
    paths = args[2:] if expect else args
    rows = [json.loads(line) for p in paths if Path(p).is_file()
            for line in Path(p).read_text().splitlines() if line.strip()]
    if not rows:
        print("arm64: error: no parity results were written (did tests/arm64 run?)")
        return 1
    for path in paths:
        done = {json.loads(line)["case"] for line in Path(path).read_text().splitlines()
                if line.strip()} if Path(path).is_file() else set()
        if expect - done:
            missing = ", ".join(sorted(expect - done))
            print(f"arm64: error: {Path(path).stem}: no result for {missing}")
            return 1
    parity = [r for r in rows if "max_abs_dp_vs_x86" in r]
    if parity:
        _table(parity)
    for r in rows:
        if "max_abs_dp_vs_x86" not in r:
            print(f"{r['cpu']}: {r['case']}: {r['engine']} runs {r['precision']}, max abs dp "
                  f"{r['max_abs_dp_vs_fp32']:.1e} on {r['images']} random inputs")
    return 0


def _table(rows: list[dict[str, Any]]) -> None:
    print("| cpu | case | engine | precision | images | max abs dp vs x86 | labels as x86 | "
          "error lines as x86 | vs fp32: max abs dp | mean abs dp | labels |")
    print("|" + "---|" * 11)
    for r in rows:
        print(f"| {r['cpu']} | {r['case']} | {r['engine']} | {r['precision']} | {r['images']} | "
              f"{r['max_abs_dp_vs_x86']:.1e} | {r['labels_same_as_x86']}/{r['images']} | "
              f"{'same' if r['errors_same'] else 'DIFFERENT'} | {r['max_abs_dp_vs_fp32']:.3f} | "
              f"{r['mean_abs_dp_vs_fp32']:.3f} | {r['labels_as_fp32']}/{r['images']} |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
