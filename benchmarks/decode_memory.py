"""Peak memory of ``predict`` on one image in each pixel mode, at the pixel limit.

    python benchmarks/decode_memory.py [--model M.onnx] [--side 9459] [--only NAME ...]

Writes each mode file of ``tests/helpers/mode_images.py`` (every mode Pillow decodes to:
1-bit, grey, grey+alpha, palette with and without transparency, RGB, RGBA, 16-bit grey,
32-bit integer and float, CMYK, LAB, and multi-frame GIF, APNG and TIFF) at SIDE x SIDE,
by default the largest square within the default ``--max-pixels``: small files (flat
colour) that decode large, "mode bombs". Then runs ``anime-detector predict MODEL FILE`` in
a fresh process per file and reads that process's peak RSS (``ru_maxrss``, from
``wait4``), the median of ``--repeat`` runs. A file that predict's default decode budget
refuses (one RGB image at the pixel limit: WebP and AVIF, whose decoders hold more) is
refused from its header; it is run again with ``--max-decode-mb`` raised to its estimate.
Linux starts a child's peak at its parent's (fork, exec), so the files are written by
another process and this one stays small (its own peak is in the report). Runs on a small
RGB image first give what the model and the runtime take alone. Memory, not time: other
work on the machine does not change it. The model defaults to the random-weight VGG19
reference model (cached; building it needs the [train] extra). Results:
results/decode_memory.{json,md}.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import machine_line, predict_command, save

from helpers.mode_images import MODE_FILES, write_mode_file

MB = 2**20


def write_files(folder: Path, side: int, names: list[str]) -> dict[str, Path]:
    """The mode files at ``side`` in ``folder`` (kept: later runs reuse them), written by a
    child process so this one never holds a full-size image."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = [name for name in names if not (folder / name).exists()]
    if missing:
        subprocess.run([sys.executable, __file__, "--write", str(folder), "--side", str(side),
                        "--only", *missing], check=True)
    return {name: folder / name for name in names}


def peak_rss(command: list[str], env: dict[str, str]) -> tuple[int, int]:
    """(exit code, peak RSS in bytes) of ``command`` run to its end."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env)
    assert proc.stderr is not None
    proc.stderr.read()  # a failing image writes one line; never let the pipe fill
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss * 1024  # Linux: kilobytes


def median_peak(command: list[str], env: dict[str, str], repeat: int) -> tuple[int, int, list[int]]:
    """(exit code, median peak RSS, every peak) of ``repeat`` runs of ``command``: the
    runtime's own peak varies by tens of MB from run to run (its arena, its threads)."""
    runs = [peak_rss(command, env) for _ in range(repeat)]
    peaks = [peak for _, peak in runs]
    return runs[0][0], int(statistics.median(peaks)), peaks


def measure(model: Path, files: dict[str, Path], env: dict[str, str], repeat: int
            ) -> dict[str, Any]:
    from PIL import Image

    from anime_detector.image_modes import decoded_bytes
    from anime_detector.preprocessing import decode_cost, default_decode_bytes

    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.png"
        Image.new("RGB", (64, 64), (200, 30, 60)).save(small)
        _, baseline, baselines = median_peak(predict_command(model, small), env, repeat)
    rows = []
    for name, path in files.items():
        with Image.open(path) as image:
            mode, size = image.mode, image.size
            decoded, estimate = decoded_bytes(image), decode_cost(image)
        flags = [[]]
        if estimate > default_decode_bytes():  # refused by default; measured with the flag
            flags.append(["--max-decode-mb", str(math.ceil(estimate / MB))])
        for extra in flags:
            command = [*predict_command(model, path), *extra]
            code, peak, peaks = median_peak(command, env, repeat)
            rows.append({"file": name, "flags": " ".join(extra), "mode": mode,
                         "size": list(size), "exit_code": code,
                         "file_bytes": path.stat().st_size, "decoded_bytes": decoded,
                         "estimate_bytes": estimate, "peak_rss_bytes": peak, "peaks": peaks,
                         "above_baseline_bytes": peak - baseline,
                         "bytes_per_pixel": (peak - baseline) / (size[0] * size[1])})
            print(f"{name:26s} {mode:5s} {' '.join(extra):22s} exit {code} peak "
                  f"{peak / MB:7.0f} MB", flush=True)
    return {"repeat": repeat, "baseline_rss_bytes": baseline, "baselines": baselines,
            "default_decode_bytes": default_decode_bytes(), "rows": rows}


def markdown(report: dict[str, Any], model: str) -> str:
    side = report["side"]
    budget = report["default_decode_bytes"] / MB
    lines = [f"One `predict` of one {side}x{side} image ({side * side / 1e6:.1f} megapixels) "
             f"per mode, in a fresh process; model `{model}`; median peak RSS of "
             f"{report['repeat']} runs. Default limits (`--max-decode-mb` {budget:.0f}: one "
             "RGB image at the pixel limit), and a file refused by them (exit 1) again with "
             "the flag raised to its estimate.", "",
             "| file | mode | on disk | decoded (header) | estimate | peak RSS | above the "
             "baseline | bytes/pixel |", "|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        flags = f" `{row['flags']}`" if row.get("flags") else ""
        failed = "" if row["exit_code"] == 0 else f" (exit {row['exit_code']})"
        lines.append(
            f"| {row['file']}{flags}{failed} | {row['mode']} | "
            f"{row['file_bytes'] / 1024:.0f} KB | {row['decoded_bytes'] / MB:.0f} MB | "
            f"{row['estimate_bytes'] / MB:.0f} MB | {row['peak_rss_bytes'] / MB:.0f} MB | "
            f"{row['above_baseline_bytes'] / MB:.0f} MB | {row['bytes_per_pixel']:.2f} |")
    by_default = [r for r in report["rows"] if not r.get("flags")]
    worst = max(by_default, key=lambda r: r["peak_rss_bytes"])
    raised = [r for r in report["rows"] if r.get("flags")]
    spread = [b / MB for b in report["baselines"]]
    lines += ["", f"Baseline (a 64x64 RGB image): {report['baseline_rss_bytes'] / MB:.0f} MB "
              f"(runs: {min(spread):.0f} to {max(spread):.0f} MB). Highest within the default "
              f"limits: {worst['file']}, {worst['peak_rss_bytes'] / MB:.0f} MB"
              + "".join(f"; {r['file']} with `{r['flags']}`: "
                        f"{r['peak_rss_bytes'] / MB:.0f} MB" for r in raised) + ".",
              "Estimate: what `decode_cost` reads from the header and `predict` and the "
              "service charge to `--max-decode-mb`.", machine_line()]
    return "\n".join(lines)


def main() -> None:
    from anime_detector.preprocessing import MAX_IMAGE_PIXELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="default: the VGG19 reference model")
    parser.add_argument("--side", type=int, default=math.isqrt(MAX_IMAGE_PIXELS))
    parser.add_argument("--only", nargs="*", choices=list(MODE_FILES), default=None)
    parser.add_argument("--work", type=Path, help="keep the mode files here (default: a "
                        "temporary folder)")
    parser.add_argument("--pythonpath", help="run predict with this PYTHONPATH first (an "
                        "other checkout's package, to compare)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per file (median)")
    parser.add_argument("--no-save", action="store_true", help="print only")
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)  # the writing child
    args = parser.parse_args()
    names = args.only or list(MODE_FILES)
    if args.write:
        for name in names:
            write_mode_file(args.write, name, (args.side, args.side))
        return
    if args.model is None:
        from anime_detector.export.reference_models import reference_model

        args.model = reference_model("vgg19")
    env = {**os.environ}
    if args.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.pythonpath,
                                                          env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files((args.work or Path(tmp)) / str(args.side), args.side, names)
        report = {"side": args.side, "model": args.model.name,
                  **measure(args.model, files, env, args.repeat)}
    report["own_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    text = markdown(report, args.model.name)
    if args.no_save:
        print(text)
    else:
        save("decode_memory", report, text)


if __name__ == "__main__":
    main()
