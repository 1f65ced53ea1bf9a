"""``Accept`` negotiation as the remove.bg API uses it: the image unless JSON is preferred."""

from __future__ import annotations

import pytest

from clearcutout.web.negotiation import parse_accept, prefers_json, quality_of

AXIOS_DEFAULT = "application/json, text/plain, */*"


@pytest.mark.parametrize(
    ("accept", "json"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("image/png", False),
        ("image/*", False),
        (AXIOS_DEFAULT, False),  # axios's default: */* accepts the image as much as JSON
        ("application/json, image/*", False),  # a tie goes to the image
        ("application/json", True),
        ("Application/JSON", True),
        ("application/json, text/plain", True),  # no image type at all
        ("application/json;q=1, */*;q=0.1", True),
        ("application/json, image/png;q=0.5", True),
        ("application/json;q=0.5, image/png", False),
        ("application/json;q=0, */*", False),  # JSON refused outright
        ("application/json, image/png;q=0", True),
        ("application/*", False),  # JSON must be named, not implied
        ("garbage, application/json;q=oops", False),  # a bad q counts as 0
    ],
)
def test_json_only_when_the_client_prefers_it(accept: str | None, json: bool) -> None:
    assert prefers_json(accept, "image/png") is json


def test_the_most_specific_range_sets_the_quality() -> None:
    ranges = parse_accept("image/*;q=0.3, image/png;q=0.8, */*;q=0.1")
    assert quality_of(ranges, "image/png") == 0.8
    assert quality_of(ranges, "image/webp") == 0.3
    assert quality_of(ranges, "application/zip") == 0.1
    assert quality_of(parse_accept("text/html"), "image/png") == 0.0
