"""Where a served image's time goes: ``serve``'s time in each stage of a request, read from
its ``/metrics`` before and after a load (as Triton's perf_analyzer reports a server's),
beside ``predict``'s images/s and its own split.

    python benchmarks/serve_breakdown.py [--backbone mobilenetv3small] [--clients 8]
        [--seconds 10] [--rounds 3] [--routes v1 v2] [--images examples/sample]
        [--max-wait-ms 0] [--threads N]

The backbone's random-weight reference model (speed does not depend on the weights) is
served with ``--max-batch 8`` on loopback and driven by ``--clients`` closed-loop clients,
one image per request, for ``--seconds`` a round. The differences of
``anime_detector_stage_seconds_total`` (each stage), ``http_request_duration_seconds`` (the
request's time in the app), ``anime_detector_inference_seconds`` (the engine) and
``process_cpu_seconds_total`` over a round give, in ms per image:

- ``read_body``, ``decode``, ``queue``, ``infer``, ``resume``, ``respond``: the stages, each
  a stretch of a request's time (docs/serve.md, Metrics); ``infer`` is a whole batch's run,
  which every request in it waits for;
- ``app other``: the rest of the request's time in the app (routing, the middleware, sending
  the answer);
- ``server``: the request's time in the app; ``client``: the latency the client saw (mean);
- ``outside``: client minus server: uvicorn's HTTP parsing, the event loop's wait before the
  request reaches the app, the network stack and the client;
- ``engine``: the engine's time per image (a run's time shared by its images); ``CPU``: the
  server process's CPU time per image.

Rounds interleave (``predict``, each route; ``predict``, each route; ...). ``predict``'s
round, in this process on the same files: its job's images/s (decoding overlapped, batch 8;
the job run again and again for about 3 s), then its split: each file decoded and preprocessed on
one thread (``decode``), and the runs of batches of 8 (``infer``). The tables hold the
medians over rounds. Loopback only; bounded in count and time. Results:
results/serve_breakdown-BACKBONE.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_line, median, predict_rate, save, timed
from _loadgen import (
    add_load_options,
    encode_infer,
    encode_predict,
    image_files,
    run_load,
    service,
)

from anime_detector.serve.metrics import STAGES

from helpers.server import ServerProcess, metric_value, scrape

MAX_BATCH = 8
MAX_REQUESTS = 5000
ROUTES = {"v1": ("serve /v1/predict", "/v1/predict"),
          "v2": ("serve /v2 infer", "/v2/models/{name}/infer")}
SERVED = ("read_body", "decode", "queue", "infer", "resume", "respond", "app_other",
          "server", "client", "outside", "engine", "cpu")
HEADS = ("read body", "decode", "queue", "infer", "resume", "respond", "app other",
         "server", "client", "outside", "engine", "CPU")


def counters(url: str, route: str) -> dict[str, float]:
    """What ``/metrics`` says now: each stage's seconds, the route's request seconds and
    count, the images predicted, the engine's seconds and the process's CPU seconds."""
    families = scrape(url)
    found = {stage: metric_value(families, "anime_detector_stage_seconds_total", stage=stage)
             for stage in STAGES}
    found["server"] = metric_value(families, "http_request_duration_seconds_sum", route=route)
    found["requests"] = metric_value(families, "http_request_duration_seconds_count",
                                     route=route)
    found["images"] = metric_value(families, "anime_detector_images_total")
    found["engine"] = metric_value(families, "anime_detector_inference_seconds_sum")
    found["cpu"] = metric_value(families, "process_cpu_seconds_total")
    found["runs"] = metric_value(families, "anime_detector_batch_size_count")
    return found


def serve_round(server: ServerProcess, route: str, payloads: list[bytes], clients: int,
                seconds: float) -> dict[str, Any]:
    """One load on ``route``: images/s and the ms per image of every column."""
    before = counters(server.url, route)
    load = run_load(server.url, payloads, clients, seconds, MAX_REQUESTS)
    after = counters(server.url, route)
    grown = {key: after[key] - before[key] for key in after}
    per_request = 1000 / max(1.0, grown["requests"])  # one image per request
    per_image = 1000 / max(1.0, grown["images"])
    row: dict[str, Any] = {stage: grown[stage] * per_request for stage in STAGES}
    row["server"] = grown["server"] * per_request
    row["app_other"] = row["server"] - sum(row[stage] for stage in STAGES)
    row["client"] = 1000 * statistics.fmean(load.latencies) if load.latencies else float("nan")
    row["outside"] = row["client"] - row["server"]
    row["engine"] = grown["engine"] * per_image
    row["cpu"] = grown["cpu"] * per_image
    row["batch"] = grown["images"] / max(1.0, grown["runs"])  # images per inference run
    row.update(img_per_s=load.ok / load.wall_s, statuses=load.statuses,
               failures=load.failures)
    return row


def predict_round(model: Path, paths: list[str]) -> dict[str, float]:
    """``predict``'s images/s on ``paths``, and its decode and infer ms per image."""
    from anime_detector.detector import Detector
    from anime_detector.prediction import ModelInput

    detector = Detector.load(model)  # a fresh one each round, as `predict` opens it
    predict_rate(detector, paths[:MAX_BATCH])  # warm-up
    rate = predict_rate(detector, paths, seconds=3.0)
    pipeline = detector.pipeline()
    items: list[Any] = []
    decode_s = timed(lambda: items.extend(pipeline.decode(path) for path in paths))
    arrays = [item.array for item in items if isinstance(item, ModelInput)]
    batches = [arrays[i:i + MAX_BATCH] for i in range(0, len(arrays), MAX_BATCH)]
    infer_s = timed(lambda: [detector.infer(np.stack(batch)) for batch in batches])
    return {"img_per_s": rate, "decode": 1000 * decode_s / len(paths),
            "infer": 1000 * infer_s / max(1, len(arrays))}


def _line(name: str, row: dict[str, Any]) -> str:
    return (f"{name}: {row['img_per_s']:.2f} img/s; ms per image: " + ", ".join(
        f"{head} {row[key]:.2f}" for key, head in zip(SERVED, HEADS, strict=True))
        + f"; {row['batch']:.1f} images per run; {row['statuses']}")


def bench(args: argparse.Namespace, files: list[Path]) -> dict[str, Any]:
    from anime_detector.export.reference_models import reference_model

    model = reference_model(args.backbone)
    paths = [str(p) for p in files]
    images = [(p.name, p.read_bytes()) for p in files]
    threads = ["--threads", str(args.threads)] if args.threads else []
    server = service(model, ["--max-batch", str(MAX_BATCH),
                             "--max-wait-ms", str(args.max_wait_ms), *threads])
    loads = {}
    for key in args.routes:
        name, route = ROUTES[key]
        payloads = [encode_predict(server.url, n, d) if key == "v1" else
                    encode_infer(server.url, model.stem, n, d) for n, d in images]
        loads[name] = (route, payloads)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in loads}
    predict: list[dict[str, float]] = []
    try:
        for _, payloads in loads.values():
            run_load(server.url, payloads, args.clients, 3.0, 64)  # warm-up
        for round_ in range(args.rounds):
            predict.append(predict_round(model, paths))
            print(f"round {round_ + 1}: predict: {predict[-1]['img_per_s']:.2f} img/s, decode "
                  f"{predict[-1]['decode']:.2f} ms/image, infer {predict[-1]['infer']:.2f} "
                  "ms/image", flush=True)
            for name, (route, payloads) in loads.items():
                rounds[name].append(serve_round(server, route, payloads, args.clients,
                                                args.seconds))
                print(f"round {round_ + 1}: {_line(name, rounds[name][-1])}", flush=True)
    finally:
        server.stop()
    summary = {name: {key: median([r[key] for r in rows])
                      for key in ("img_per_s", "batch", *SERVED)}
               for name, rows in rounds.items()}
    predict_summary = {key: median([r[key] for r in predict])
                       for key in ("img_per_s", "decode", "infer")}
    return {"backbone": args.backbone, "model": str(model), "clients": args.clients,
            "rounds": args.rounds, "seconds": args.seconds, "images": len(files),
            "max_batch": MAX_BATCH, "max_wait_ms": args.max_wait_ms, "threads": args.threads,
            "predict": predict_summary, "predict_rounds": predict,
            "services": summary, "service_rounds": rounds}


def markdown(report: dict[str, Any]) -> str:
    predict = report["predict"]
    lines = [f"# Where a served image's time goes: {report['backbone']} ({machine_line()}; "
             f"{report['clients']} clients, {report['rounds']} interleaved rounds of "
             f"{report['seconds']:g} s, --max-batch {report['max_batch']}, --max-wait-ms "
             f"{report.get('max_wait_ms', 0):g}, "
             f"{report['images']} images)", "",
             "| service | img/s (median) | rounds | / predict | images per run "
             "| engine ms/image | CPU ms/image |", "|---|---:|---|---:|---:|---:|---:|"]
    for name, s in report["services"].items():
        each = ", ".join(f"{r['img_per_s']:.2f}" for r in report["service_rounds"][name])
        lines.append(f"| {name} | {s['img_per_s']:.2f} | {each} | "
                     f"{s['img_per_s'] / predict['img_per_s']:.0%} | {s['batch']:.1f} | "
                     f"{s['engine']:.2f} | {s['cpu']:.2f} |")
    each = ", ".join(f"{r['img_per_s']:.2f}" for r in report["predict_rounds"])
    lines += [f"| `predict` (in process) | {predict['img_per_s']:.2f} | {each} | 100% | "
              f"{report['max_batch']} | {predict['infer']:.2f} | |", "",
              "Milliseconds per image (one image per request) in each stage of a request on "
              "the server, the rest of its time in the app, its time in the app, the "
              "latency the client saw, and what lies outside the app (client minus server):",
              "", "| service | " + " | ".join(HEADS[:-2]) + " |",
              "|---|" + "---:|" * (len(HEADS) - 2)]
    for name, s in report["services"].items():
        lines.append(f"| {name} | " + " | ".join(f"{s[key]:.2f}" for key in SERVED[:-2])
                     + " |")
    lines.append(f"| `predict` (decode on one thread; runs of {report['max_batch']}) | | "
                 f"{predict['decode']:.2f} | | {predict['infer']:.2f} |" + " |" * 6)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenetv3small")
    add_load_options(parser)
    parser.add_argument("--routes", nargs="+", choices=sorted(ROUTES), default=["v1", "v2"])
    parser.add_argument("--max-wait-ms", type=float, default=0.0,
                        help="the server's --max-wait-ms (how long a batch waits to fill)")
    parser.add_argument("--threads", type=int, default=0,
                        help="the server's inference threads (default: serve's own)")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    files = image_files(args.images)
    report = bench(args, files)
    variant = f"-wait{args.max_wait_ms:g}ms" if args.max_wait_ms else ""
    variant += f"-threads{args.threads}" if args.threads else ""
    save(f"serve_breakdown-{args.backbone}{variant}", report, markdown(report))


if __name__ == "__main__":
    main()
