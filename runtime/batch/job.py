"""The ``batch`` job: expand inputs, skip done ones, run the pipeline, save, sort, summarise."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anime_detector.batch.pipeline import PipelineConfig, build_dataset, result_rows
from anime_detector.batch.results import ResultStore, result_format
from anime_detector.batch.sources import Source, expand_sources, is_uri
from anime_detector.choices import SortMode
from anime_detector.detector import Detector
from anime_detector.errors import AnimeDetectorError, InputError
from anime_detector.jobs.predict_files import NO_IMAGES
from anime_detector.jobs.sorting import Sorter
from anime_detector.prediction import Pipeline
from anime_detector.ray_support import import_ray, ray_session, ship_model

__all__ = ["BatchFailed", "BatchInterrupted", "BatchSummary", "run_batch"]


@dataclass
class BatchSummary:
    """What a ``batch`` run did. ``nodes`` counts rows per Ray node id."""

    out: Path
    images: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    actors: int = 0
    nodes: dict[str, int] = field(default_factory=dict)
    sorted: int = 0
    sort_errors: list[str] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        text = [f"{self.images} images, {self.failed} failed, {self.skipped} skipped (resume), "
                f"{self.images_per_s:.1f} images/s, {self.actors} actors on "
                f"{len(self.nodes)} node(s) -> {self.out}"]
        if self.sorted or self.sort_errors:
            text.append(f"sorted {self.sorted} images, {len(self.sort_errors)} could not be "
                        "sorted")
        return text


class BatchInterrupted(AnimeDetectorError):
    """Ctrl-C: what was finished is checkpointed; ``--resume`` continues."""

    def __init__(self, saved: int, partial: Path) -> None:
        super().__init__(f"interrupted; {saved} finished rows kept in {partial}, rerun with "
                         "--resume to continue")


class BatchFailed(AnimeDetectorError):
    """Ray could not run the job (an actor failed to start, a node was lost, ...)."""


def _ray_failure(exc: Exception) -> BatchFailed:
    """Ray's multi-line error as one line: its last line names the root cause."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return BatchFailed(f"Ray job failed: {lines[-1] if lines else type(exc).__name__}")


@contextlib.contextmanager
def _ray_data(address: str | None, progress: bool) -> Iterator[Any]:
    """A Ray session (:func:`~anime_detector.ray_support.ray_session`) with Ray Data's
    progress bars and log lines on or off."""
    with ray_session(address, log_to_driver=progress) as ray:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        logging.getLogger("ray.data").setLevel(logging.INFO if progress else logging.ERROR)
        yield ray


def _check_model(model: Path, device: str, config: PipelineConfig) -> Pipeline:
    """Load the model once here, so a bad file, device or precision fails in one line
    before Ray starts; its stages, with the job's threshold."""
    detector = Detector.load(model, device=device, threads=1, engine=config.engine,
                             precision=config.precision)
    detector.max_pixels = config.max_pixels
    detector.max_decode_bytes = config.max_decode_bytes
    return detector.pipeline(config.threshold)


def _sources(inputs: Sequence[str], recursive: bool, sort: bool) -> list[Source]:
    sources = expand_sources(inputs, recursive=recursive)
    if not sources:
        raise InputError(" ".join(inputs), NO_IMAGES)
    if sort and any(is_uri(s.path) for s in sources):
        raise InputError(next(s.path for s in sources if is_uri(s.path)),
                         "--sort-into needs local files, not URIs")
    return sources


def _sort(sorter: Sorter | None, row: dict[str, Any], roots: dict[str, str | None],
          summary: BatchSummary) -> None:
    if sorter is None or "error" in row:
        return
    try:
        sorter.place(row["path"], row["label"], roots.get(row["path"]))
        summary.sorted += 1
    except OSError as exc:
        summary.sort_errors.append(f"{row['path']}: cannot sort: {exc}")


@contextlib.contextmanager
def _checkpointed(store: ResultStore) -> Iterator[None]:
    """Save the finished rows whatever stops the job; Ctrl-C and Ray errors become one line."""
    try:
        yield
    except KeyboardInterrupt:
        store.checkpoint()
        raise BatchInterrupted(store.saved, store.partial) from None
    except Exception as exc:
        store.checkpoint()
        if type(exc).__module__.split(".")[0] == "ray":
            raise _ray_failure(exc) from None
        raise
    except BaseException:
        store.checkpoint()
        raise


def _collect(dataset: Any, store: ResultStore, summary: BatchSummary, sorter: Sorter | None,
             roots: dict[str, str | None], on_row: Callable[[dict[str, Any]], None] | None,
             ) -> None:
    nodes: Counter[str] = Counter()
    for row, node in result_rows(dataset):
        _sort(sorter, row, roots, summary)  # before the row counts as done
        store.add(row)
        nodes[node] += 1
        summary.images += 1
        summary.failed += "error" in row
        if on_row is not None:
            on_row(row)
    summary.nodes = dict(nodes)


def run_batch(
    model: Path,
    inputs: Sequence[str],
    out: Path,
    *,
    fmt: str | None = None,
    recursive: bool = False,
    config: PipelineConfig | None = None,
    address: str | None = None,
    resume: bool = False,
    sort_into: Path | None = None,
    sort_mode: SortMode | str = SortMode.copy,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    """Predict every input on Ray and write RESULTS; see ``anime-detector batch --help``.

    ``fmt`` is parquet or json (JSON Lines); by default ``out``'s suffix chooses
    (:func:`~anime_detector.batch.results.result_format`).

    ``on_row`` is called with each row as it arrives (after sorting it).

    Raises:
        RayMissingError: the ``[ray]`` extra is not installed.
        InputError: no images, or an unreadable RESULTS for ``resume``.
        ModelError: the model cannot be loaded.
        BatchInterrupted: Ctrl-C; finished rows are checkpointed.
        BatchFailed: Ray could not run the job; finished rows are checkpointed.
    """
    import_ray()  # the [ray] extra (pyarrow comes with it) before any work
    sources = _sources(inputs, recursive, sort_into is not None)
    cfg = config or PipelineConfig()
    pipeline = _check_model(model, "cpu" if address else cfg.device, cfg)
    store = ResultStore(out, result_format(out, fmt), pipeline.contract.labels, resume=resume)
    done = store.done_paths()
    todo = [s.path for s in sources if s.path not in done]
    summary = BatchSummary(out=out, skipped=len(sources) - len(todo))
    sorter = Sorter(sort_into, sort_mode) if sort_into is not None else None
    started = time.perf_counter()
    if todo:
        with _checkpointed(store), _ray_data(address, progress):
            dataset, summary.actors = build_dataset(todo, ship_model(model), pipeline, cfg)
            _collect(dataset, store, summary, sorter, {s.path: s.root for s in sources}, on_row)
    summary.seconds = time.perf_counter() - started
    store.finish([s.path for s in sources])
    return summary
