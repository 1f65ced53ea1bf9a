"""Synchronous cutouts on workers: the image and the answer travel sealed with the region
key, bound to one transfer, and a worker's refusal comes back as the same error."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from clearcutout.engine import CutoutOptions
from clearcutout.errors import DecryptionError, UnsupportedImageError
from clearcutout.service.runtime import Runtime
from clearcutout.workers import remote
from tests.support.database import migrate
from tests.support.jobs import job_settings, small_photo


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    settings = job_settings(tmp_path / "data")
    migrate(settings)
    return Runtime.from_settings(settings)


def _request(
    runtime: Runtime, image: bytes, transfer: str, region: str = "eu"
) -> dict[str, object]:
    return {
        "transfer": transfer,
        "region": region,
        "model": "u2netp",
        "options": CutoutOptions(format="png").to_dict(),
        "require_foreground": False,
        "image": remote._seal(runtime, region, transfer, "image", image),
        "background": None,
    }


def test_the_image_and_the_cutout_travel_sealed(runtime: Runtime) -> None:
    photo = small_photo(96, 64)
    transfer = uuid.uuid4().hex
    request = _request(runtime, photo, transfer)
    # What the broker carries: JSON without the image's bytes in any readable form.
    message = json.dumps(request)
    assert base64.b64encode(photo[:48]).decode() not in message
    answer = remote.serve_cutout(runtime, request)
    assert "error" not in answer, answer
    sealed = base64.b64decode(answer["image"])
    assert not sealed.startswith(b"\x89PNG")  # what the result backend holds
    png = remote._open(runtime, "eu", transfer, "result", answer["image"])
    assert png.startswith(b"\x89PNG")
    assert (answer["width"], answer["height"]) == (96, 64)
    # Bound to this transfer, this direction and this region's key.
    with pytest.raises(DecryptionError):
        remote._open(runtime, "eu", uuid.uuid4().hex, "result", answer["image"])
    with pytest.raises(DecryptionError):
        remote._open(runtime, "eu", transfer, "image", answer["image"])
    with pytest.raises(DecryptionError):
        remote._open(runtime, "us", transfer, "result", answer["image"])
    runtime.close()


def test_a_refusal_comes_back_as_the_same_error(runtime: Runtime) -> None:
    answer = remote.serve_cutout(runtime, _request(runtime, b"not an image at all", "t1"))
    rebuilt = remote._rebuilt(answer["error"])
    assert isinstance(rebuilt, UnsupportedImageError)
    assert 400 <= rebuilt.http_status < 500  # a client error, as it would be locally
    assert rebuilt.code == answer["error"]["code"]
    runtime.close()
