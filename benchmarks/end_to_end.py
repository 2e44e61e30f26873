"""End to end vs raw session: does decoding keep up with inference?

    python benchmarks/end_to_end.py [--model M.onnx|DIR] [--engine E] [--precision P]
                                    [--data examples/sample] [--repeat 2]

Times ``Detector.predict_iter`` over real image files (decode + preprocess on
threads, overlapped with inference) against ``Detector.run`` on the same,
already preprocessed batches. Rounds alternate (raw, end-to-end, ...); medians
reported. Target: end-to-end >= 90% of raw throughput.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import matmul_gflops, raw_vs_predict, save


def main() -> None:
    from anime_detector import Detector
    from anime_detector.graphs.reference import cached_reference_model
    from anime_detector.image_paths import expand_inputs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=Path("examples/sample"))
    parser.add_argument("--repeat", type=int, default=2, help="pass over the folder N times")
    parser.add_argument("--rounds", type=int, default=7,
                        help="alternating rounds; fewer than 7 swing by +-7%% on a shared host")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--precision", default=None)
    args = parser.parse_args()
    model = args.model or cached_reference_model()
    det = Detector.load(model, device="cpu", engine=args.engine, precision=args.precision)
    paths = expand_inputs([str(args.data)], recursive=True) * args.repeat
    probe = matmul_gflops()
    measured = raw_vs_predict(det, paths, args.batch_size, args.rounds)
    raw_ips, e2e_ips = measured["raw_images_per_s"], measured["end_to_end_images_per_s"]
    info = det.info
    report = {"model": str(model), "engine": info.to_dict(), **measured,
              "matmul_gflops_before": probe, "matmul_gflops_after": matmul_gflops()}
    md = "\n".join([
        f"| {len(paths)} real images ({args.data}), batch {args.batch_size}, {info.engine} "
        f"{info.precision} | images/s |",
        "|---|---|",
        f"| raw session on preprocessed batches | {raw_ips:.2f} |",
        f"| predict end to end (decode overlapped) | {e2e_ips:.2f} |",
        "",
        f"end-to-end / raw = {e2e_ips / raw_ips:.1%} (target >= 90%)",
    ])
    save("end_to_end", report, md)


if __name__ == "__main__":
    main()
