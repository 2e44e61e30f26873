"""The service on Ray Serve: its overhead beside the single-process service, a replica killed
under load, and requests spread over a two-node simulated cluster.

    python benchmarks/serve_ray.py [--backbone vgg19] [--clients 8] [--seconds 10]
        [--rounds 3] [--images examples/sample]

1. Overhead: ``serve MODEL`` and ``serve MODEL --ray`` (one replica with every CPU) run side
   by side; load rounds alternate between them (``--clients`` closed-loop clients, one image
   per request) and the medians are compared. Ray's idle daemons run during both. Where the
   CPU goes: every process's CPU seconds (``/proc``) over each service's rounds, per image
   served, and the mean batch size from each service's ``/metrics``.
2. Replica kill: ``--ray --replicas 2 --cpus-per-replica 1``; one replica process is killed
   with SIGKILL a third of the way into a load run. Counted: answers by status, connection
   failures, seconds until two replicas run again.
3. Two simulated nodes (``ray.cluster_utils.Cluster``, one CPU each), one replica each:
   images per replica from ``/metrics`` and every answer against ``predict``'s row.

Loopback only; bounded in count and time. Results: results/serve_ray.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import machine_line, median, save
from _loadgen import add_load_options, encode_predict, image_files, run_load, service

from helpers.server import free_port, process_cpu_s

MAX_REQUESTS = 5000


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """Every process on the machine: pid -> (short name, CPU seconds so far)."""
    seen: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            seen[int(entry.name)] = (_short_name(argv), process_cpu_s(int(entry.name)))
        except OSError:  # gone meanwhile
            continue
    return seen


def _short_name(argv: list[bytes]) -> str:
    """``ray::ServeReplica:app:ModelReplica`` -> ``ModelReplica``; a binary -> its file name;
    ``python -m anime_detector serve`` -> ``anime_detector serve``."""
    words = [w.decode(errors="replace") for w in argv if w]
    if not words:
        return "?"
    if words[0].startswith("ray::"):
        return words[0].split()[0].rsplit(":", 1)[-1].split(".")[0]  # no ".method" it runs
    if "-m" in words[:-1]:
        return " ".join(words[words.index("-m") + 1:][:2])
    script = next((w for w in words[1:] if w.endswith(".py")), words[0])
    return Path(script).name


def mean_batch(url: str) -> float:
    """Mean images per inference run so far, from the service's ``/metrics``."""
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    values = {line.split()[0]: float(line.split()[-1]) for line in text.splitlines()
              if line.startswith("anime_detector_batch_size_")}
    return values.get("anime_detector_batch_size_sum", 0.0) / max(
        1.0, values.get("anime_detector_batch_size_count", 0.0))


def overhead(model: Path, files: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"single process": [], "ray serve, 1 replica": []}
    p99: dict[str, list[float]] = {k: [] for k in rates}
    cpu: dict[str, dict[str, float]] = {k: {} for k in rates}
    served = dict.fromkeys(rates, 0)
    with (service(model, ["--max-batch", "8"]) as single,
          service(model, ["--ray", "--max-batch", "8"]) as scaled):
        for server in (single, scaled):
            payloads = [encode_predict(server.url, p.name, p.read_bytes()) for p in files]
            run_load(server.url, payloads, args.clients, 3.0, 64)  # warm-up
        for round_ in range(args.rounds):
            for name, server in (("single process", single), ("ray serve, 1 replica", scaled)):
                payloads = [encode_predict(server.url, p.name, p.read_bytes()) for p in files]
                start = cpu_seconds()
                load = run_load(server.url, payloads, args.clients, args.seconds, MAX_REQUESTS)
                for pid, (label, seconds) in cpu_seconds().items():
                    spent = seconds - start.get(pid, ("", seconds))[1]  # new: counted from here
                    cpu[name][label] = cpu[name].get(label, 0.0) + spent
                served[name] += load.ok
                rates[name].append(load.ok / load.wall_s)
                p99[name].append(1000 * load.percentile(99))
                print(f"round {round_ + 1}: {name}: {load.ok / load.wall_s:.2f} img/s, "
                      f"p99 {1000 * load.percentile(99):.0f} ms, {load.statuses}", flush=True)
        batches = {"single process": mean_batch(single.url),
                   "ray serve, 1 replica": mean_batch(scaled.url)}
    per_image = {name: {label: 1000 * spent / max(1, served[name])
                        for label, spent in sorted(cpu[name].items(), key=lambda kv: -kv[1])}
                 for name in rates}
    result: dict[str, Any] = {
        name: {"img_per_s": median(values), "rounds": values, "p99_ms": median(p99[name]),
               "mean_batch": batches[name],
               "cpu_ms_per_image": {label: ms for label, ms in per_image[name].items()
                                    if ms >= 0.5}}
        for name, values in rates.items()}
    result["ratio"] = (result["ray serve, 1 replica"]["img_per_s"]
                       / result["single process"]["img_per_s"])
    return result


def replica_pids() -> list[int]:
    """Processes of the model replicas (Ray names them ``ServeReplica:...:ModelReplica``)."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()
            if "ServeReplica" in line and "ModelReplica" in line]


def replica_kill(model: Path, files: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    with service(model, ["--ray", "--replicas", "2", "--cpus-per-replica", "1",
                         "--max-batch", "8"]) as server:
        payloads = [encode_predict(server.url, p.name, p.read_bytes()) for p in files]
        run_load(server.url, payloads, args.clients, 3.0, 32)  # warm-up
        before = replica_pids()
        victim = before[0]
        killed_at: list[float] = []

        def kill_later() -> None:
            time.sleep(args.seconds / 3)
            os.kill(victim, signal.SIGKILL)
            killed_at.append(time.monotonic())

        killer = threading.Thread(target=kill_later)
        killer.start()
        load = run_load(server.url, payloads, args.clients, args.seconds, MAX_REQUESTS)
        killer.join()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pids = replica_pids()
            if len(pids) == 2 and victim not in pids:
                break
            time.sleep(0.5)
        back_s = time.monotonic() - killed_at[0]
        after = run_load(server.url, payloads, args.clients, 5.0, 200)
    return {"statuses": load.statuses, "connection_failures": load.failures,
            "requests": sum(load.statuses.values()) + load.failures,
            "replicas_before": len(before), "replicas_after": len(replica_pids() or [0, 0]),
            "two_replicas_again_after_s": back_s, "after_statuses": after.statuses}


def two_nodes(model: Path, files: list[Path]) -> dict[str, Any]:
    import httpx
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster

    from anime_detector.detector import Detector
    from anime_detector.ray_support import ship_model
    from anime_detector.serve.config import ServeConfig
    from anime_detector.serve.ray_app import APP_NAME, ReplicaOptions, build_app

    expected = {p.name: item for p, item in zip(files, Detector.load(model).predict(files),
                                                strict=True)}
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    ray.init(address=nodes.address, logging_level=logging.WARNING, log_to_driver=False)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port}, proxy_location="HeadOnly")
        options = ReplicaOptions.make(replicas=2, cpus=1, max_batch=8, max_queue=256)
        serve.run(build_app(ship_model(model), ServeConfig(max_batch=8, max_queue=256), options),
                  name=APP_NAME, route_prefix="/")
        url = f"http://127.0.0.1:{port}"

        async def run() -> list[Any]:
            gate = asyncio.Semaphore(8)
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                async def one(path: Path) -> Any:
                    async with gate:
                        return path, await client.post("/v1/predict", files=[
                            ("file", (path.name, path.read_bytes()))])
                return await asyncio.gather(*(one(p) for p in files * 2))

        started = time.perf_counter()
        answers = asyncio.run(run())
        seconds = time.perf_counter() - started
        equal = sum(1 for path, a in answers if a.status_code == 200 and abs(
            a.json()["results"][0]["score"] - expected[path.name].score) <= 1e-5 and
            a.json()["results"][0]["label"] == expected[path.name].label)
        counts = {line.split('"')[1]: float(line.split()[-1]) for line in
                  httpx.get(url + "/metrics").text.splitlines()
                  if line.startswith("anime_detector_replica_images_total{")}
        nodes_seen = {r["node"] for r in (serve.get_deployment_handle(
            "ModelReplica", APP_NAME).process.remote().result() for _ in range(20))}
    finally:
        serve.shutdown()
        ray.shutdown()
        nodes.shutdown()
    return {"requests": len(answers), "equal_to_predict": equal, "per_replica": counts,
            "nodes": len(nodes_seen), "seconds": seconds}


def markdown(report: dict[str, Any]) -> str:
    o, k, t = report["overhead"], report["kill"], report["two_nodes"]
    single, scaled = o["single process"], o["ray serve, 1 replica"]
    return "\n".join([
        f"# The service on Ray Serve ({machine_line()}; {report['backbone']}, "
        f"{report['clients']} clients, {report['rounds']} alternating rounds of "
        f"{report['seconds']:g} s)", "",
        "| service | img/s (median) | rounds | p99 ms | mean batch | CPU ms per image, by "
        "process |", "|---|---:|---|---:|---:|---|",
        *(f"| {title} | {row['img_per_s']:.2f} | "
          f"{', '.join(f'{v:.2f}' for v in row['rounds'])} | {row['p99_ms']:.0f} | "
          f"{row['mean_batch']:.2f} | " + ", ".join(
              f"{label} {ms:.0f}" for label, ms in row["cpu_ms_per_image"].items()) + " |"
          for title, row in (("single process", single), ("Ray Serve, 1 replica", scaled))),
        "", f"Ray Serve / single process: {o['ratio']:.0%} (target >= 80%).", "",
        f"Replica killed under load ({k['requests']} requests, 2 replicas of 1 CPU): answers "
        f"{k['statuses']}, {k['connection_failures']} connection failures; two replicas again "
        f"{k['two_replicas_again_after_s']:.0f} s after the kill; then {k['after_statuses']}.",
        "",
        f"Two simulated nodes, one replica each: {t['requests']} requests in "
        f"{t['seconds']:.1f} s, {t['equal_to_predict']} equal to predict's row, images per "
        f"replica {t['per_replica']}, replicas on {t['nodes']} nodes."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="vgg19")
    add_load_options(parser)
    args = parser.parse_args()
    from anime_detector.export.reference_models import reference_model
    model = reference_model(args.backbone)
    files = image_files(args.images)
    report: dict[str, Any] = {"backbone": args.backbone, "clients": args.clients,
                              "rounds": args.rounds, "seconds": args.seconds}
    report["overhead"] = overhead(model, files, args)
    report["kill"] = replica_kill(model, files, args)
    report["two_nodes"] = two_nodes(model, files[:16])
    save("serve_ray", report, markdown(report))


if __name__ == "__main__":
    main()
