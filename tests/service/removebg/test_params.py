"""remove.bg's parameters mapped to engine options and image sources, without HTTP or a
model: the service's :func:`parse_request` after the web layer's source reading."""

from __future__ import annotations

import base64

import pytest

from clearcutout.errors import FileTooLargeError, ImageSourceError, InvalidOptionError
from clearcutout.service.removebg import RemoveBgRequest
from clearcutout.service.removebg import parse_request as parse_service_request
from clearcutout.web.uploads import RequestBody, UploadedFile, background_source, image_source

FILE = {"image_file": b"jpeg bytes"}


def parse_request(fields: dict[str, object], files: dict[str, bytes]) -> RemoveBgRequest:
    """What the route does with a body's fields and file parts."""
    body = RequestBody(
        fields=dict(fields),
        files={name: UploadedFile(data, "upload") for name, data in files.items()},
    )
    image = image_source(body, upload_mb=1, urls=True, bad_base64_code="failed_to_read_image")
    background = background_source(body)
    return parse_service_request(
        body.fields,
        image_data=image.data,
        image_url=image.url,
        background_data=background.data if background else None,
        background_url=background.url if background else None,
    )


def test_defaults_follow_remove_bg() -> None:
    request = parse_request({}, FILE)
    options = request.options
    assert options.size == "preview"
    assert options.format == "auto"
    assert options.channels == "rgba"
    assert options.roi == "0% 0% 100% 100%"
    assert options.crop is False
    assert options.scale == "original" and options.position == "original"
    assert options.bg_color is None
    assert options.shadow_type == "none" and options.shadow_opacity is None
    assert options.semitransparency is True
    assert request.requested_type == "auto" and request.reported_type == "other"
    assert request.credits == 0.25
    assert request.image_data == b"jpeg bytes"


@pytest.mark.parametrize(
    ("given", "size", "credits"),
    [
        ("PREVIEW", "preview", 0.25),
        ("small", "small", 0.25),
        ("regular", "regular", 0.25),
        ("full", "full", 1.0),
        ("auto", "auto", 1.0),
        ("4K", "4k", 1.0),
        ("50mp", "50MP", 1.0),
        ("medium", "medium", 1.0),
        ("hd", "hd", 1.0),
    ],
)
def test_sizes_and_their_price(given: str, size: str, credits: float) -> None:
    request = parse_request({"size": given}, FILE)
    assert request.options.size == size
    assert request.credits == credits


def test_json_values_may_be_native_types() -> None:
    request = parse_request(
        {
            "image_file_b64": base64.b64encode(b"abc").decode(),
            "crop": True,
            "semitransparency": False,
            "shadow_type": "3d",
            "shadow_opacity": 40,
            "shadow_type_unknown_extra": "ignored",
        },
        {},
    )
    assert request.image_data == b"abc"
    assert request.options.crop is True and request.options.semitransparency is False
    assert request.options.shadow_type == "3D" and request.options.shadow_opacity == 40


def test_a_data_url_in_image_file_b64_is_accepted() -> None:
    value = "data:image/png;base64," + base64.b64encode(b"png!").decode()
    assert parse_request({"image_file_b64": value}, {}).image_data == b"png!"


@pytest.mark.parametrize(
    ("fields", "shadow_type", "opacity"),
    [
        ({"add_shadow": "true"}, "auto", None),
        ({"add_shadow": "false"}, "none", None),
        ({"shadow_type": "drop", "shadow_opacity": "auto"}, "drop", None),
        ({"type": "car", "shadow_type[car]": "car", "shadow_opacity[car]": "30"}, "car", 30),
        ({"type": "person", "shadow_type[car]": "car"}, "none", None),
        ({"type": "car", "shadow_type": "drop", "shadow_type[car]": "car"}, "car", None),
        ({"type": "product", "shadow_type": {"product": "drop"}}, "drop", None),
        ({"shadow_type[other]": "drop"}, "drop", None),
    ],
)
def test_shadow_parameters_per_type_and_the_deprecated_alias(
    fields: dict[str, object], shadow_type: str, opacity: int | None
) -> None:
    options = parse_request(fields, FILE).options
    assert (options.shadow_type, options.shadow_opacity) == (shadow_type, opacity)


def test_unknown_types_are_accepted_and_reported_as_other() -> None:
    request = parse_request({"type": "spaceship", "type_level": "latest"}, FILE)
    assert request.reported_type == "other"


@pytest.mark.parametrize(
    ("fields", "files", "code"),
    [
        ({}, {}, "missing_source"),
        ({"image_file": "text, not a file"}, {}, "missing_source"),
        ({"image_url": "http://x.example/a.jpg"}, FILE, "multiple_sources"),
        ({"image_file_b64": "AAAA", "image_url": "http://x.example/a.jpg"}, {}, "multiple_sources"),
        ({"image_file_b64": "%%%"}, {}, "failed_to_read_image"),
        ({"image_file_b64": 12}, {}, "failed_to_read_image"),
    ],
)
def test_source_errors(fields: dict[str, object], files: dict[str, bytes], code: str) -> None:
    with pytest.raises(ImageSourceError) as caught:
        parse_request(fields, files)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("fields", "files", "code"),
    [
        ({"bg_color": "fff", "bg_image_url": "http://x/b.jpg"}, {}, "multiple_bg_sources"),
        ({"bg_color": "fff"}, {"bg_image_file": b"x"}, "multiple_bg_sources"),
        ({"bg_image_url": "http://x/b.jpg"}, {"bg_image_file": b"x"}, "multiple_bg_sources"),
        ({"crop": "perhaps"}, {}, "invalid_crop"),
        ({"crop": ["a"]}, {}, "invalid_crop"),
        ({"shadow_type": "soft"}, {}, "invalid_shadow_type"),
        ({"shadow_opacity[person]": "-1", "type": "person"}, {}, "invalid_shadow_opacity"),
        ({"shadow_opacity": True}, {}, "invalid_shadow_opacity"),
        ({"add_shadow": "true", "shadow_type": "drop"}, {}, "multiple_shadow_params"),
        ({"size": "giant"}, {}, "invalid_size"),
        ({"format": "bmp"}, {}, "invalid_format"),
        ({"channels": "rgb"}, {}, "invalid_channels"),
        ({"bg_color": "#12345"}, {}, "invalid_bg_color"),
        ({"scale": "200%"}, {}, "invalid_scale"),
        ({"position": "10% 20% 30%"}, {}, "invalid_position"),
        ({"roi": "a b c d"}, {}, "invalid_roi"),
        ({"crop_margin": "5 5 5"}, {}, "invalid_crop_margin"),
        ({"semitransparency": "sometimes"}, {}, "invalid_semitransparency"),
    ],
)
def test_option_errors(fields: dict[str, object], files: dict[str, bytes], code: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_request(fields, {**FILE, **files})
    assert caught.value.code == code


def test_base64_may_be_wrapped_and_a_data_url() -> None:
    encoded = base64.encodebytes(b"x" * 200).decode()  # wrapped at 76 characters
    assert "\n" in encoded
    assert parse_request({"image_file_b64": f"data:image/png;base64,{encoded}"}, {}).image_data == (
        b"x" * 200
    )


def test_base64_over_the_upload_limit_is_file_too_large() -> None:
    with pytest.raises(FileTooLargeError):
        parse_request({"image_file_b64": base64.b64encode(b"x" * 1_100_000).decode()}, {})


def test_an_api_without_url_sources_does_not_take_image_url() -> None:
    body = RequestBody(fields={"image_url": "https://example.org/a.jpg"})
    with pytest.raises(ImageSourceError) as caught:
        image_source(body, upload_mb=1, urls=False, bad_base64_code="invalid_input")
    assert caught.value.code == "missing_source"
    body = RequestBody(fields={"image_file_b64": "%%%"})
    with pytest.raises(ImageSourceError) as caught:
        image_source(body, upload_mb=1, urls=False, bad_base64_code="invalid_input")
    assert caught.value.code == "invalid_input"


@pytest.mark.parametrize(
    ("fields", "quality"),
    [
        ({}, "fast"),  # remove.bg's default size is preview: a quarter credit, ≈0.25 MP
        ({"size": "full"}, None),  # the server's default
        ({"size": "full", "type_level": "1"}, None),
        ({"size": "full", "type_level": "none"}, "fast"),
        ({"type_level": "2"}, "best"),
        ({"size": "hd", "type_level": "latest"}, "best"),
        ({"type_level": "latest", "quality": "balanced"}, "balanced"),  # ours wins
        ({"size": "full", "quality": "FAST"}, "fast"),
    ],
)
def test_quality_follows_our_field_then_type_level_then_size(
    fields: dict[str, object], quality: str | None
) -> None:
    assert parse_request(fields, FILE).options.quality == quality


def test_bad_type_level_and_quality_are_refused() -> None:
    with pytest.raises(InvalidOptionError) as level:
        parse_request({"type_level": "3"}, FILE)
    assert level.value.code == "invalid_type_level"
    with pytest.raises(InvalidOptionError) as quality:
        parse_request({"quality": "ultra"}, FILE)
    assert quality.value.code == "invalid_quality"
