"""``/v1.0/removebg`` answers with the image unless the client prefers JSON: axios's
default ``Accept`` (remove.bg's own Node sample) must get PNG bytes, not JSON."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import missing_service
from tests.support.app_server import running_app
from tests.support.removebg import Api, create_key, removebg_settings

URL = "/v1.0/removebg"
AXIOS_DEFAULT = "application/json, text/plain, */*"
CLIENT = Path(__file__).parent / "axios_client"


def test_axios_default_accept_gets_png_bytes(api: Api, small_photo: bytes) -> None:
    response = api.client.post(
        URL,
        files={"image_file": ("photo.jpg", small_photo, "image/jpeg")},
        data={"size": "auto"},
        headers={**api.headers, "Accept": AXIOS_DEFAULT},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "PNG" and image.size == (320, 214)


@pytest.mark.parametrize("accept", ["application/json", "application/json;q=0.9, image/*;q=0.2"])
def test_json_when_the_client_prefers_it(api: Api, small_photo: bytes, accept: str) -> None:
    response = api.client.post(
        URL, files={"image_file": small_photo}, headers={**api.headers, "Accept": accept}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()["data"]) >= {"result_b64", "foreground_top"}


def test_zip_format_with_axios_default_accept_gets_the_zip(api: Api, small_photo: bytes) -> None:
    response = api.client.post(
        URL,
        files={"image_file": small_photo},
        data={"format": "zip"},
        headers={**api.headers, "Accept": AXIOS_DEFAULT},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.content[:2] == b"PK"


def test_removebg_node_sample_with_real_axios_writes_a_png(
    tmp_path: Path, small_photo: bytes
) -> None:
    """remove.bg's published Node sample, with the real axios from npm, against Uvicorn."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing_service("node and npm are needed to run the real axios client")
    client = tmp_path / "client"
    shutil.copytree(CLIENT, client)
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=client,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if installed.returncode != 0:
        missing_service(f"npm could not install axios: {installed.stderr.strip()[:300]}")
    settings = removebg_settings(tmp_path / "data")
    key = create_key(settings, "node@example.org")
    photo = tmp_path / "file.jpg"
    photo.write_bytes(small_photo)
    output = tmp_path / "no-bg.png"
    with running_app(settings) as base_url:
        ran = subprocess.run(
            [node, "sample.js", base_url, key, str(photo), str(output)],
            cwd=client,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == AXIOS_DEFAULT  # what axios really sent
    with Image.open(output) as image:
        assert image.format == "PNG" and image.mode == "RGBA" and image.size == (320, 214)
