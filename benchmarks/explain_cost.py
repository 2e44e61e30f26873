"""Cost of ``predict --explain`` vs ``predict`` at batch 1 on the VGG19-head graph.

    python benchmarks/explain_cost.py [--model M.onnx] [--image IMG] [--runs 50] [--warmup 5]

Default model: the bench reference graph (random VGG19 weights, the layers and head of
an export) with the Grad-CAM outputs an export adds; ``--model`` takes a real export.
One onnxruntime session serves both, and the calls alternate (predict, explain,
predict, ...), so both see the same machine state. Two levels are timed:

- ``model``: ``session.run(["output"])`` vs ``session.run([output, feature_map,
  cam_weights])`` plus the numpy Grad-CAM (the forward pass is shared);
- ``end_to_end``: decode + preprocess + the above, and for explain also the PNG
  rendering and atomic write of the heatmap (``predict`` writes nothing).

Target: explain within 15% of predict at batch 1. Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from _common import median, save, timed

from anime_detector.drawing.heatmap_png import write_heatmap_png
from anime_detector.engines.onnxruntime import open_session
from anime_detector.explain.heatmaps import explain_batch
from anime_detector.preprocessing import load_image, preprocess


def _model(path: Path | None, workdir: Path) -> Path:
    if path is not None:
        return path
    import onnx

    from anime_detector.graphs.reference import build_reference_graph

    out = workdir / "vgg19-explain.onnx"
    onnx.save(build_reference_graph(explain=True), str(out))
    return out


SAMPLE_IMAGE = (Path(__file__).resolve().parent.parent / "examples" / "sample" / "anime"
                / "renpy-thequestion-sylvie-green-giggle-lecturehall.jpg")


def _image(path: Path | None, workdir: Path) -> Path:
    if path is not None:
        return path  # e.g. a 640x480 PNG of random noise: the worst case for PNG writing
    return SAMPLE_IMAGE  # real art from the shipped sample set


def _calls(session: Any, image: Path, png: Path) -> dict[str, Any]:
    from anime_detector.detector import Prediction

    batch = preprocess(image)[None]
    fake = Prediction("anime", 0.5, {"anime": 0.5, "not_anime": 0.5}, str(image))

    def predict_e2e() -> None:
        session.run(["output"], {"input": preprocess(image)[None]})

    def explain_e2e() -> None:
        _, heat = explain_batch(session, preprocess(image)[None])
        write_heatmap_png(load_image(image), fake, heat[0], png)

    return {
        "model": (lambda: session.run(["output"], {"input": batch}),
                  lambda: explain_batch(session, batch)),
        "end_to_end": (predict_e2e, explain_e2e),
    }


def main() -> None:
    from anime_detector.system import cpu_summary

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--image", type=Path)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--name", default="explain_cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        session = open_session(_model(args.model, work), device="cpu", threads=args.threads)
        calls = _calls(session, _image(args.image, work), work / "heat.png")
        rows = {}
        for level, (plain, explained) in calls.items():
            for _ in range(args.warmup):
                plain(), explained()
            times: dict[str, list[float]] = {"predict": [], "explain": []}
            for _ in range(args.runs):
                times["predict"].append(timed(plain))
                times["explain"].append(timed(explained))
            p, e = median(times["predict"]), median(times["explain"])
            rows[level] = {"predict_ms": p * 1e3, "explain_ms": e * 1e3,
                           "overhead": e / p - 1.0}
    report = {"model": str(args.model or "reference graph (random weights) + explain outputs"),
              "runs": args.runs, "warmup": args.warmup, "threads": args.threads,
              "cpu": cpu_summary(), "results": rows}
    lines = ["| level | predict p50 (ms) | predict --explain p50 (ms) | overhead |",
             "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['predict_ms']:.1f} | {v['explain_ms']:.1f} | {v['overhead']:+.1%} |"
              for k, v in rows.items()]
    save(args.name, report, "\n".join(lines))


if __name__ == "__main__":
    main()
