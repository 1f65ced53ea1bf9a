"""Property-based fuzzing of the option parsers (Hypothesis, a fixed number of examples).

Any request field values (text, numbers, nested JSON), in our dialect and in remove.bg's,
give options or an ``InvalidOptionError`` (a 400 naming the option), never another
exception; the value parsers keep what they return inside the image.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearcutout.engine.options import OPTION_FIELDS, CutoutOptions, options_from_fields
from clearcutout.engine.options.values import (
    parse_bg_color,
    parse_crop_margin,
    parse_position,
    parse_roi,
    parse_scale,
    target_dimensions,
)
from clearcutout.errors import InvalidOptionError

FUZZ = settings(
    max_examples=300,
    derandomize=True,  # the same examples on every run: CI failures reproduce
    database=None,  # nothing written to the working tree
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NAMES = [field.name for field in OPTION_FIELDS] + [
    "shadow_type[car]",
    "shadow_opacity[person]",
    "add_shadow",
]
#: Text that looks like option values: numbers, units, keywords, colours, separators.
TOKENS = st.sampled_from(
    [
        "0",
        "1",
        "-1",
        "10",
        "50%",
        "100%",
        "101%",
        "1e9",
        "nan",
        "inf",
        "px",
        "%",
        "#",
        "ff",
        "#fff",
        "#ff000080",
        "true",
        "false",
        "auto",
        "full",
        "png",
        "zip",
        "rgba",
        "drop",
        "center",
        "original",
        " ",
        ",",
        ".",
        "x",
        "\x00",
        "é",
        "9" * 30,
    ]
)
TEXT = st.one_of(st.lists(TOKENS, max_size=6).map(" ".join), st.text(max_size=40))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from(NAMES), VALUE, max_size=8),
    dialect=st.sampled_from(["api", "removebg"]),
)
def test_any_request_fields_give_options_or_an_invalid_option_error(
    fields: dict[str, Any], dialect: Any
) -> None:
    try:
        options = options_from_fields(fields, dialect=dialect, shadow_keys=["car", "person"])
    except InvalidOptionError as exc:
        assert exc.http_status == 400
        assert exc.message and "\n" not in exc.message
        return
    assert isinstance(options, CutoutOptions)
    assert CutoutOptions.from_dict(options.to_dict()) == options


@FUZZ
@given(text=TEXT, width=st.integers(1, 10_000), height=st.integers(1, 10_000))
def test_a_roi_is_inside_the_image_or_refused(text: str, width: int, height: int) -> None:
    try:
        box = parse_roi(text, width, height)
    except InvalidOptionError as exc:
        assert exc.code.startswith(("invalid_roi", "roi_"))
        return
    assert box.left >= 0 and box.top >= 0 and box.width > 0 and box.height > 0
    assert box.left + box.width <= width and box.top + box.height <= height


@FUZZ
@given(text=TEXT, width=st.integers(1, 10_000), height=st.integers(1, 10_000))
def test_a_crop_margin_is_clamped_or_refused(text: str, width: int, height: int) -> None:
    try:
        margins = parse_crop_margin(text, width, height)
    except InvalidOptionError as exc:
        assert exc.code == "invalid_crop_margin"
        return
    for side in (margins.top, margins.right, margins.bottom, margins.left):
        assert 0 <= side <= max(500, width, height)


@FUZZ
@given(text=st.one_of(TEXT, SCALAR))
def test_scale_position_and_colour_parse_or_are_refused(text: Any) -> None:
    for parse in (parse_scale, parse_position, parse_bg_color):
        try:
            value = parse(text)
        except InvalidOptionError as exc:
            assert exc.code.startswith("invalid_")
            continue
        if parse is parse_scale and value is not None:
            assert 0.1 <= value <= 1.0
        if parse is parse_position and value != "original":
            assert all(0.0 <= part <= 1.0 for part in value)


@FUZZ
@given(width=st.integers(1, 100_000), height=st.integers(1, 100_000), size=st.one_of(TEXT, SCALAR))
def test_target_dimensions_never_upscale_and_keep_the_shape(
    width: int, height: int, size: Any
) -> None:
    try:
        out_w, out_h = target_dimensions(width, height, size)
    except InvalidOptionError as exc:
        assert exc.code == "invalid_size"
        return
    assert 1 <= out_w <= width and 1 <= out_h <= height
    assert abs(out_w / out_h - width / height) <= max(width / height, height / width) * 0.5 + 1


@pytest.mark.parametrize("dialect", ["api", "removebg"])
def test_no_fields_give_the_dialects_defaults(dialect: Any) -> None:
    assert isinstance(options_from_fields({}, dialect=dialect), CutoutOptions)
