"""A blank photo (plain white, grey, black) is remove.bg's ``unknown_foreground``, charged
nothing, as remove.bg answers it — not a faint, false cutout."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from clearcutout.service.jobs.usage import usage_rows
from tests.support.removebg import Api, in_context

URL = "/v1.0/removebg"


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), colour).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize("colour", [(255, 255, 255), (128, 128, 128), (0, 0, 0)])
def test_a_blank_photo_is_unknown_foreground_and_free(
    api: Api, colour: tuple[int, int, int]
) -> None:
    response = api.client.post(
        URL,
        files={"image_file": ("blank.jpg", jpeg(colour), "image/jpeg")},
        data={"size": "full"},
        headers=api.headers,
    )
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["code"] == "unknown_foreground"
    assert "X-Credits-Charged" not in response.headers
    account = api.client.get("/v1.0/account", headers=api.headers).json()
    assert account["data"]["attributes"]["credits"]["total"] == 500
    for ctx in in_context(api.settings):
        outcomes = {row.outcome for row in usage_rows(ctx.db)}
    assert outcomes == {"failed"}


def test_a_real_photo_is_still_cut_out(api: Api, small_photo: bytes) -> None:
    response = api.client.post(URL, files={"image_file": small_photo}, headers=api.headers)
    assert response.status_code == 200, response.text
    assert response.headers["X-Credits-Charged"] == "0.25"
