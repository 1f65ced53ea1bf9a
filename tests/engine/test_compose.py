"""Composition and encoding: remove.bg's option semantics, formats, metadata stripping.

Every scene is synthetic (a red subject on blue), so no model is needed; pixels are
checked with small tolerances where resampling or lossy encoding is involved.
"""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from clearcutout.engine.compose import Composition, compose, subject_box
from clearcutout.engine.encode import encode
from clearcutout.engine.geometry import Box
from clearcutout.engine.options import (
    PREVIEW_PIXELS,
    CutoutOptions,
    Margins,
    parse_bg_color,
    parse_crop_margin,
    parse_position,
    parse_roi,
    parse_scale,
    target_dimensions,
)
from clearcutout.errors import InvalidOptionError

RED = (220, 20, 20)
BLUE = (20, 40, 200)
WIDTH, HEIGHT = 200, 100
#: The rectangle subject of :func:`rectangle_scene`: 40×20 at (30, 20).
SUBJECT = Box(left=30, top=20, width=40, height=20)


def rectangle_scene(
    box: Box = SUBJECT, width: int = WIDTH, height: int = HEIGHT
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """A red rectangle (opaque) on blue (transparent): exact edges for exact checks."""
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:] = BLUE
    alpha = np.zeros((height, width), np.uint8)
    rgb[box.top : box.bottom, box.left : box.right] = RED
    alpha[box.top : box.bottom, box.left : box.right] = 255
    return rgb, alpha


def disc_scene(
    width: int = 240, height: int = 160, radius: int = 30
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """A red disc with an anti-aliased edge on blue, centred."""
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:] = BLUE
    alpha = np.zeros((height, width), np.uint8)
    centre = (width // 2, height // 2)
    cv2.circle(alpha, centre, radius, 255, -1, lineType=cv2.LINE_AA)
    cv2.circle(rgb, centre, radius + 2, RED, -1)  # decontaminated: red reaches past the edge
    return rgb, alpha


def pixels(image: Image.Image) -> NDArray[np.uint8]:
    return np.asarray(image)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def error_code(excinfo: pytest.ExceptionInfo[InvalidOptionError]) -> str:
    return excinfo.value.code


# -- bg_color ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("81d4fa", (0x81, 0xD4, 0xFA, 255)),
        ("#81D4FA", (0x81, 0xD4, 0xFA, 255)),
        ("fff", (255, 255, 255, 255)),
        ("#0f08", (0, 255, 0, 0x88)),
        ("81d4fa80", (0x81, 0xD4, 0xFA, 0x80)),
        ("red", (255, 0, 0, 255)),
        ("White", (255, 255, 255, 255)),
        ("  00ff00 ", (0, 255, 0, 255)),
        (None, None),
        ("", None),
    ],
)
def test_bg_color_accepts_hex_with_optional_alpha_and_css_names(
    text: str | None, expected: tuple[int, int, int, int] | None
) -> None:
    assert parse_bg_color(text) == expected


@pytest.mark.parametrize(
    "text", ["12345", "81d4fa8", "ggg", "#", "notacolour", "rgb(1, 2, 3)", "fff fff"]
)
def test_bg_color_rejects_what_is_neither_hex_nor_a_colour_name(text: str) -> None:
    with pytest.raises(InvalidOptionError) as excinfo:
        parse_bg_color(text)
    assert error_code(excinfo) == "invalid_bg_color"
    with pytest.raises(InvalidOptionError) as excinfo:
        CutoutOptions(bg_color=text)
    assert error_code(excinfo) == "invalid_bg_color"


# -- roi -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0% 0% 100% 100%", Box(0, 0, 200, 100)),
        ("10 20 110 70", Box(10, 20, 100, 50)),
        ("10px 20px 50% 100%", Box(10, 20, 90, 80)),
        ("25% 50% 75% 100%", Box(50, 50, 100, 50)),
        ("0 0 200px 100px", Box(0, 0, 200, 100)),
        ("12.5% 0 100% 10.4", Box(25, 0, 175, 10)),
    ],
)
def test_roi_resolves_pixels_and_percentages_against_the_image(text: str, expected: Box) -> None:
    assert parse_roi(text, WIDTH, HEIGHT) == expected


@pytest.mark.parametrize(
    "text",
    ["", "0 0 100", "0 0 100 100 5", "-1 0 10 10", "a b c d", "10em 0 20 20", "1e3 0 10 10"],
)
def test_roi_with_bad_syntax_is_refused(text: str) -> None:
    with pytest.raises(InvalidOptionError) as excinfo:
        CutoutOptions(roi=text)
    assert error_code(excinfo) == "invalid_roi"
    with pytest.raises(InvalidOptionError) as excinfo:
        parse_roi(text, WIDTH, HEIGHT)
    assert error_code(excinfo) == "invalid_roi"


def test_roi_reaching_outside_the_image_is_refused() -> None:
    with pytest.raises(InvalidOptionError) as excinfo:
        parse_roi("0 0 201 100", WIDTH, HEIGHT)
    assert error_code(excinfo) == "roi_exceeds_bounds"
    with pytest.raises(InvalidOptionError) as excinfo:
        CutoutOptions(roi="0% 0% 120% 100%")
    assert error_code(excinfo) == "roi_exceeds_bounds"


@pytest.mark.parametrize(
    ("text", "checked_with_size"),
    [
        ("50 0 50 100", False),
        ("0 60% 100% 10%", False),
        ("10% 0 10 100", True),  # 20 px to 10 px: known only once the width is
        ("0.2 0 0.4 10", True),  # rounds to no pixel
    ],
)
def test_roi_without_area_is_refused(text: str, checked_with_size: bool) -> None:
    if not checked_with_size:
        with pytest.raises(InvalidOptionError) as excinfo:
            CutoutOptions(roi=text)
        assert error_code(excinfo) == "roi_region_empty"
    with pytest.raises(InvalidOptionError) as excinfo:
        parse_roi(text, WIDTH, HEIGHT)
    assert error_code(excinfo) == "roi_region_empty"


# -- crop_margin ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Margins(0, 0, 0, 0)),
        ("10", Margins(10, 10, 10, 10)),
        ("10px", Margins(10, 10, 10, 10)),
        ("10px 20px", Margins(10, 20, 10, 20)),
        ("1 2 3 4", Margins(1, 2, 3, 4)),
        ("1px 2% 3 4%", Margins(1, 4, 3, 8)),
    ],
)
def test_crop_margin_follows_css_shorthand_order(text: str, expected: Margins) -> None:
    assert parse_crop_margin(text, 200, 100) == expected


def test_crop_margin_percent_is_relative_to_subject() -> None:
    assert parse_crop_margin("10%", 200, 100) == Margins(top=10, right=20, bottom=10, left=20)
    assert parse_crop_margin("10%", 50, 400) == Margins(top=40, right=5, bottom=40, left=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80%", Margins(50, 100, 50, 100)),
        ("900px", Margins(500, 500, 500, 500)),
        ("600 50%", Margins(500, 100, 500, 100)),
    ],
)
def test_crop_margin_is_clamped_to_removebg_limits(text: str, expected: Margins) -> None:
    assert parse_crop_margin(text, 200, 100) == expected


@pytest.mark.parametrize("text", ["", "1 2 3", "1 2 3 4 5", "-5px", "10pt", "abc", "5%%"])
def test_crop_margin_with_bad_syntax_is_refused(text: str) -> None:
    with pytest.raises(InvalidOptionError) as excinfo:
        CutoutOptions(crop=True, crop_margin=text)
    assert error_code(excinfo) == "invalid_crop_margin"


# -- scale and position --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("original", None), ("10%", 0.1), ("100%", 1.0), ("55.5%", 0.555), (" 50% ", 0.5)],
)
def test_scale_is_a_fraction_of_the_canvas(text: str, expected: float | None) -> None:
    assert parse_scale(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["5%", "9.9%", "101%", "50", "50px", "", "half"])
def test_scale_outside_ten_to_hundred_percent_is_refused(text: str) -> None:
    with pytest.raises(InvalidOptionError) as excinfo:
        CutoutOptions(scale=text)
    assert error_code(excinfo) == "invalid_scale"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("original", "original"),
        ("center", (0.5, 0.5)),
        ("Center", (0.5, 0.5)),
        ("0%", (0.0, 0.0)),
        ("100% 0%", (1.0, 0.0)),
        ("25% 75%", (0.25, 0.75)),
    ],
)
def test_position_is_original_or_fractions_of_the_free_space(text: str, expected: Any) -> None:
    assert parse_position(text) == expected


@pytest.mark.parametrize("text", ["left", "10px", "101%", "10% 20% 30%", "", "-5%", "50"])
def test_position_that_is_not_a_keyword_or_percentages_is_refused(text: str) -> None:
    with pytest.raises(InvalidOptionError) as excinfo:
        CutoutOptions(position=text)
    assert error_code(excinfo) == "invalid_position"


# -- size ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "budget"),
    [
        ("preview", PREVIEW_PIXELS),
        ("small", PREVIEW_PIXELS),
        ("regular", PREVIEW_PIXELS),
        ("medium", 1_500_000),
        ("hd", 4_000_000),
    ],
)
def test_sized_output_fits_the_pixel_budget_keeping_aspect(size: str, budget: int) -> None:
    width, height = target_dimensions(4000, 3000, size)
    assert width * height <= budget
    assert width * height >= budget * 0.99
    assert width / height == pytest.approx(4 / 3, rel=0.01)


def test_preview_of_a_1250_by_800_image_is_625_by_400() -> None:
    assert target_dimensions(1250, 800, "preview") == (625, 400)


@pytest.mark.parametrize("size", ["full", "4k", "auto", "50MP", "preview", "hd"])
def test_size_never_upscales(size: str) -> None:
    assert target_dimensions(300, 200, size) == (300, 200)


@pytest.mark.parametrize("size", ["full", "4k", "auto", "50MP"])
def test_full_sizes_keep_the_original_resolution(size: str) -> None:
    assert target_dimensions(6000, 4000, size) == (6000, 4000)


def test_unknown_size_is_refused() -> None:
    with pytest.raises(InvalidOptionError) as excinfo:
        target_dimensions(100, 100, "huge")
    assert error_code(excinfo) == "invalid_size"


# -- validation of whole options -----------------------------------------------------------


def test_every_option_accepts_its_documented_values() -> None:
    options = CutoutOptions(
        refine=False,
        foreground_estimation=False,
        semitransparency=False,
        roi="10px 10px 90% 90%",
        size="preview",
        crop=True,
        crop_margin="10px 5%",
        scale="80%",
        position="20% 80%",
        bg_color="#81d4fa80",
        shadow_type="drop",
        shadow_opacity=70,
        channels="rgba",
        format="webp",
    )
    assert CutoutOptions.from_dict(options.to_dict()) == options


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"size": "huge"}, "invalid_size"),
        ({"channels": "rgb"}, "invalid_channels"),
        ({"format": "gif"}, "invalid_format"),
        ({"format": "zip", "channels": "alpha"}, "invalid_format"),
        ({"shadow_type": "soft"}, "invalid_shadow_type"),
        ({"shadow_opacity": 101}, "invalid_shadow_opacity"),
        ({"shadow_opacity": -1}, "invalid_shadow_opacity"),
        ({"shadow_opacity": True}, "invalid_shadow_opacity"),
        ({"shadow_opacity": "50"}, "invalid_shadow_opacity"),
        ({"semitransparency": "yes"}, "invalid_semitransparency"),
        ({"crop": "true"}, "invalid_crop"),
        ({"refine": 1}, "invalid_refine"),
        ({"roi": None}, "invalid_roi"),
        ({"scale": 0.5}, "invalid_scale"),
        ({"bg_color": 0xFFFFFF}, "invalid_bg_color"),
    ],
)
def test_invalid_option_is_refused_with_removebg_error_code(
    changes: dict[str, Any], code: str
) -> None:
    with pytest.raises(InvalidOptionError) as excinfo:
        CutoutOptions(**changes)
    assert error_code(excinfo) == code
    assert excinfo.value.http_status == 400


def test_error_message_is_one_short_line_even_for_a_huge_value() -> None:
    with pytest.raises(InvalidOptionError) as excinfo:
        CutoutOptions(bg_color="x" * 10_000)
    message = excinfo.value.message
    assert "\n" not in message
    assert len(message) < 200
    assert message.endswith(".")
    assert "hex" in message  # says what is accepted


# -- geometry ------------------------------------------------------------------------------


def test_default_composition_is_the_cutout_on_transparency() -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions())
    assert result.image.mode == "RGBA"
    assert result.image.size == (WIDTH, HEIGHT)
    out = pixels(result.image)
    np.testing.assert_array_equal(out[..., 3], alpha)
    np.testing.assert_array_equal(out[alpha == 255][:, :3], np.array([RED] * (40 * 20)))
    assert result.foreground == SUBJECT
    assert result.has_transparency


def test_foreground_box_ignores_faint_matte_noise() -> None:
    _, alpha = rectangle_scene()
    alpha[90, 190] = 6
    alpha[0, 0] = 10
    assert subject_box(alpha) == SUBJECT
    alpha[90, 190] = 40
    assert subject_box(alpha) == Box(30, 20, 161, 71)


def test_fully_opaque_result_reports_no_transparency() -> None:
    rgb = np.full((10, 10, 3), 128, np.uint8)
    alpha = np.full((10, 10), 255, np.uint8)
    result = compose(rgb, alpha, CutoutOptions())
    assert result.image.mode == "RGBA"
    assert not result.has_transparency


def test_crop_cuts_the_image_to_the_subject() -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions(crop=True))
    assert result.image.size == (SUBJECT.width, SUBJECT.height)
    assert result.foreground == Box(0, 0, SUBJECT.width, SUBJECT.height)
    out = pixels(result.image)
    assert (out[..., 3] == 255).all()
    assert (out[..., :3] == RED).all()


def test_crop_margin_adds_transparent_space_around_the_subject() -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions(crop=True, crop_margin="10px 5px"))
    assert result.image.size == (SUBJECT.width + 10, SUBJECT.height + 20)
    assert result.foreground == Box(5, 10, SUBJECT.width, SUBJECT.height)
    out_alpha = pixels(result.image)[..., 3]
    assert out_alpha[10:30, 5:45].min() == 255
    assert out_alpha[:10].max() == 0
    assert out_alpha[:, :5].max() == 0


def test_crop_margin_percent_is_relative_to_subject_in_the_output() -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions(crop=True, crop_margin="10%"))
    # 10 % of a 40×20 subject: 4 px left and right, 2 px top and bottom.
    assert result.image.size == (48, 24)
    assert result.foreground == Box(4, 2, 40, 20)


def test_crop_margin_past_the_image_edge_is_transparent() -> None:
    rgb, alpha = rectangle_scene(Box(0, 0, 40, 20))
    result = compose(rgb, alpha, CutoutOptions(crop=True, crop_margin="10px"))
    assert result.image.size == (60, 40)
    assert result.foreground == Box(10, 10, 40, 20)
    out = pixels(result.image)
    assert out[0, 0, 3] == 0
    assert out[10, 10, 3] == 255
    assert tuple(out[10, 10, :3]) == RED


def test_crop_margin_without_crop_has_no_effect() -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions(crop_margin="30px"))
    assert result.image.size == (WIDTH, HEIGHT)
    assert result.foreground == SUBJECT


def test_scale_fits_the_subject_to_a_fraction_of_the_canvas_and_centres_it() -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions(scale="50%"))
    assert result.image.size == (WIDTH, HEIGHT)  # the canvas keeps its size
    # 40×20 fitted into 100×50 (50 % of 200×100) → 100×50, centred.
    assert result.foreground == Box(50, 25, 100, 50)
    out = pixels(result.image)
    assert out[26:74, 51:149, 3].min() == 255
    assert out[:24, :, 3].max() == 0
    assert out[:, :49, 3].max() == 0
    assert np.abs(out[50, 100, :3].astype(int) - RED).max() <= 2


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("0%", Box(0, 0, 40, 20)),
        ("100%", Box(160, 80, 40, 20)),
        ("0% 100%", Box(0, 80, 40, 20)),
        ("center", Box(80, 40, 40, 20)),
        ("25% 50%", Box(40, 40, 40, 20)),
    ],
)
def test_position_moves_the_subject_without_scaling_it(position: str, expected: Box) -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions(position=position))
    assert result.foreground == expected
    out_alpha = pixels(result.image)[..., 3]
    assert out_alpha[expected.top : expected.bottom, expected.left : expected.right].min() == 255
    assert int(out_alpha.astype(int).sum()) == 255 * 40 * 20


def test_scale_with_position_places_the_scaled_subject() -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions(scale="50%", position="100% 0%"))
    assert result.foreground == Box(100, 0, 100, 50)


def test_scale_after_crop_uses_the_cropped_canvas() -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions(crop=True, crop_margin="10px", scale="50%"))
    assert result.image.size == (60, 40)
    # 40×20 fitted into 30×20 (50 % of the 60×40 crop) → 30×15, centred.
    assert result.foreground == Box(15, 12, 30, 15)


# -- shadow --------------------------------------------------------------------------------


def shadow_patch(result: Composition) -> NDArray[np.uint8]:
    """Alpha just below the disc of :func:`big_disc_scene`, where a drop shadow falls."""
    return pixels(result.image)[182:186, 160:164, 3]  # the disc ends at y = 180


def big_disc_scene() -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    return disc_scene(width=320, height=240, radius=60)


@pytest.mark.parametrize("shadow_type", ["drop", "3D", "car", "auto"])
def test_shadow_falls_below_the_subject(shadow_type: str) -> None:
    rgb, alpha = big_disc_scene()
    plain = compose(rgb, alpha, CutoutOptions())
    shaded = compose(rgb, alpha, CutoutOptions(shadow_type=shadow_type))  # type: ignore[arg-type]
    out = pixels(shaded.image)
    assert shadow_patch(plain).max() == 0
    assert shadow_patch(shaded).min() > 20
    assert out[50, 160, 3] == 0  # above the subject: no shadow
    assert out[183, 161, :3].max() <= 5  # a black shadow
    inside = alpha == 255
    np.testing.assert_array_equal(out[inside], pixels(plain.image)[inside])
    assert shaded.foreground == plain.foreground


def test_shadow_opacity_sets_how_dark_the_shadow_is() -> None:
    rgb, alpha = big_disc_scene()
    strengths = [
        float(
            shadow_patch(
                compose(rgb, alpha, CutoutOptions(shadow_type="drop", shadow_opacity=opacity))
            ).mean()
        )
        for opacity in (0, 20, 50, 100)
    ]
    assert strengths[0] == 0
    assert strengths[0] < strengths[1] < strengths[2] < strengths[3]
    assert strengths[3] / strengths[1] == pytest.approx(5, rel=0.1)
    default = compose(rgb, alpha, CutoutOptions(shadow_type="drop"))
    assert float(shadow_patch(default).mean()) == pytest.approx(strengths[2], abs=1)


def test_shadow_without_a_subject_is_nothing() -> None:
    rgb, alpha = big_disc_scene()
    alpha[:] = 0
    result = compose(rgb, alpha, CutoutOptions(shadow_type="drop", shadow_opacity=100))
    assert pixels(result.image)[..., 3].max() == 0


# -- backgrounds ---------------------------------------------------------------------------


def test_bg_color_fills_behind_the_subject() -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions(bg_color="00ff00"))
    assert result.image.mode == "RGB"
    assert not result.has_transparency
    out = pixels(result.image)
    assert tuple(out[0, 0]) == (0, 255, 0)
    assert tuple(out[30, 50]) == RED
    assert result.foreground == SUBJECT


def test_bg_color_with_alpha_keeps_the_result_translucent() -> None:
    rgb, alpha = rectangle_scene()
    result = compose(rgb, alpha, CutoutOptions(bg_color="00ff0080"))
    assert result.image.mode == "RGBA"
    assert result.has_transparency
    out = pixels(result.image)
    assert tuple(out[0, 0]) == (0, 255, 0, 0x80)
    assert tuple(out[30, 50]) == (*RED, 255)


def test_semitransparent_edge_blends_with_bg_color() -> None:
    rgb, alpha = rectangle_scene()
    alpha[SUBJECT.top : SUBJECT.bottom, SUBJECT.left : SUBJECT.right] = 128
    out = pixels(compose(rgb, alpha, CutoutOptions(bg_color="0000ff")).image)
    expected = np.array(RED) * 128 / 255 + np.array((0, 0, 255)) * 127 / 255
    assert np.abs(out[30, 50].astype(float) - expected).max() <= 1


def test_translucent_subject_over_translucent_colour_composites_correctly() -> None:
    rgb, alpha = rectangle_scene()
    alpha[SUBJECT.top : SUBJECT.bottom, SUBJECT.left : SUBJECT.right] = 128
    out = pixels(compose(rgb, alpha, CutoutOptions(bg_color="0000ff80")).image)
    subject, colour = 128 / 255, 128 / 255
    out_alpha = subject + colour * (1 - subject)
    expected_rgb = (
        np.array(RED) * subject + np.array((0, 0, 255)) * colour * (1 - subject)
    ) / out_alpha
    assert abs(int(out[30, 50, 3]) - out_alpha * 255) <= 1
    assert np.abs(out[30, 50, :3].astype(float) - expected_rgb).max() <= 1


def test_background_image_fills_the_canvas_keeping_its_aspect_centred() -> None:
    rgb, alpha = rectangle_scene()
    # A square photo: magenta top and bottom quarters, cyan middle. Covering a 2:1
    # canvas keeps only the middle half, so no magenta may show.
    photo = np.empty((100, 100, 3), np.uint8)
    photo[:] = (255, 0, 255)
    photo[25:75] = (0, 255, 255)
    photo[25:75, :50] = (0, 200, 255)  # left half a different cyan: the photo is centred
    result = compose(rgb, alpha, CutoutOptions(), background=photo)
    assert result.image.mode == "RGB"
    assert result.image.size == (WIDTH, HEIGHT)
    assert not result.has_transparency
    out = pixels(result.image)
    background = alpha == 0
    assert (out[background][:, 0] <= 2).all()  # no magenta anywhere
    assert tuple(out[50, 10]) == (0, 200, 255)
    assert tuple(out[50, 190]) == (0, 255, 255)
    assert tuple(out[30, 50]) == RED


def test_options_combine_in_removebg_order() -> None:
    rgb, alpha = big_disc_scene()
    options = CutoutOptions(
        crop=True, crop_margin="20px", scale="80%", shadow_type="drop", bg_color="fff"
    )
    disc = subject_box(alpha)
    side = disc.width + 40  # cropped to the disc plus 20 px on each side
    result = compose(rgb, alpha, options)
    assert result.image.size == (side, side)
    assert result.image.mode == "RGB"
    out = pixels(result.image).astype(int)
    centre = result.foreground.left + result.foreground.width // 2
    assert result.foreground.width == pytest.approx(0.8 * side, abs=1)
    assert np.abs(out[side // 2, centre] - RED).max() <= 2  # the subject on top
    assert tuple(out[2, 2]) == (255, 255, 255)  # white around it
    below = result.foreground.bottom + 2
    assert out[below, centre].max() < 250  # shadow darkens the white under the subject


def test_compose_leaves_the_callers_arrays_untouched() -> None:
    rgb, alpha = disc_scene()
    photo = np.full(rgb.shape, 77, np.uint8)
    copies = (rgb.copy(), alpha.copy(), photo.copy())
    for options in (
        CutoutOptions(shadow_type="drop"),
        CutoutOptions(bg_color="fff"),
        CutoutOptions(scale="50%"),
        CutoutOptions(crop=True),
    ):
        compose(rgb, alpha, options)
    compose(rgb, alpha, CutoutOptions(), background=photo)
    for original, after in zip(copies, (rgb, alpha, photo), strict=True):
        np.testing.assert_array_equal(original, after)


def test_bg_color_and_background_image_together_are_refused() -> None:
    rgb, alpha = rectangle_scene()
    with pytest.raises(InvalidOptionError) as excinfo:
        compose(rgb, alpha, CutoutOptions(bg_color="fff"), background=rgb)
    assert error_code(excinfo) == "multiple_bg_sources"


def test_channels_alpha_returns_the_matte_only() -> None:
    rgb, alpha = rectangle_scene()
    options = CutoutOptions(channels="alpha", bg_color="fff", shadow_type="drop")
    result = compose(rgb, alpha, options)
    assert result.image.mode == "L"
    np.testing.assert_array_equal(pixels(result.image), alpha)
    assert result.foreground == SUBJECT
    cropped = compose(rgb, alpha, CutoutOptions(channels="alpha", crop=True))
    assert cropped.image.size == (40, 20)
    assert pixels(cropped.image).min() == 255


@pytest.mark.parametrize(
    ("options", "size", "mode"),
    [
        (CutoutOptions(), (WIDTH, HEIGHT), "RGBA"),
        (CutoutOptions(crop=True, crop_margin="10%"), (1, 1), "RGBA"),
        (CutoutOptions(scale="50%", position="0%"), (WIDTH, HEIGHT), "RGBA"),
        (CutoutOptions(shadow_type="drop"), (WIDTH, HEIGHT), "RGBA"),
        (CutoutOptions(crop=True, bg_color="00ff00"), (1, 1), "RGB"),
        (CutoutOptions(channels="alpha", crop=True), (1, 1), "L"),
    ],
)
def test_empty_matte_gives_an_empty_foreground_not_a_crash(
    options: CutoutOptions, size: tuple[int, int], mode: str
) -> None:
    rgb, _ = rectangle_scene()
    alpha = np.zeros((HEIGHT, WIDTH), np.uint8)
    result = compose(rgb, alpha, options)
    assert result.foreground == Box(0, 0, 0, 0)
    assert result.image.size == size
    assert result.image.mode == mode
    if mode == "RGBA":
        assert pixels(result.image)[..., 3].max() == 0
    assert decode(encode(result, options.format).data).size == size


@pytest.mark.parametrize(
    ("rgb_shape", "alpha_shape", "dtype"),
    [
        ((10, 10, 3), (10, 11), np.uint8),
        ((10, 10), (10, 10), np.uint8),
        ((10, 10, 3), (10, 10), np.float32),
    ],
)
def test_arrays_of_the_wrong_shape_or_type_are_a_programming_error(
    rgb_shape: tuple[int, ...], alpha_shape: tuple[int, ...], dtype: Any
) -> None:
    with pytest.raises(ValueError, match="must be"):
        compose(np.zeros(rgb_shape, dtype), np.zeros(alpha_shape, dtype), CutoutOptions())


# -- encoding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "pil_format", "media_type", "extension"),
    [
        ("png", "PNG", "image/png", "png"),
        ("webp", "WEBP", "image/webp", "webp"),
        ("jpg", "JPEG", "image/jpeg", "jpg"),
    ],
)
def test_encoded_image_decodes_back_to_the_cutout(
    image_format: str, pil_format: str, media_type: str, extension: str
) -> None:
    rgb, alpha = disc_scene()
    options = CutoutOptions(format=image_format)  # type: ignore[arg-type]
    encoded = encode(compose(rgb, alpha, options), options.format)
    assert (encoded.media_type, encoded.extension) == (media_type, extension)
    image = decode(encoded.data)
    assert image.format == pil_format
    assert image.size == (240, 160)
    out = pixels(image.convert("RGBA")).astype(int)
    centre = out[80, 120]
    assert np.abs(centre[:3] - RED).max() <= 8
    if image_format == "png":
        np.testing.assert_array_equal(out[..., 3], alpha)
        np.testing.assert_array_equal(out[alpha > 0][:, :3], rgb[alpha > 0])
    elif image_format == "webp":
        assert np.abs(out[..., 3] - alpha).max() <= 1  # the alpha plane is lossless
    else:
        assert image.mode == "RGB"
        assert np.abs(out[5, 5, :3] - 255).max() <= 2  # transparent areas become white


def test_jpeg_keeps_a_solid_background_colour() -> None:
    rgb, alpha = rectangle_scene()
    options = CutoutOptions(format="jpg", bg_color="00ff00")
    out = pixels(decode(encode(compose(rgb, alpha, options), options.format).data)).astype(int)
    assert np.abs(out[5, 5] - (0, 255, 0)).max() <= 4


@pytest.mark.parametrize(
    ("options", "extension"),
    [
        (CutoutOptions(format="auto"), "png"),
        (CutoutOptions(format="auto", bg_color="fff"), "jpg"),
        (CutoutOptions(format="auto", bg_color="ffffff80"), "png"),
        (CutoutOptions(format="auto", channels="alpha"), "png"),
    ],
)
def test_auto_format_is_png_with_transparency_and_jpeg_without(
    options: CutoutOptions, extension: str
) -> None:
    rgb, alpha = rectangle_scene()
    encoded = encode(compose(rgb, alpha, options), options.format)
    assert encoded.extension == extension
    assert decode(encoded.data).format == {"png": "PNG", "jpg": "JPEG"}[extension]


def test_auto_format_of_a_fully_opaque_cutout_is_jpeg() -> None:
    rgb = np.full((10, 10, 3), 128, np.uint8)
    options = CutoutOptions(format="auto")
    encoded = encode(compose(rgb, np.full((10, 10), 255, np.uint8), options), options.format)
    assert encoded.media_type == "image/jpeg"


@pytest.mark.parametrize("image_format", ["png", "webp", "jpg"])
def test_matte_only_encodes_as_greyscale(image_format: str) -> None:
    rgb, alpha = rectangle_scene()
    options = CutoutOptions(channels="alpha", format=image_format)  # type: ignore[arg-type]
    image = decode(encode(compose(rgb, alpha, options), options.format).data)
    matte = pixels(image.convert("L")).astype(int)
    assert np.abs(matte - alpha).mean() < 2


def test_zip_holds_the_colour_jpeg_and_the_alpha_png() -> None:
    rgb, alpha = disc_scene()
    options = CutoutOptions(format="zip")
    encoded = encode(compose(rgb, alpha, options), options.format)
    assert (encoded.media_type, encoded.extension) == ("application/zip", "zip")
    with zipfile.ZipFile(io.BytesIO(encoded.data)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        colour = decode(archive.read("color.jpg"))
        matte = decode(archive.read("alpha.png"))
        dates = {info.date_time for info in archive.infolist()}
    assert (colour.format, colour.mode, colour.size) == ("JPEG", "RGB", (240, 160))
    assert (matte.format, matte.mode, matte.size) == ("PNG", "L", (240, 160))
    np.testing.assert_array_equal(pixels(matte), alpha)
    # Straight colours, not flattened onto white: red reaches into the soft edge.
    assert np.abs(pixels(colour)[80, 120].astype(int) - RED).max() <= 8
    assert dates == {(1980, 1, 1, 0, 0, 0)}  # no processing time leaks


def test_zip_of_an_opaque_result_has_an_opaque_matte() -> None:
    rgb, alpha = rectangle_scene()
    options = CutoutOptions(format="zip", bg_color="fff")
    encoded = encode(compose(rgb, alpha, options), options.format)
    with zipfile.ZipFile(io.BytesIO(encoded.data)) as archive:
        matte = decode(archive.read("alpha.png"))
    assert pixels(matte).min() == 255


def test_zip_of_a_matte_only_composition_is_refused() -> None:
    rgb, alpha = rectangle_scene()
    matte = compose(rgb, alpha, CutoutOptions(channels="alpha"))
    with pytest.raises(InvalidOptionError) as excinfo:
        encode(matte, "zip")
    assert error_code(excinfo) == "invalid_format"


# -- metadata ------------------------------------------------------------------------------


def png_chunk_types(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    types, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        types.append(data[offset + 4 : offset + 8])
        offset += 12 + length
    return types


def webp_chunk_types(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    types, offset = [], 12
    while offset < len(data):
        types.append(data[offset : offset + 4])
        (length,) = struct.unpack("<I", data[offset + 4 : offset + 8])
        offset += 8 + length + (length & 1)
    return types


def jpeg_markers(data: bytes) -> list[int]:
    """Markers of the segments before the image data (where metadata lives)."""
    assert data[:2] == b"\xff\xd8"
    markers, offset = [], 2
    while True:
        marker = data[offset + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return markers
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        offset += 2 + length


def assert_no_metadata(data: bytes) -> None:
    image = decode(data)
    for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment"):
        assert key not in image.info
    assert len(image.getexif()) == 0
    if image.format == "PNG":
        assert set(png_chunk_types(data)) <= {b"IHDR", b"IDAT", b"IEND"}
    elif image.format == "WEBP":
        assert set(webp_chunk_types(data)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
    else:
        assert image.format == "JPEG"
        assert b"Exif" not in data
        # APP0 (JFIF) only: no APP1 (EXIF/XMP), APP2 (ICC), APP13 (IPTC) or COM segments.
        assert not {0xE1, 0xE2, 0xED, 0xFE} & set(jpeg_markers(data))


def tagged_composition() -> Composition:
    """A composition whose image carries metadata, as if built from a decoded upload."""
    rgb, alpha = disc_scene()
    image = compose(rgb, alpha, CutoutOptions()).image
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS latitude
    image.info["exif"] = exif.tobytes()
    image.info["icc_profile"] = b"fake-icc-profile"
    image.info["xmp"] = b"<x:xmpmeta>secret</x:xmpmeta>"
    image.encoderinfo = {"exif": exif.tobytes(), "icc_profile": b"fake", "xmp": b"<x/>"}
    return Composition(image, Box(0, 0, 1, 1), True)


@pytest.mark.parametrize("image_format", ["png", "webp", "jpg", "zip"])
def test_encoded_output_carries_no_metadata(image_format: str) -> None:
    options = CutoutOptions(format=image_format)  # type: ignore[arg-type]
    encoded = encode(tagged_composition(), options.format)
    for secret in (b"PhoneMaker", b"secret", b"fake"):
        assert secret not in encoded.data
    if image_format == "zip":
        with zipfile.ZipFile(io.BytesIO(encoded.data)) as archive:
            for name in archive.namelist():
                assert_no_metadata(archive.read(name))
    else:
        assert_no_metadata(encoded.data)
