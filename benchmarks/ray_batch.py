"""``batch`` on a local Ray vs ``predict`` on the same real images, side by side.

    python benchmarks/ray_batch.py [--model M.onnx] [--images 500] [--rounds 2]

Builds N real images (copies of examples/sample/*/* under new names) in a temp
folder, then alternates rounds: ``predict`` (``Detector.predict_iter``: decode
threads overlapped with inference) and ``batch`` (``run_batch`` on a local
Ray started once up front; each round includes creating the actors and
shipping the model). Reports images/s, the ratio batch / predict, label
agreement and max |dp| between the two result sets. Target:
ratio >= 75% with max |dp| <= 1e-6 on the 2-core machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import compare_rows, cpu_name, make_images, matmul_gflops, median, save


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="default: reference VGG19")
    parser.add_argument("--data", type=Path, default=Path("examples/sample"))
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2, help="A/B pairs, interleaved")
    parser.add_argument("--batch-size", type=int, default=8, help="predict's and batch's")
    parser.add_argument("--actors", type=int, default=None)
    parser.add_argument("--cpus-per-actor", type=float, default=None,
                        help="default: all CPUs of this process (one actor)")
    parser.add_argument("--decode-cpus", type=float, default=0.0)
    parser.add_argument("--decode-tasks", type=int, default=None, help="default: one per actor")
    return parser.parse_args()


def main() -> None:
    import ray

    from anime_detector.batch import PipelineConfig, read_rows, run_batch
    from anime_detector.detector import Detector
    from anime_detector.graphs.reference import cached_reference_model
    from anime_detector.system import available_cpus

    args = parse()
    model = args.model or cached_reference_model()
    cpus = available_cpus()
    config = PipelineConfig(actors=args.actors, cpus_per_actor=args.cpus_per_actor or cpus,
                            batch_size=args.batch_size, device="cpu",
                            decode_cpus=args.decode_cpus, decode_tasks=args.decode_tasks)
    with tempfile.TemporaryDirectory(prefix="ray-batch-bench-") as tmp:
        paths = make_images(args.images, args.data, Path(tmp) / "images")
        det = Detector.load(model, device="cpu")
        list(det.predict_iter(paths[: args.batch_size], batch_size=args.batch_size))  # warm up
        started = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
        ray_init_s = time.perf_counter() - started
        probe = matmul_gflops()
        predict_s: list[float] = []
        batch_s: list[float] = []
        actors = 0
        for r in range(args.rounds):
            started = time.perf_counter()
            ours = [i.to_dict() for i in det.predict_iter(paths, batch_size=args.batch_size)]
            predict_s.append(time.perf_counter() - started)
            out = Path(tmp) / f"round{r}.parquet"
            started = time.perf_counter()
            summary = run_batch(model, [str(Path(tmp) / "images")], out, recursive=True,
                                config=config, progress=False)
            batch_s.append(time.perf_counter() - started)
            actors = summary.actors
            theirs = read_rows(out, "parquet")
        ray.shutdown()
    report = summarise(args, model, paths, predict_s, batch_s, ray_init_s, actors,
                       compare_rows(ours, theirs), probe)
    save("ray_batch", report, markdown(report))


def summarise(args: argparse.Namespace, model: Path, paths: list[str], predict_s: list[float],
              batch_s: list[float], ray_init_s: float, actors: int, diff: dict[str, Any],
              probe: float) -> dict[str, Any]:
    from anime_detector.system import available_cpus

    predict_ips, batch_ips = len(paths) / median(predict_s), len(paths) / median(batch_s)
    return {"model": str(model), "images": len(paths), "batch_size": args.batch_size,
            "cpus": available_cpus(), "cpu": cpu_name(), "actors": actors,
            "cpus_per_actor": args.cpus_per_actor or available_cpus(),
            "decode_cpus": args.decode_cpus, "decode_tasks": args.decode_tasks,
            "predict_s": predict_s, "batch_s": batch_s,
            "predict_images_per_s": predict_ips, "batch_images_per_s": batch_ips,
            "ratio": batch_ips / predict_ips, "ray_init_s": ray_init_s, "comparison": diff,
            "matmul_gflops_before": probe, "matmul_gflops_after": matmul_gflops()}


def markdown(r: dict[str, Any]) -> str:
    d = r["comparison"]
    return "\n".join([
        f"| {r['images']} real images, batch {r['batch_size']}, {r['cpus']} CPUs "
        f"({r['cpu']}) | images/s |",
        "|---|---|",
        f"| predict (Detector.predict_iter, decode threads) | {r['predict_images_per_s']:.2f} |",
        f"| batch on local Ray ({r['actors']} actor x {r['cpus_per_actor']:g} CPUs, "
        f"actor start included) | {r['batch_images_per_s']:.2f} |",
        "",
        f"batch / predict = {r['ratio']:.1%} (target >= 75%); label agreement "
        f"{d['label_agreement']:.1%} on {d['compared']} images, max |dp| {d['max_abs_dp']:.2e} "
        f"(target <= 1e-6); Ray start {r['ray_init_s']:.1f} s (not included).",
    ])


if __name__ == "__main__":
    main()
