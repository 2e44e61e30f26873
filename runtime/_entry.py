"""The console-script entry point: Ctrl-C is handled from the first instruction.

It installs the SIGINT handler before importing anything heavy (typer, numpy, an engine,
TensorFlow), so an interrupt at any moment ends with one ``error: interrupted`` line and
exit code 130, never a traceback. A SIGINT that was ignored when the process started
(``cmd &`` in a script, launchers that detach) stays ignored, as Python itself leaves it.
"""

from __future__ import annotations

import signal
import sys

from anime_detector.errors import EXIT_INTERRUPTED


class Interrupted(BaseException):
    """Ctrl-C, raised by our SIGINT handler: a ``BaseException`` that Click does not turn
    into "Aborted!" and that ``except Exception`` blocks do not swallow, while ``finally``
    and ``except BaseException`` blocks (atomic writes) still clean up on the way out."""


def _on_sigint(signum: int, frame: object) -> None:
    raise Interrupted


def main() -> None:
    """Run the ``anime-detector`` command line."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        from anime_detector.cli import app

        app()
    except Interrupted:
        try:
            sys.stdout.flush()
        finally:
            sys.stderr.write("error: interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
