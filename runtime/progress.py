"""A progress bar on stderr, shown only to people (a terminal) and only for long jobs."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["track"]

T = TypeVar("T")


def track(
    items: Iterable[T], total: int, description: str, enabled: bool | None = None, minimum: int = 8
) -> Iterator[T]:
    """Yield ``items``, drawing a bar on stderr when ``enabled`` (default: a TTY and
    ``total >= minimum``)."""
    show = (sys.stderr.isatty() and total >= minimum) if enabled is None else enabled
    if not show:
        yield from items
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
