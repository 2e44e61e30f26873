"""Plot p50 latency per image vs batch size for each engine, from ``results/engines.json``.

    python benchmarks/plot_engines.py      # writes results/engines.png
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = json.loads((RESULTS / "engines.json").read_text())
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in report["results"]:
        if not row["p50_ms"]:
            continue
        target = " (avx2 file)" if "avx2" in Path(row["model"]).name else ""
        name = f"{row['engine']} {row['precision']}{target}"
        series[name].append((row["batch_size"], row["p50_ms"] / row["batch_size"]))
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, points in series.items():
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, "-o", label=name)
    ax.set_xlabel("batch size")
    ax.set_ylabel("p50 ms per image")
    ax.set_title(f"VGG19 head on {report['machine']['cpu']}, {report['machine']['threads']} thr")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(RESULTS / "engines.png", dpi=90)
    print(RESULTS / "engines.png")


if __name__ == "__main__":
    main()
