"""Short human-readable summaries printed at the end of commands."""

from __future__ import annotations

from typing import Any

__all__ = ["format_demo_summary", "format_eval", "format_metrics", "format_train_summary"]


def format_metrics(metrics: dict[str, Any]) -> str:
    """Accuracy, per-class P/R/F1 and the confusion matrix as aligned text."""
    lines = [f"accuracy {metrics['accuracy']:.4f} on {metrics['n']} images"
             + (f", ROC-AUC {metrics['roc_auc']:.4f}" if metrics.get("roc_auc") is not None
                else "")]
    lines.append(f"{'class':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for name, row in metrics["per_class"].items():
        lines.append(f"{name:<12}{row['precision']:>10.4f}{row['recall']:>10.4f}"
                     f"{row['f1']:>10.4f}{row['support']:>9d}")
    labels = metrics["confusion_matrix"]["labels"]
    lines.append("confusion (rows = true, cols = predicted): " + " ".join(labels))
    for name, row in zip(labels, metrics["confusion_matrix"]["rows_true_cols_pred"],
                         strict=True):
        lines.append(f"  {name:<12}" + "".join(f"{v:>8d}" for v in row))
    return "\n".join(lines)


def format_train_summary(result: Any) -> str:
    """What ``train`` did, where it wrote, how it scored on validation."""
    m = result.metrics
    secs = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    return "\n".join([
        f"run folder: {result.out_dir}",
        f"images: {m['images_used']} used ({m['train_images']} train / {m['val_images']} val "
        f"listed), {m['images_skipped']} skipped",
        f"best epoch: {result.best_epoch}; feature cache: {result.cache_hits} hits, "
        f"{result.cache_misses} misses; time: {secs}",
        ("validation: " if m.get("evaluated_on", "validation") == "validation" else
         "TRAINING-SET figures (no validation images: --val-split 0), not a held-out "
         "estimate: ") + format_metrics(m),
    ])


def format_eval(reports: list[dict[str, Any]], comparison: dict[str, Any] | None) -> str:
    """One block per model report, then the side-by-side comparison if any."""
    blocks = []
    for report in reports:
        lines = [f"model: {report['model']} (threshold {report['threshold']})",
                 format_metrics(report)]
        if report["unreadable"]:
            lines.append(f"unreadable ({len(report['unreadable'])}):")
            lines += [f"  {u['path']}: {u['error']}" for u in report["unreadable"]]
        lines.append(f"misclassified ({len(report['misclassified'])}):")
        lines += [f"  {m['true']:>9} -> {m['predicted']:<9} p(anime)={m['score']:.4f}  {m['path']}"
                  for m in report["misclassified"]]
        blocks.append("\n".join(lines))
    if comparison:
        a, b = comparison["models"]
        blocks.append("\n".join([
            f"{'':<10}{'accuracy':>10}  model",
            f"{'first':<10}{comparison['accuracy'][0]:>10.4f}  {a}",
            f"{'second':<10}{comparison['accuracy'][1]:>10.4f}  {b}",
            f"label agreement {comparison['label_agreement']:.1%} on {comparison['images']} "
            f"images, max |dp(anime)| {comparison['max_abs_diff']:.2e}",
        ]))
    return "\n\n".join(blocks)


def format_demo_summary(summary: dict[str, Any]) -> str:
    """What ``demo`` wrote and how the model did, with a loud note for a random backbone."""
    lines = [f"artifacts in {summary['out']}/ (train/, model.onnx, annotated/, "
             "predictions.jsonl, eval.json, bench.json)",
             f"backbone weights: {summary['weights']}"
             + ("  <- random backbone: SMOKE RUN, accuracy is meaningless"
                if summary["random_backbone"] else ""),
             f"validation accuracy (held-out split): {summary['val_accuracy']:.3f}",
             *summary["export"],
             f"eval on {summary['keras_vs_onnx']['images']} images: onnx accuracy "
             f"{summary['eval_onnx_accuracy']:.3f}; keras vs onnx label agreement "
             f"{summary['keras_vs_onnx']['label_agreement']:.1%}, max |dp| "
             f"{summary['keras_vs_onnx']['max_abs_diff']:.2e}"]
    lines += [f"  {p.get('label', 'ERROR'):<10} {p.get('score', 0):.3f}  {p['path']}"
              for p in summary["predictions"]]
    lines.append(summary["bench"])
    return "\n".join(lines)
