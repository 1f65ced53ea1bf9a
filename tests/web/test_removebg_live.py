"""An unchanged remove.bg client against a real Uvicorn server on a loopback port.

The calls are remove.bg's own documented examples (Python ``requests``), with only the
base URL and the key changed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from clearcutout.config import RemoveBgSettings
from tests.support.app_server import running_app
from tests.support.image_server import ImageServer
from tests.support.removebg import create_key, removebg_settings


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    settings = removebg_settings(
        tmp_path / "data", removebg=RemoveBgSettings(rate_limit_per_minute=4)
    )
    key = create_key(settings, "client@example.org")
    with running_app(settings) as base_url:
        yield base_url, key


def test_remove_bg_documented_examples_work_unchanged(
    server: tuple[str, str], tmp_path: Path, small_photo: bytes, image_server: ImageServer
) -> None:
    base_url, api_key = server
    photo = tmp_path / "file.jpg"
    photo.write_bytes(small_photo)

    # remove.bg's "Sample code: image file upload" (Python).
    with photo.open("rb") as image_file:
        response = requests.post(
            f"{base_url}/v1.0/removebg",
            files={"image_file": image_file},
            data={"size": "auto"},
            headers={"X-Api-Key": api_key},
            timeout=60,
        )
    assert response.status_code == requests.codes.ok, response.text
    (tmp_path / "no-bg.png").write_bytes(response.content)
    with Image.open(tmp_path / "no-bg.png") as result:
        assert result.format == "PNG" and result.mode == "RGBA" and result.size == (320, 214)
    assert response.headers["X-Type"] == "other"
    assert float(response.headers["X-Credits-Charged"]) == 1.0
    assert response.headers["X-RateLimit-Remaining"] == "3"

    # remove.bg's "Sample code: image URL" (Python), form-urlencoded.
    response = requests.post(
        f"{base_url}/v1.0/removebg",
        data={"image_url": image_server.url("/photo.jpg"), "size": "auto"},
        headers={"X-Api-Key": api_key},
        timeout=60,
    )
    assert response.status_code == requests.codes.ok, response.text
    assert Image.open(io.BytesIO(response.content)).size == (320, 214)

    # Base64 in JSON, answered in JSON.
    response = requests.post(
        f"{base_url}/v1.0/removebg",
        json={"image_file_b64": base64.b64encode(small_photo).decode(), "format": "jpg"},
        headers={"X-Api-Key": api_key, "Accept": "application/json"},
        timeout=60,
    )
    assert response.status_code == requests.codes.ok, response.text
    data = response.json()["data"]
    assert Image.open(io.BytesIO(base64.b64decode(data["result_b64"]))).format == "JPEG"
    assert response.headers["X-Credits-Charged"] == "0.25"

    # The fourth request uses the last slot of the minute; the fifth is refused.
    account = requests.get(f"{base_url}/v1.0/account", headers={"X-Api-Key": api_key}, timeout=10)
    assert account.status_code == 200
    assert account.json()["data"]["attributes"]["credits"]["total"] == 500 - 2.25
    response = requests.post(
        f"{base_url}/v1.0/removebg",
        data={"image_url": "http://169.254.169.254/latest/meta-data/"},
        headers={"X-Api-Key": api_key},
        timeout=60,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_image_url"
    response = requests.post(
        f"{base_url}/v1.0/removebg",
        files={"image_file": small_photo},
        headers={"X-Api-Key": api_key},
        timeout=60,
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["errors"][0]["code"] == "rate_limit_exceeded"

    # Without a key: 403 in the same error shape.
    response = requests.post(
        f"{base_url}/v1.0/removebg", files={"image_file": small_photo}, timeout=60
    )
    assert response.status_code == 403
    assert set(response.json()["errors"][0]) == {"code", "title", "detail"}
