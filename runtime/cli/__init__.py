"""The ``anime-detector`` command line: one module per command, each a thin layer over one
library function. The console script and ``python -m anime_detector`` start it through
:func:`anime_detector._entry.main`. ``--help`` and ``--version`` load no onnxruntime;
commands that need an extra import it inside the command and exit 2 with the install hint
when it is missing.
"""

from __future__ import annotations

from typing import Annotated

import typer

from anime_detector._version import __version__
from anime_detector.cli.batch import batch
from anime_detector.cli.bench import bench
from anime_detector.cli.demo import demo
from anime_detector.cli.evaluate import eval_command
from anime_detector.cli.explain import explain
from anime_detector.cli.export import export
from anime_detector.cli.predict import predict
from anime_detector.cli.serve import serve
from anime_detector.cli.train import train

__all__ = ["app"]

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
                        ("eval", eval_command), ("bench", bench), ("explain", explain),
                        ("batch", batch), ("demo", demo), ("serve", serve)):
    app.command(_name)(_command)

