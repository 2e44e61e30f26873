"""The service under load, beside ``predict`` on the same images in the same run.

    python benchmarks/serve_load.py [--backbones vgg19 mobilenetv3small]
        [--clients 1 2 4 8 16 32] [--seconds 8] [--images examples/sample]
        [--soak 10000] [--connections 1000]

For each backbone (its random-weight reference model: speed does not depend on the weights)
and each batching setting (``--max-batch 1``, and ``8`` taking what is queued with no wait),
a real ``anime-detector serve`` on loopback gets 1..32 closed-loop clients, one image per
request. After each level the server idles and ``predict``'s own job (``predict_files``:
decoding overlapped, batch 8) runs in this process on the same images (run again and again for
about 3 s), so every ratio compares figures taken seconds apart. Then a soak (``--soak``
requests: the server's RSS after warm-up and at the end) and a burst of ``--connections``
connections at once (each answered: a result or 503). Loopback only; bounded in count and
time. Results: results/serve_load.{json,md}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _common import machine_line, median, predict_rate, previous_report, save
from _loadgen import burst, encode_predict, image_files, run_load, service

SETTINGS = {"batching off": ["--max-batch", "1"], "batching on": ["--max-batch", "8"]}
MAX_REQUESTS_PER_LEVEL = 2000


def predict_latency_ms(detector: Any, paths: list[str]) -> float:
    """Median ms of ``Detector.predict`` on one image file (what one lone request costs)."""
    times = []
    for path in paths:
        started = time.perf_counter()
        detector.predict([path], batch_size=1)
        times.append(time.perf_counter() - started)
    return 1000 * median(times)


def bench_backbone(backbone: str, args: argparse.Namespace, files: list[Path]
                   ) -> dict[str, Any]:
    from anime_detector.detector import Detector
    from anime_detector.export.reference_models import reference_model

    model = reference_model(backbone)
    paths = [str(p) for p in files]
    detector = Detector.load(model)  # as `predict` opens it
    predict_rate(detector, paths[:8])  # warm-up
    rows: list[dict[str, Any]] = []
    for setting, extra in SETTINGS.items():
        server = service(model, extra)
        payloads = [encode_predict(server.url, p.name, p.read_bytes()) for p in files]
        run_load(server.url, payloads, 2, 2.0, 16)  # warm-up
        for clients in args.clients:
            cpu_before = server.cpu_s()
            load = run_load(server.url, payloads, clients, args.seconds, MAX_REQUESTS_PER_LEVEL)
            server_cpu = server.cpu_s() - cpu_before
            rate = predict_rate(detector, paths, seconds=3.0)
            lone = predict_latency_ms(detector, paths[:5]) if clients == 1 else None
            row = {"backbone": backbone, "setting": setting, "clients": clients,
                   "requests": sum(load.statuses.values()), "statuses": load.statuses,
                   "failures": load.failures, "served_per_s": load.ok / load.wall_s,
                   "predict_per_s": rate, "p50_ms": 1000 * load.percentile(50),
                   "p99_ms": 1000 * load.percentile(99), "predict_lone_ms": lone,
                   "client_cpu_pct": 100 * load.client_cpu_s / load.wall_s,
                   "server_cpu_pct": 100 * server_cpu / load.wall_s}
            rows.append(row)
            print(_line(row), flush=True)
        server.stop()
    del detector
    return {"backbone": backbone, "model": str(model), "rows": rows}


def soak_and_burst(model: Path, files: list[Path], requests: int, connections: int,
                   warmup: int) -> dict[str, Any]:
    server = service(model, ["--max-batch", "8"])
    payloads = [encode_predict(server.url, p.name, p.read_bytes()) for p in files]
    run_load(server.url, payloads, 8, 600, warmup)  # allocator arenas and caches fill up
    after_warmup = server.rss_mb()
    soak = run_load(server.url, payloads, 8, 1800, requests)
    at_end = server.rss_mb()
    flood = burst(server.url, payloads[0], connections)
    alive = run_load(server.url, payloads, 1, 10, 3).ok == 3
    server.stop()
    return {"warmup_requests": warmup,
            "soak_requests": sum(soak.statuses.values()), "soak_statuses": soak.statuses,
            "soak_failures": soak.failures, "rss_after_warmup_mb": after_warmup,
            "rss_at_end_mb": at_end, "rss_growth_pct": 100 * (at_end / after_warmup - 1),
            "soak_s": soak.wall_s, "burst_connections": connections,
            "burst_statuses": flood.statuses, "burst_failures": flood.failures,
            "burst_s": flood.wall_s, "alive_after_burst": alive}


def _line(row: dict[str, Any]) -> str:
    lone = f" | lone predict {row['predict_lone_ms']:.1f} ms" if row["predict_lone_ms"] else ""
    return (f"{row['backbone']:<17} {row['setting']:<13} {row['clients']:>2} clients: "
            f"{row['served_per_s']:6.1f} img/s served, predict {row['predict_per_s']:6.1f} "
            f"({row['served_per_s'] / row['predict_per_s']:.0%}), p50 {row['p50_ms']:.1f} ms, "
            f"p99 {row['p99_ms']:.1f} ms, client CPU {row['client_cpu_pct']:.0f}%{lone}")


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# The service under load ({machine_line()})", "",
             "| backbone | batching | clients | served img/s | predict img/s | served / predict "
             "| p50 ms | p99 ms | lone predict ms | client CPU | server CPU |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for result in report["backbones"]:
        for r in result["rows"]:
            lone = f"{r['predict_lone_ms']:.1f}" if r["predict_lone_ms"] else ""
            lines.append(
                f"| {r['backbone']} | {r['setting'].split()[1]} | {r['clients']} | "
                f"{r['served_per_s']:.1f} | {r['predict_per_s']:.1f} | "
                f"{r['served_per_s'] / r['predict_per_s']:.0%} | {r['p50_ms']:.1f} | "
                f"{r['p99_ms']:.1f} | {lone} | {r['client_cpu_pct']:.0f}% | "
                f"{r['server_cpu_pct']:.0f}% |")
    soak = report.get("soak")
    if soak:
        lines += ["", f"Soak ({report['soak_backbone']}, batching on, 8 clients): after "
                  f"{soak.get('warmup_requests', 500)} warm-up requests, "
                  f"{soak['soak_requests']} requests {soak['soak_statuses']} in "
                  f"{soak['soak_s']:.0f} s; server RSS {soak['rss_after_warmup_mb']:.0f} MB "
                  f"after warm-up, {soak['rss_at_end_mb']:.0f} MB at the end "
                  f"({soak['rss_growth_pct']:+.1f}%).",
                  f"Burst: {soak['burst_connections']} connections at once: statuses "
                  f"{soak['burst_statuses']}, {soak['burst_failures']} unanswered, "
                  f"{soak['burst_s']:.1f} s; server alive after: {soak['alive_after_burst']}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="*", default=["vgg19", "mobilenetv3small"],
                        help="none: keep the load tables of the last run on this CPU")
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--seconds", type=float, default=8.0, help="per load level")
    parser.add_argument("--images", type=Path, default=Path("examples/sample"))
    parser.add_argument("--soak", type=int, default=10000, help="requests (0: skip)")
    parser.add_argument("--soak-warmup", type=int, default=3000,
                        help="requests before the first RSS reading (RSS levels off by ~3000)")
    parser.add_argument("--soak-backbone", default="mobilenetv3small")
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    from anime_detector.export.reference_models import reference_model

    files = image_files(args.images)
    report: dict[str, Any] = {"backbones": [bench_backbone(b, args, files)
                                            for b in args.backbones]}
    if not args.backbones:
        report["backbones"] = previous_report("serve_load").get("backbones", [])
    if args.soak:
        report["soak_backbone"] = args.soak_backbone
        report["soak"] = soak_and_burst(reference_model(args.soak_backbone), files, args.soak,
                                        args.connections, args.soak_warmup)
    save("serve_load", report, markdown(report))


if __name__ == "__main__":
    main()
