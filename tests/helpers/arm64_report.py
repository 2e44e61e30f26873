"""Where the ARM64 tests leave what they measured: ``ARM64_REPORT``, one JSON object a line.

``ci/arm64.sh`` sets it per CPU class and ``ci/arm64_report.py`` prints the table.
"""

from __future__ import annotations

import json
import os
from typing import Any

from anime_detector.system import cpu_model, machine


def report(row: dict[str, Any]) -> None:
    """Append ``row`` to ``ARM64_REPORT`` (JSON lines), with this CPU and architecture."""
    if os.environ.get("ARM64_REPORT"):
        row = {"cpu": os.environ.get("QEMU_CPU") or cpu_model(), "arch": machine(), **row}
        with open(os.environ["ARM64_REPORT"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
