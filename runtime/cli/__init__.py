"""The ``anime-detector`` command line: one module per command, each a thin layer over one
library function. ``--help`` and ``--version`` load no onnxruntime; commands that need an
extra import it inside the command and exit 2 with the install hint when it is missing.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from anime_detector._version import __version__
from anime_detector.cli.bench import bench
from anime_detector.cli.common import EXIT_INTERRUPTED
from anime_detector.cli.demo import demo
from anime_detector.cli.evaluate import eval_command
from anime_detector.cli.export import export
from anime_detector.cli.predict import predict
from anime_detector.cli.train import train

__all__ = ["app", "main"]

app = typer.Typer(
    name="anime-detector",
    help="Tell anime character art from photos and western cartoons.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"anime-detector {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """Tell anime character art from photos and western cartoons."""


for _name, _command in (("predict", predict), ("train", train), ("export", export),
                        ("eval", eval_command), ("bench", bench), ("demo", demo)):
    app.command(_name)(_command)


class Interrupted(BaseException):
    """Ctrl-C, raised by our SIGINT handler: a ``BaseException`` that Click does not turn
    into "Aborted!" and that ``except Exception`` blocks do not swallow."""


def _on_sigint(signum: int, frame: object) -> None:
    raise Interrupted


def main() -> None:
    """Console-script entry point: Ctrl-C anywhere (even during a TensorFlow import) ends with
    one ``error: interrupted`` line and exit code 130, never a traceback. ``finally`` and
    ``except BaseException`` blocks (atomic writes) still clean up on the way out."""
    import signal

    signal.signal(signal.SIGINT, _on_sigint)
    try:
        app()
    except Interrupted:
        sys.stdout.flush()
        typer.echo("error: interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
