"""``batch`` on a simulated multi-node Ray cluster: is the work spread, are the rows the same?

    python benchmarks/ray_cluster.py [--model M.onnx] [--nodes 2] [--cpus-per-node 1]
                                     [--images 200]

Starts ``ray.cluster_utils.Cluster`` with NODES nodes of CPUS_PER_NODE CPUs each
(separate raylets and object stores, all on this machine), runs one actor per
node, and compares the rows with ``predict`` on the same images. The nodes
share this machine's cores, so images/s shows overhead, not speed-up; what a
real cluster needs is in docs/batch-and-ray.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import compare_rows, cpu_name, make_images, save


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="default: reference VGG19")
    parser.add_argument("--data", type=Path, default=Path("examples/sample"))
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus-per-node", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    return parser.parse_args()


def run_on_cluster(args: argparse.Namespace, model: Path, folder: Path, out: Path
                   ) -> tuple[Any, float]:
    import ray
    from ray.cluster_utils import Cluster

    from anime_detector.batch import PipelineConfig, run_batch

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": args.cpus_per_node, "include_dashboard": False})
    for _ in range(args.nodes - 1):
        cluster.add_node(num_cpus=args.cpus_per_node)
    try:
        ray.init(address=cluster.address, logging_level="WARNING")
        cluster.wait_for_nodes()
        config = PipelineConfig(actors=args.nodes, cpus_per_actor=args.cpus_per_node,
                                batch_size=args.batch_size, device="cpu")
        started = time.perf_counter()
        summary = run_batch(model, [str(folder)], out, recursive=True, config=config,
                            progress=False)
        return summary, time.perf_counter() - started
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    from anime_detector.batch import read_rows
    from anime_detector.detector import Detector
    from anime_detector.graphs.reference import cached_reference_model

    args = parse()
    model = args.model or cached_reference_model()
    with tempfile.TemporaryDirectory(prefix="ray-cluster-bench-") as tmp:
        paths = make_images(args.images, args.data, Path(tmp) / "images")
        out = Path(tmp) / "results.parquet"
        summary, seconds = run_on_cluster(args, model, Path(tmp) / "images", out)
        theirs = read_rows(out, "parquet")
        det = Detector.load(model, device="cpu")
        ours = [i.to_dict() for i in det.predict_iter(paths, batch_size=args.batch_size)]
    diff = compare_rows(ours, theirs)
    report = {"model": str(model), "images": len(paths), "nodes": args.nodes,
              "cpus_per_node": args.cpus_per_node, "cpu": cpu_name(), "seconds": seconds,
              "images_per_s": len(paths) / seconds, "rows_per_node": summary.nodes,
              "actors": summary.actors, "comparison": diff}
    per_node = ", ".join(f"{node[:8]}: {n}" for node, n in sorted(summary.nodes.items()))
    md = "\n".join([
        f"| {len(paths)} real images on {args.nodes} simulated nodes x {args.cpus_per_node} "
        f"CPU ({cpu_name()}) | |",
        "|---|---|",
        f"| rows per node | {per_node} |",
        f"| images/s (actor start included; nodes share this machine) | "
        f"{report['images_per_s']:.2f} |",
        f"| same as predict | labels {diff['label_agreement']:.1%} of {diff['compared']}, "
        f"max abs dp {diff['max_abs_dp']:.2e} |",
    ])
    save("ray_cluster", report, md)


if __name__ == "__main__":
    main()
