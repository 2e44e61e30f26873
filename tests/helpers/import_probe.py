"""Which modules a fresh interpreter has loaded after running some code: the import
boundary checks of the runtime, the engines and explain all ask this one question."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable

PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {roots})))
"""


def loaded_modules(body: str, roots: Iterable[str]) -> list[str]:
    """Run ``body`` in a fresh interpreter; the loaded modules whose top-level package is
    one of ``roots``."""
    code = PROBE.format(body=body, roots=set(roots))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))
