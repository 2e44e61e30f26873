"""Print what the ARM64 parity tests measured: ``python ci/arm64_report.py REPORT.jsonl...``.

Each line of the input is one case on one CPU class (``tests/arm64/test_parity.py`` writes
them). Exit 1 when no case was measured at all: a parity run that tested nothing failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(paths: list[str]) -> int:
    rows = [json.loads(line) for p in paths if Path(p).is_file()
            for line in Path(p).read_text().splitlines() if line.strip()]
    if not rows:
        print("arm64: error: no parity results were written (did tests/arm64 run?)")
        return 1
    print("| cpu | case | engine | precision | images | max abs dp vs x86 | labels as x86 | "
          "error lines as x86 | vs fp32: max abs dp | mean abs dp | labels |")
    print("|" + "---|" * 11)
    for r in rows:
        if "max_abs_dp_vs_x86" not in r:
            continue
        print(f"| {r['cpu']} | {r['case']} | {r['engine']} | {r['precision']} | {r['images']} | "
              f"{r['max_abs_dp_vs_x86']:.1e} | {r['labels_same_as_x86']}/{r['images']} | "
              f"{'same' if r['errors_same'] else 'DIFFERENT'} | {r['max_abs_dp_vs_fp32']:.3f} | "
              f"{r['mean_abs_dp_vs_fp32']:.3f} | {r['labels_as_fp32']}/{r['images']} |")
    for r in rows:
        if "max_abs_dp_vs_x86" not in r:
            print(f"{r['cpu']}: {r['case']}: {r['engine']} runs {r['precision']}, max abs dp "
                  f"{r['max_abs_dp_vs_fp32']:.1e} on {r['images']} random inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
