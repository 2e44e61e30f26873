"""Child process for ``bench``: load one engine, run one batch, print cold start and peak RSS."""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

from anime_detector.bench import EngineSpec, load_engine


def main() -> None:
    spec = EngineSpec(**json.loads(sys.argv[1]))
    batch = np.zeros((int(sys.argv[2]), 224, 224, 3), np.float32)
    started = time.perf_counter()
    run, _, _ = load_engine(spec)
    run(batch)
    cold = (time.perf_counter() - started) * 1000.0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"cold_start_ms": cold, "peak_rss_mb": peak_kb / 1024.0}))


if __name__ == "__main__":
    main()
