"""The pixel options of ``train --backbone PATH`` and their checks, before any work.

A named backbone carries its preprocessing; an encoder file does not, so ``--preprocess``
is required for one and refused for the other. :func:`resolve_encoder` checks the options,
then the file (:func:`anime_detector.train.encoder_file.inspect_encoder`), and returns the
encoder and the :class:`PreprocessSpec` built from the options and the file's input.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from anime_detector.encoder_spec import PRESETS, encoder_spec
from anime_detector.errors import AnimeDetectorError
from anime_detector.preprocessing import PreprocessSpec
from anime_detector.train.encoder_file import EncoderInfo, inspect_encoder

__all__ = ["EncoderOptionError", "EncoderOptions", "resolve_encoder"]


class EncoderOptionError(AnimeDetectorError, ValueError):
    """An encoder option that cannot work (one line, exit code 2)."""


@dataclass(frozen=True)
class EncoderOptions:
    """How the encoder wants its pixels: a preset and explicit values on top of it."""

    preprocess: str | None = None  # a key of anime_detector.encoder_spec.PRESETS
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    scale: float | None = None
    channel_order: str | None = None
    input_size: tuple[int, int] | None = None
    resize: str | None = None

    def given(self) -> list[str]:
        """The options set, as their command-line names."""
        return ["--" + f.name.replace("_", "-") for f in fields(self)
                if getattr(self, f.name) is not None]

    def refuse_for_named(self, backbone: str) -> None:
        """A named backbone carries its own preprocessing: refuse any of these options."""
        if self.given():
            raise EncoderOptionError(
                f"{', '.join(self.given())}: only for an encoder file (--backbone PATH); "
                f"the {backbone} backbone carries its own preprocessing")

    def check(self) -> None:
        """Refuse a missing or unknown preset before the encoder file is opened."""
        if self.preprocess is None:
            raise EncoderOptionError(
                "an encoder file does not say how it wants its pixels: pass --preprocess "
                f"{'|'.join(PRESETS)} (and --mean/--std/--scale/--channel-order to adjust)")
        if self.preprocess not in PRESETS:
            raise EncoderOptionError(f"unknown --preprocess {self.preprocess!r}; choose one "
                                     f"of {', '.join(PRESETS)}")


def resolve_encoder(backbone: str, output: str | None, options: EncoderOptions
                    ) -> tuple[EncoderInfo, PreprocessSpec]:
    """The encoder file and the spec it is fed with.

    Raises:
        EncoderOptionError: an option is missing or impossible.
        ModelError: the file cannot be used as an encoder.
    """
    options.check()
    info = inspect_encoder(Path(backbone), output, options.input_size)
    try:
        spec = encoder_spec(options.preprocess or "", info.size, layout=info.layout,
                            mean=options.mean, std=options.std, scale=options.scale,
                            channel_order=options.channel_order, resize=options.resize)
    except ValueError as exc:
        raise EncoderOptionError(str(exc)) from None
    return info, spec
