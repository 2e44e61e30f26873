"""Child process for ``bench``: load one engine, run one batch, print cold start and peak RSS."""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

from anime_detector.preprocessing import input_shape
from anime_detector.timing.runner import EngineSpec, load_engine


def main() -> None:
    spec = EngineSpec(**json.loads(sys.argv[1]))
    started = time.perf_counter()
    engine = load_engine(spec)
    shape = input_shape(engine.contract.spec)  # NCHW for a Keras head on an NCHW encoder
    engine.run(np.zeros((int(sys.argv[2]), *shape), np.float32))
    cold = (time.perf_counter() - started) * 1000.0
    print(json.dumps({"cold_start_ms": cold, "peak_rss_mb": peak_rss_kb() / 1024.0}))


def peak_rss_kb() -> float:
    """This process's peak RSS. ``VmHWM`` resets at exec; ``ru_maxrss`` does not (a child
    forked from a big parent would report the parent's size), so prefer ``VmHWM``."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


if __name__ == "__main__":
    main()
