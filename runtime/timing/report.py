"""Bench reports: the machine header, speed-up columns, the recommendation, the table."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

from anime_detector.system import available_cpus, cpu_model, machine, relevant_flags

__all__ = ["add_recommendation", "add_speedups", "format_table", "machine_info"]


def machine_info(threads: int | None) -> dict[str, Any]:
    """CPU model and the flags that change int8/bf16 speed, threads, library versions."""
    info: dict[str, Any] = {
        "cpu": cpu_model(), "arch": machine(), "cpu_flags": relevant_flags(),
        "cpus_available": available_cpus(), "threads": threads or available_cpus(),
        "python": platform.python_version(), "platform": platform.platform(),
    }
    for module in ("onnxruntime", "openvino", "ncnn", "tensorflow"):
        if module in sys.modules:
            info[module] = str(getattr(sys.modules[module], "__version__", "?"))
    return info


def add_speedups(results: list[dict[str, Any]]) -> None:
    """``speedup_vs_keras`` (Keras ``model.predict``) and ``speedup_vs_first`` (the first
    engine, the reference of the fidelity column) at the same batch size."""
    for key, pick in (("speedup_vs_keras", lambda r: r["engine"] == "keras-predict"),
                      ("speedup_vs_first", lambda r: True)):
        base: dict[int, float] = {}
        for row in results:
            if pick(row) and row["batch_size"] not in base and row["p50_ms"]:
                base[row["batch_size"]] = row["p50_ms"]
        for row in results:
            ref = base.get(row["batch_size"])
            row[key] = ref / row["p50_ms"] if ref and row["p50_ms"] else None


def add_recommendation(report: dict[str, Any], max_dp: float) -> None:
    """The fastest engine at the smallest batch size whose max |dp| is within ``max_dp``."""
    rows = [r for r in report["results"] if r["p50_ms"] and r["options"]]
    if not rows:
        report["recommendation"] = None
        return
    smallest = min(r["batch_size"] for r in rows)
    ok = [r for r in rows if r["batch_size"] == smallest
          and r["max_abs_dp"] is not None and r["max_abs_dp"] <= max_dp]
    if not ok:
        report["recommendation"] = None
        return
    best = _worth_its_cost(ok, min(ok, key=lambda r: r["p50_ms"]))
    report["recommendation"] = {
        "engine": best["engine"], "precision": best["precision"], "model": best["model"],
        "batch_size": smallest, "p50_ms": best["p50_ms"], "max_abs_dp": best["max_abs_dp"],
        "speedup_vs_first": best["speedup_vs_first"], "max_dp_bound": max_dp,
        "command": f"anime-detector predict {best['model']} IMAGES... {best['options']}",
    }


MIN_GAIN = 1.10  # a reduced precision must beat the fastest fp32 row by this to be chosen


def _worth_its_cost(rows: list[dict[str, Any]], fastest: dict[str, Any]) -> dict[str, Any]:
    """``fastest``, unless it is a reduced precision (int8, fp16, bf16) that is not
    :data:`MIN_GAIN` times faster than the fastest fp32 row: then that fp32 row, since the
    lower precision costs accuracy and buys (almost) nothing on this CPU."""
    full = [r for r in rows if r["precision"] in ("fp32", "tf32")]
    if fastest["precision"] in ("fp32", "tf32") or not full:
        return fastest
    best_full = min(full, key=lambda r: r["p50_ms"])
    return fastest if best_full["p50_ms"] >= MIN_GAIN * fastest["p50_ms"] else best_full


def _num(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    return "-" if value is None else format(value, fmt)


def format_table(report: dict[str, Any]) -> str:
    """The report as an aligned Markdown table, then the machine and the recommendation."""
    head = ("| engine | precision | device | batch | p50 ms | p90 ms | p99 ms | img/s | "
            "cold start ms | size MB | peak RSS MB | max abs dp | agree | vs first | vs keras |")
    lines = [head, "|" + "---|" * 15]
    for r in report["results"]:
        provider = (r["provider"] or "-").replace("ExecutionProvider", "")
        agree = "-" if r["label_agreement"] is None else f"{r['label_agreement']:.1%}"
        lines.append(
            f"| {r['engine']} {Path(r['model']).name} | {r['precision']} | {provider} | "
            f"{r['batch_size']} | {_num(r, 'p50_ms', '.1f')} | {_num(r, 'p90_ms', '.1f')} | "
            f"{_num(r, 'p99_ms', '.1f')} | {_num(r, 'images_per_s', '.2f')} | "
            f"{_num(r, 'cold_start_ms', '.0f')} | {_num(r, 'size_mb', '.1f')} | "
            f"{_num(r, 'peak_rss_mb', '.0f')} | {_num(r, 'max_abs_dp', '.1e')} | {agree} | "
            f"{_num(r, 'speedup_vs_first', '.2f')} | {_num(r, 'speedup_vs_keras', '.2f')} |")
    errors = [f"error: {r['engine']} {Path(r['model']).name}: {r['error']}"
              for r in report["results"] if r.get("error")]
    m = report["machine"]
    versions = ", ".join(f"{k} {m[k]}" for k in ("onnxruntime", "openvino", "ncnn", "tensorflow")
                         if k in m)
    lines += [""] + sorted(set(errors)) + [
        f"machine: {m['cpu']}, {m.get('arch', '?')} [{' '.join(m['cpu_flags']) or 'none'}], "
        f"{m['threads']} threads, {versions}; fidelity vs the first row on "
        f"{report['fidelity_on']}"]
    lines += [f"warning: {note}" for note in report.get("notes", [])]
    rec = report.get("recommendation")
    if rec:
        lines.append(f"recommended (fastest within max |dp| <= {rec['max_dp_bound']:g}): "
                     f"{rec['engine']} {rec['precision']}, {rec['p50_ms']:.1f} ms at batch "
                     f"{rec['batch_size']} ({_num(rec, 'speedup_vs_first', '.2f')}x the first "
                     f"row): {rec['command']}")
    return "\n".join(lines)
