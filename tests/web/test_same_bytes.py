"""One encoder: the same photo and options give the same file, byte for byte, from the
library, ``/api/v1/jobs`` (processed at once, or queued and downloaded) and
``/v1.0/removebg`` (with remove.bg's defaults set to ours)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clearcutout.engine import Remover
from clearcutout.engine.options import options_from_fields
from clearcutout.web import create_app
from tests.support.removebg import create_key, photo_bytes, removebg_settings

OPTION_SETS: list[dict[str, str]] = [
    {},
    {"format": "jpg", "bg_color": "81d4fa"},
    {"channels": "alpha"},
    {"crop": "true", "crop_margin": "10%", "format": "webp"},
    {"format": "zip"},
    {"format": "auto", "bg_color": "ffffff80"},
]


def queued_result(
    client: TestClient, headers: dict[str, str], photo: bytes, fields: dict[str, str]
) -> bytes:
    created = client.post(
        "/api/v1/jobs", headers=headers, files={"image_file": ("p.jpg", photo)}, data=fields
    )
    assert created.status_code == 202, created.text
    job = created.json()
    deadline = time.monotonic() + 60
    while client.get(job["status_url"], headers=headers).json()["status"] != "done":
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.1)
    result = client.get(job["result_url"], headers=headers)
    assert result.status_code == 200, result.text
    return result.content


@pytest.mark.parametrize("fields", OPTION_SETS, ids=lambda fields: "&".join(fields) or "defaults")
def test_every_api_writes_the_same_bytes(tmp_path: Path, fields: dict[str, str]) -> None:
    settings = removebg_settings(
        tmp_path / "data", executor="local", worker_threads=1, job_poll_seconds=0.1
    )
    headers = {"X-Api-Key": create_key(settings, "bytes@example.org", ["images"])}
    photo = photo_bytes(320, 214)
    library = Remover("u2netp", settings=settings).remove_bytes(photo, options_from_fields(fields))
    upload = {"image_file": ("p.jpg", photo)}
    with TestClient(create_app(settings)) as client:
        at_once = client.post(
            "/api/v1/jobs", headers=headers, files=upload, data={**fields, "store": "false"}
        )
        assert at_once.status_code == 200, at_once.text
        queued = queued_result(client, headers, photo, fields)
        removebg_fields = {"size": "full", "format": "png", **fields}
        removebg = client.post(
            "/v1.0/removebg", headers=headers, files=upload, data=removebg_fields
        )
        assert removebg.status_code == 200, removebg.text
    assert at_once.headers["content-type"] == library.media_type
    assert at_once.content == library.data
    assert queued == library.data
    assert removebg.content == library.data
