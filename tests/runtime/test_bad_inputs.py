"""Every awkward input gets a one-line error naming it; odd-but-valid ones predict."""

from __future__ import annotations

from pathlib import Path

import pytest

from anime_detector import Detector, Failure, InputError, Prediction, load_image

from helpers.bad_inputs import ERRORS, ODD_BUT_VALID


@pytest.fixture(scope="module")
def detector(tiny_model: Path) -> Detector:
    return Detector.load(tiny_model, device="cpu")


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_file_gives_one_line_error(case: str, tmp_path: Path) -> None:
    build, fragment = ERRORS[case]
    path = build(tmp_path)
    with pytest.raises(InputError) as info:
        load_image(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and fragment in message


@pytest.mark.parametrize("case", sorted(ODD_BUT_VALID))
def test_odd_but_valid_image_predicts(case: str, detector: Detector, tmp_path: Path) -> None:
    path = ODD_BUT_VALID[case](tmp_path)
    (result,) = detector.predict([path])
    assert result.source == str(path)
    assert abs(sum(result.probabilities.values()) - 1) < 1e-5


def test_animated_gif_uses_frame_zero(detector: Detector, tmp_path: Path) -> None:
    path = ODD_BUT_VALID["animated_gif"](tmp_path)  # frame 0 blue, frame 1 red
    assert detector.predict([path])[0].label == "anime"


def test_palette_transparency_goes_on_white(tmp_path: Path) -> None:
    path = ODD_BUT_VALID["palette_png_transparent"](tmp_path)
    assert load_image(path).getpixel((0, 0)) == (0, 0, 255)


def test_one_bad_file_does_not_stop_the_batch(detector: Detector, tmp_path: Path,
                                              colour_images: dict[str, Path]) -> None:
    bad = [build(tmp_path) for build, _ in ERRORS.values()]
    sources = [colour_images["blue"], *bad, colour_images["red"]]
    results = list(detector.predict_iter(sources, batch_size=2))
    assert [type(r) for r in results] == [Prediction, *[Failure] * len(bad), Prediction]
    assert results[0].label == "anime" and results[-1].label == "not_anime"
    for failure in results[1:-1]:
        assert isinstance(failure, Failure) and "\n" not in failure.error


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_a_bad_file_is_closed_after_its_error(case: str, tmp_path: Path) -> None:
    import gc
    import warnings

    path = ERRORS[case][0](tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(InputError):
            load_image(path)
        gc.collect()
    assert not [str(w.message) for w in caught if w.category is ResourceWarning]
