"""This service beside its peer: ``serve`` on ``/v1/predict`` and on the Open Inference
Protocol's ``/v2/models/NAME/infer``, and the BentoML service a Python user would write
(``_bento_service.py``: the same ONNX model and preprocessing, BentoML's adaptive batching).

    python benchmarks/serve_peers.py [--backbones vgg19 mobilenetv3small] [--clients 8]
        [--seconds 10] [--rounds 3] [--images examples/sample]
        [--bentoml-python PATH/TO/python]

For each backbone (its random-weight reference model: speed does not depend on the weights)
both services run side by side and get the same load: ``--clients`` closed-loop clients, one
image per request, the same images in the same order, in interleaved rounds (v1, v2,
BentoML; v1, v2, BentoML; ...). Each round's images/s, p50 and p99 latency and CPU per image
(the CPU seconds of the service's whole process tree, from ``/proc``, per image answered)
are recorded; the table has the medians over rounds. ``predict``'s own job on the same
images (run again and again for about 3 s) runs after each round of ``serve`` (both services idle)
for the ratio.

Requests: v1 is one multipart ``file`` part; v2 is Triton's binary form (a JSON header, the
image as a BYTES element, the outputs in JSON); BentoML gets one multipart ``images`` part.

BentoML is benchmark-only: it is in no extra and this script installs nothing. It runs
BentoML with ``--bentoml-python`` (default: this Python; a separate environment keeps
BentoML's dependencies out of the project's), which must import ``bentoml``, ``numpy``,
``PIL`` and ``onnxruntime``; ``anime_detector`` is put on its path from this checkout.
Without BentoML there, one line says so and the two routes are measured alone. Loopback
only; bounded in count and time. Results: results/serve_peers.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import machine_line, median, predict_rate, save
from _loadgen import (
    add_load_options,
    encode_infer,
    encode_predict,
    image_files,
    run_load,
    service,
)

from helpers.server import free_port, process_cpu_s, wait_ready

HERE = Path(__file__).resolve().parent

MAX_REQUESTS = 5000
MAX_BATCH = 8


def encode_bento(url: str, name: str, data: bytes) -> bytes:
    """One ``POST /classify`` to the BentoML service, one multipart ``images`` part."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="images"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /classify HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by ``root`` and every process under it (from ``/proc``)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:  # gone meanwhile
                continue
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    total = 0.0
    for pid in tree:
        try:
            total += process_cpu_s(pid)
        except OSError:
            continue
    return total


def bentoml_missing(python: str) -> str | None:
    """Why BentoML cannot run with ``python`` (None: it can)."""
    probe = subprocess.run([python, "-c", "import bentoml, numpy, PIL, onnxruntime"],
                           capture_output=True, text=True)
    if probe.returncode == 0:
        return None
    last = (probe.stderr.strip().splitlines() or ["cannot start it"])[-1]
    return f"{python}: {last}"


class BentoServer:
    """``bentoml serve _bento_service:AnimeDetector`` on a free loopback port."""

    def __init__(self, model: Path, python: str) -> None:
        import anime_detector

        self.url = f"http://127.0.0.1:{free_port()}"
        self._tree = tempfile.mkdtemp(prefix="peer-path-")  # anime_detector, from here
        os.symlink(Path(anime_detector.__file__).parent, Path(self._tree, "anime_detector"))
        env = {**os.environ, "ANIME_DETECTOR_PEER_MODEL": str(model),
               "ANIME_DETECTOR_PEER_MAX_BATCH": str(MAX_BATCH),
               "PYTHONPATH": os.pathsep.join([self._tree, str(HERE)]),
               "BENTOML_DO_NOT_TRACK": "True"}
        self.proc = subprocess.Popen(
            [python, "-m", "bentoml", "serve", "_bento_service:AnimeDetector", "--host",
             "127.0.0.1", "--port", self.url.rsplit(":", 1)[1]], cwd=HERE, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_ready(self.url, 180, proc=self.proc)
        except RuntimeError:
            self.stop()
            raise

    def cpu_s(self) -> float:
        return tree_cpu_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its session: bentoml and its workers
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self._tree, ignore_errors=True)


def bench_backbone(backbone: str, files: list[Path], args: argparse.Namespace,
                   bento_python: str | None) -> dict[str, Any]:
    from anime_detector.detector import Detector
    from anime_detector.export.reference_models import reference_model

    model = reference_model(backbone)
    paths = [str(p) for p in files]
    ours = service(model, ["--max-batch", str(MAX_BATCH)])
    peer = BentoServer(model, bento_python) if bento_python else None
    images = [(p.name, p.read_bytes()) for p in files]
    services: dict[str, tuple[str, list[bytes], Any]] = {
        "serve /v1/predict": (ours.url, [encode_predict(ours.url, n, d) for n, d in images],
                              ours.cpu_s),
        "serve /v2 infer": (ours.url, [encode_infer(ours.url, model.stem, n, d)
                                       for n, d in images], ours.cpu_s)}
    if peer is not None:
        services["BentoML, adaptive batching"] = (
            peer.url, [encode_bento(peer.url, n, d) for n, d in images], peer.cpu_s)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in services}
    predict: list[float] = []
    try:
        for url, payloads, _ in services.values():
            run_load(url, payloads, args.clients, 3.0, 64)  # warm-up
        for round_ in range(args.rounds):
            for name, (url, payloads, cpu) in services.items():
                before = cpu()
                load = run_load(url, payloads, args.clients, args.seconds, MAX_REQUESTS)
                spent = cpu() - before
                row = {"img_per_s": load.ok / load.wall_s, "statuses": load.statuses,
                       "failures": load.failures, "p50_ms": 1000 * load.percentile(50),
                       "p99_ms": 1000 * load.percentile(99),
                       "cpu_ms_per_image": 1000 * spent / max(1, load.ok)}
                rounds[name].append(row)
                print(f"{backbone} round {round_ + 1}: {name}: {row['img_per_s']:.2f} img/s, "
                      f"p50 {row['p50_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms, "
                      f"{row['cpu_ms_per_image']:.0f} CPU ms/image, {load.statuses}",
                      flush=True)
            detector = Detector.load(model)  # a fresh one each round, as `predict` opens it
            predict_rate(detector, paths[:8])  # warm-up
            predict.append(predict_rate(detector, paths, seconds=3.0))
    finally:
        ours.stop()
        if peer is not None:
            peer.stop()
    summary = {name: {key: median([r[key] for r in rows])
                      for key in ("img_per_s", "p50_ms", "p99_ms", "cpu_ms_per_image")}
               for name, rows in rounds.items()}
    return {"backbone": backbone, "model": str(model), "predict_img_per_s": median(predict),
            "predict_rounds": predict, "services": summary, "rounds": rounds}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# This service beside BentoML ({machine_line()}; {report['clients']} clients, "
             f"{report['rounds']} interleaved rounds of {report['seconds']:g} s, "
             f"--max-batch {MAX_BATCH})", ""]
    if report.get("bentoml_missing"):
        lines += [f"BentoML not measured: {report['bentoml_missing']}", ""]
    lines += ["| backbone | service | img/s (median) | rounds | / predict | p50 ms | p99 ms "
              "| CPU ms per image |", "|---|---|---:|---|---:|---:|---:|---:|"]
    for result in report["backbones"]:
        for name, s in result["services"].items():
            each = ", ".join(f"{r['img_per_s']:.2f}" for r in result["rounds"][name])
            lines.append(f"| {result['backbone']} | {name} | {s['img_per_s']:.2f} | {each} | "
                         f"{s['img_per_s'] / result['predict_img_per_s']:.0%} | "
                         f"{s['p50_ms']:.0f} | {s['p99_ms']:.0f} | "
                         f"{s['cpu_ms_per_image']:.0f} |")
        lines.append(f"| {result['backbone']} | `predict` (in process) | "
                     f"{result['predict_img_per_s']:.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in result['predict_rounds'])} | 100% "
                     "| | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["vgg19", "mobilenetv3small"])
    add_load_options(parser)
    parser.add_argument("--bentoml-python", default=sys.executable,
                        help="A Python that imports bentoml (default: this one).")
    args = parser.parse_args()
    files = image_files(args.images)
    missing = bentoml_missing(args.bentoml_python)
    if missing:
        print(f"BentoML skipped (not installed for {missing}); measuring this service alone",
              flush=True)
    report: dict[str, Any] = {"clients": args.clients, "rounds": args.rounds,
                              "seconds": args.seconds, "bentoml_missing": missing,
                              "images": len(files)}
    report["backbones"] = [bench_backbone(b, files, args,
                                          None if missing else args.bentoml_python)
                           for b in args.backbones]
    save("serve_peers", report, markdown(report))


if __name__ == "__main__":
    main()
