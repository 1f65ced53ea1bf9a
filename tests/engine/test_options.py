"""Cutout options read from requests (our job API, remove.bg's dialect) and shown to users
(keyword arguments, OpenAPI schema), all derived from the one field list."""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

import pytest

from clearcutout.engine.options import (
    DEFAULT_ROI,
    OPTION_FIELDS,
    CutoutOptions,
    OptionChanges,
    options_from_fields,
    options_schema,
    parse_bool,
)
from clearcutout.errors import InvalidOptionError

MATTE_OPTIONS = {"refine", "foreground_estimation", "flip_average", "zoom_pass"}


def test_keyword_arguments_are_exactly_the_options_fields() -> None:
    fields = {field.name: field.type for field in dataclasses.fields(CutoutOptions)}
    assert get_type_hints(OptionChanges) == get_type_hints(CutoutOptions)
    assert list(OptionChanges.__annotations__) == list(fields)


def test_every_option_has_help_and_the_default_of_the_dataclass() -> None:
    assert [field.name for field in OPTION_FIELDS] == [
        field.name for field in dataclasses.fields(CutoutOptions)
    ]
    defaults = CutoutOptions()
    for field in OPTION_FIELDS:
        assert field.help.endswith("."), field.name
        assert getattr(defaults, field.name) == field.default
    assert defaults.roi == DEFAULT_ROI


def test_job_api_fields_are_text_or_json_values() -> None:
    options = options_from_fields(
        {
            "crop": "yes",
            "refine": "0",
            "semitransparency": False,
            "shadow_type": "drop",
            "shadow_opacity": "40",
            "format": "WEBP",
            "size": "4K",
            "roi": " 10% 0% 90% 100% ",
            "bg_color": "",  # empty means the default
        }
    )
    assert options == CutoutOptions(
        crop=True,
        refine=False,
        semitransparency=False,
        shadow_type="drop",
        shadow_opacity=40,
        format="webp",
        size="4k",
        roi="10% 0% 90% 100%",
    )
    assert options_from_fields({}) == CutoutOptions()


def test_remove_bg_dialect_has_its_defaults_and_ignores_our_matte_options() -> None:
    fields: dict[str, object] = {name: "false" for name in MATTE_OPTIONS}
    options = options_from_fields(fields, dialect="removebg")
    assert options == CutoutOptions(size="preview", format="auto")
    assert options_from_fields(fields) == CutoutOptions(**dict.fromkeys(MATTE_OPTIONS, False))


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"crop": "maybe"}, "invalid_crop"),
        ({"zoom_pass": ["true"]}, "invalid_zoom_pass"),
        ({"shadow_opacity": "101"}, "invalid_shadow_opacity"),
        ({"shadow_opacity": "half"}, "invalid_shadow_opacity"),
        ({"shadow_opacity": True}, "invalid_shadow_opacity"),
        ({"format": "gif"}, "invalid_format"),
        ({"roi": {"x1": 0}}, "invalid_roi"),
        ({"roi": "0 0 120% 100%"}, "roi_exceeds_bounds"),
        ({"format": "zip", "channels": "alpha"}, "invalid_format"),
    ],
)
def test_bad_request_values_name_the_option(fields: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        options_from_fields(fields)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("on", True), ("1", True), (1, True), ("OFF", False), (0, False)],
)
def test_one_boolean_parser(value: object, expected: bool) -> None:
    assert parse_bool("store", value) is expected


def test_a_bad_boolean_is_invalid_name() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_bool("store", "sometimes")
    assert caught.value.code == "invalid_store"


def test_the_schema_describes_every_option_with_its_dialects_default() -> None:
    ours = options_schema()
    assert list(ours) == [field.name for field in OPTION_FIELDS]
    assert ours["crop"] == {
        "type": "boolean",
        "default": False,
        "description": ours["crop"]["description"],
    }
    assert ours["format"]["enum"] == ["auto", "png", "webp", "jpg", "zip"]
    assert ours["format"]["default"] == "png"
    assert (ours["shadow_opacity"]["minimum"], ours["shadow_opacity"]["maximum"]) == (0, 100)
    removebg = options_schema("removebg")
    assert set(removebg) == set(ours) - MATTE_OPTIONS
    assert removebg["format"]["default"] == "auto" and removebg["size"]["default"] == "preview"
