"""``/v1.0/removebg`` and ``/v1.0/account`` as a remove.bg client sees them.

Every request here is built only from remove.bg's published API description: the
documented bodies (multipart ``image_file``, JSON ``image_file_b64``, form-urlencoded
``image_url``), parameter names and headers. The app runs in FastAPI's TestClient; the
same calls against a real Uvicorn server are in ``test_live.py``.
"""

from __future__ import annotations

import base64
import io
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from clearcutout.config import RemoveBgSettings
from clearcutout.service import removebg
from clearcutout.service.jobs.usage import usage_rows
from tests.support.image_server import ImageServer
from tests.support.removebg import Api, create_key, in_context, open_api, removebg_settings

URL = "/v1.0/removebg"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def image_of(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def assert_error(response: object, status: int, code: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"errors"}
    [error] = body["errors"]
    assert set(error) == {"code", "title", "detail"}
    assert error["code"] == code, body
    assert "X-Credits-Charged" not in response.headers  # type: ignore[attr-defined]


# ------------------------------------------------------------------------ success


def test_multipart_upload_with_size_auto_returns_a_png_cutout(api: Api, small_photo: bytes) -> None:
    response = api.client.post(
        URL,
        files={"image_file": ("photo.jpg", small_photo, "image/jpeg")},
        data={"size": "auto"},
        headers=api.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = image_of(response.content)
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.size == (320, 214)
    assert response.headers["X-Width"] == "320"
    assert response.headers["X-Height"] == "214"
    assert response.headers["X-Type"] == "other"
    assert float(response.headers["X-Credits-Charged"]) == 1.0
    top, left = (
        int(response.headers["X-Foreground-Top"]),
        int(response.headers["X-Foreground-Left"]),
    )
    width = int(response.headers["X-Foreground-Width"])
    height = int(response.headers["X-Foreground-Height"])
    assert 0 <= left < left + width <= 320 and 0 <= top < top + height <= 214
    assert width > 50 and height > 30  # the ball and the cup
    assert int(response.headers["X-RateLimit-Limit"]) == 1000
    assert int(response.headers["X-RateLimit-Remaining"]) == 999
    assert abs(int(response.headers["X-RateLimit-Reset"]) - (time.time() + 60)) < 5
    alpha = image.getchannel("A")
    assert alpha.getextrema() == (0, 255)  # transparent background, opaque subject


def test_size_defaults_to_preview_and_costs_a_quarter_credit(api: Api, large_photo: bytes) -> None:
    response = api.client.post(
        URL, files={"image_file": ("photo.jpg", large_photo)}, headers=api.headers
    )
    assert response.status_code == 200, response.text
    width, height = image_of(response.content).size
    assert width * height <= 250_000 and width > 550  # ≈0.25 MP, aspect kept
    assert abs(width / height - 1.5) < 0.01
    assert response.headers["X-Width"] == str(width)
    assert response.headers["X-Credits-Charged"] == "0.25"


@pytest.mark.parametrize(
    ("size", "pixels"),
    [("preview", 250_000), ("small", 250_000), ("regular", 250_000), ("full", 614_400),
     ("4k", 614_400), ("50MP", 614_400), ("medium", 614_400), ("hd", 614_400)],
)  # fmt: skip
def test_every_size_name_is_accepted(api: Api, large_photo: bytes, size: str, pixels: int) -> None:
    response = api.client.post(
        URL, files={"image_file": large_photo}, data={"size": size}, headers=api.headers
    )
    assert response.status_code == 200, response.text
    width, height = image_of(response.content).size
    assert width * height <= pixels and width * height > pixels * 0.97
    expected = "0.25" if size in ("preview", "small", "regular") else "1"
    assert response.headers["X-Credits-Charged"] == expected


def test_base64_json_body_with_json_response(api: Api, small_photo: bytes) -> None:
    response = api.client.post(
        URL,
        json={"image_file_b64": base64.b64encode(small_photo).decode(), "size": "full"},
        headers={**api.headers, "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    data = response.json()["data"]
    assert set(data) == {
        "result_b64",
        "foreground_top",
        "foreground_left",
        "foreground_width",
        "foreground_height",
    }
    image = image_of(base64.b64decode(data["result_b64"]))
    assert image.size == (320, 214) and image.mode == "RGBA"
    assert data["foreground_width"] == int(response.headers["X-Foreground-Width"])
    assert data["foreground_top"] == int(response.headers["X-Foreground-Top"])
    assert response.headers["X-Credits-Charged"] == "1"


def test_form_urlencoded_with_image_url(api: Api, image_server: ImageServer) -> None:
    response = api.client.post(
        URL,
        data={"image_url": image_server.url("/photo.jpg"), "size": "auto"},
        headers=api.headers,
    )
    assert response.status_code == 200, response.text
    assert image_of(response.content).size == (320, 214)
    assert [path for path, _ in image_server.requests] == ["/photo.jpg"]


@pytest.mark.parametrize(
    ("image_format", "media_type", "pil_format"),
    [("png", "image/png", "PNG"), ("jpg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP")],
)
def test_formats(
    api: Api, small_photo: bytes, image_format: str, media_type: str, pil_format: str
) -> None:
    response = api.client.post(
        URL,
        files={"image_file": small_photo},
        data={"format": image_format},
        headers=api.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert image_of(response.content).format == pil_format


def test_zip_holds_a_colour_jpg_and_an_alpha_png(api: Api, small_photo: bytes) -> None:
    response = api.client.post(
        URL, files={"image_file": small_photo}, data={"format": "zip"}, headers=api.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        colour = image_of(archive.read("color.jpg"))
        alpha = image_of(archive.read("alpha.png"))
    assert colour.format == "JPEG" and alpha.format == "PNG" and alpha.mode == "L"
    assert colour.size == alpha.size == (320, 214)


def test_format_auto_is_jpg_on_an_opaque_background(api: Api, small_photo: bytes) -> None:
    transparent = api.client.post(
        URL, files={"image_file": small_photo}, data={"format": "auto"}, headers=api.headers
    )
    assert transparent.headers["content-type"] == "image/png"
    opaque = api.client.post(
        URL, files={"image_file": small_photo}, data={"bg_color": "81d4fa"}, headers=api.headers
    )
    assert opaque.headers["content-type"] == "image/jpeg"


def test_channels_alpha_returns_the_matte(api: Api, small_photo: bytes) -> None:
    response = api.client.post(
        URL, files={"image_file": small_photo}, data={"channels": "alpha"}, headers=api.headers
    )
    assert response.status_code == 200, response.text
    matte = image_of(response.content)
    assert matte.mode == "L" and matte.size == (320, 214)
    assert matte.getextrema() == (0, 255)


def test_bg_color_fills_the_background(api: Api, small_photo: bytes) -> None:
    response = api.client.post(
        URL,
        files={"image_file": small_photo},
        data={"bg_color": "ff0000", "format": "png"},
        headers=api.headers,
    )
    image = image_of(response.content).convert("RGBA")
    assert image.getpixel((3, 3)) == (255, 0, 0, 255)  # a corner is background


def test_bg_image_url_and_bg_image_file_replace_the_background(
    api: Api, small_photo: bytes, image_server: ImageServer
) -> None:
    by_url = api.client.post(
        URL,
        files={"image_file": small_photo},
        data={"bg_image_url": image_server.url("/background.png"), "format": "png"},
        headers=api.headers,
    )
    assert by_url.status_code == 200, by_url.text
    background = image_server.files["/background.png"][0]
    by_file = api.client.post(
        URL,
        files={"image_file": small_photo, "bg_image_file": background},
        data={"format": "png"},
        headers=api.headers,
    )
    assert by_file.status_code == 200, by_file.text
    assert image_of(by_url.content).mode == "RGB"  # opaque: the photo fills it
    assert by_url.content == by_file.content


def test_crop_cuts_to_the_subject(api: Api, small_photo: bytes) -> None:
    full = api.client.post(URL, files={"image_file": small_photo}, headers=api.headers)
    cropped = api.client.post(
        URL, files={"image_file": small_photo}, data={"crop": "true"}, headers=api.headers
    )
    assert cropped.status_code == 200, cropped.text
    size = image_of(cropped.content).size
    assert size == (
        int(full.headers["X-Foreground-Width"]),
        int(full.headers["X-Foreground-Height"]),
    )
    assert cropped.headers["X-Foreground-Left"] == "0"
    assert cropped.headers["X-Foreground-Top"] == "0"
    margin = api.client.post(
        URL,
        files={"image_file": small_photo},
        data={"crop": "true", "crop_margin": "10px"},
        headers=api.headers,
    )
    assert image_of(margin.content).size == (size[0] + 20, size[1] + 20)


def test_roi_scale_position_and_shadow_are_applied(api: Api, small_photo: bytes) -> None:
    response = api.client.post(
        URL,
        files={"image_file": small_photo},
        data={
            "roi": "0% 0% 50% 100%",
            "scale": "50%",
            "position": "0% 0%",
            "shadow_type[person]": "drop",
            "type": "person",
            "shadow_opacity": "80",
            "semitransparency": "false",
            "type_level": "2",
        },
        headers=api.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Type"] == "person"
    assert response.headers["X-Foreground-Left"] == "0"
    assert response.headers["X-Foreground-Top"] == "0"


@pytest.mark.parametrize("requested", removebg.TYPES)
def test_every_type_is_accepted_and_reported(api: Api, small_photo: bytes, requested: str) -> None:
    response = api.client.post(
        URL, files={"image_file": small_photo}, data={"type": requested}, headers=api.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Type"] == ("other" if requested == "auto" else requested)


def test_the_account_reports_credits_in_remove_bg_shape(api: Api, small_photo: bytes) -> None:
    before = api.client.get("/v1.0/account", headers=api.headers)
    assert before.status_code == 200, before.text
    attributes = before.json()["data"]["attributes"]
    assert attributes["credits"] == {
        "total": 500,
        "subscription": 500,
        "payg": 0,
        "enterprise": 0,
    }
    assert attributes["api"] == {"free_calls": 0, "sizes": "all"}
    assert all(name in before.headers for name in RATE_HEADERS)
    api.client.post(URL, files={"image_file": small_photo}, headers=api.headers)  # preview
    api.client.post(
        URL, files={"image_file": small_photo}, data={"size": "full"}, headers=api.headers
    )
    api.client.post(URL, data={"size": "bogus"}, headers=api.headers)  # an error: free
    after = api.client.get("/v1.0/account", headers=api.headers)
    assert after.json()["data"]["attributes"]["credits"]["total"] == 498.75


def test_usage_is_counted_anonymously_and_nothing_else_is_stored(
    api: Api, small_photo: bytes
) -> None:
    response = api.client.post(URL, files={"image_file": small_photo}, headers=api.headers)
    assert response.status_code == 200
    failed = api.client.post(URL, files={"image_file": b"not an image"}, headers=api.headers)
    assert_error(failed, 400, "invalid_file_type")
    for ctx in in_context(api.settings):
        rows = usage_rows(ctx.db)
    outcomes = {row.outcome: row.count for row in rows}
    assert outcomes == {"done": 1, "failed": 1}
    assert {row.model for row in rows} == {"u2netp"}
    storage = Path(api.settings.data_dir) / "storage"
    assert not storage.exists() or not any(p.is_file() for p in storage.rglob("*"))


# ------------------------------------------------------------------------ errors


def test_missing_and_invalid_keys_get_403(api: Api, small_photo: bytes) -> None:
    files = {"image_file": small_photo}
    missing = api.client.post(URL, files=files)
    assert_error(missing, 403, "missing_api_key")
    assert all(name in missing.headers for name in RATE_HEADERS)
    invalid = api.client.post(URL, files=files, headers={"X-Api-Key": "cck_0000_nope"})
    assert_error(invalid, 403, "invalid_api_key")
    garbage = api.client.post(URL, files=files, headers={"X-Api-Key": "INSERT_YOUR_API_KEY"})
    assert_error(garbage, 403, "invalid_api_key")
    assert_error(api.client.get("/v1.0/account"), 403, "missing_api_key")


def test_a_key_without_the_images_scope_gets_403(api: Api, small_photo: bytes) -> None:
    key = create_key(api.settings, "reader@example.org", scopes=["account"])
    response = api.client.post(URL, files={"image_file": small_photo}, headers={"X-Api-Key": key})
    assert_error(response, 403, "insufficient_scope")
    assert api.client.get("/v1.0/account", headers={"X-Api-Key": key}).status_code == 200


def test_a_session_cookie_is_not_enough(api: Api, small_photo: bytes) -> None:
    """remove.bg authenticates by key only; no CSRF token is asked for, no cookie used."""
    api.client.cookies.set("session-token", "a-browser-session")
    response = api.client.post(URL, files={"image_file": small_photo})
    assert_error(response, 403, "missing_api_key")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({}, "missing_source"),
        ({"size": "auto"}, "missing_source"),
        ({"image_url": "http://a.example/x.jpg", "image_file_b64": "AAAA"}, "multiple_sources"),
        ({"image_url": "ftp://example.com/x.jpg"}, "invalid_image_url"),
        ({"image_url": "http://169.254.169.254/latest/meta-data/"}, "invalid_image_url"),
        ({"image_url": "http://10.0.0.1/x.jpg"}, "invalid_image_url"),
        ({"image_file_b64": "***not base64***"}, "failed_to_read_image"),
        ({"image_file_b64": base64.b64encode(b"hello").decode()}, "invalid_file_type"),
    ],
)
def test_source_errors(api: Api, data: dict[str, str], code: str) -> None:
    assert_error(api.client.post(URL, data=data, headers=api.headers), 400, code)


def test_a_repeated_image_file_part_is_multiple_sources(api: Api, small_photo: bytes) -> None:
    files = [("image_file", ("a.jpg", small_photo)), ("image_file", ("b.jpg", small_photo))]
    response = api.client.post(URL, files=files, headers=api.headers)
    assert_error(response, 400, "multiple_sources")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"size": "huge"}, "invalid_size"),
        ({"format": "gif"}, "invalid_format"),
        ({"format": "zip", "channels": "alpha"}, "invalid_format"),
        ({"channels": "rgb"}, "invalid_channels"),
        ({"roi": "0 0 10"}, "invalid_roi"),
        ({"roi": "0% 0% 200% 100%"}, "roi_exceeds_bounds"),
        ({"roi": "0 0 5000px 10px"}, "roi_exceeds_bounds"),
        ({"roi": "50% 0% 50% 100%"}, "roi_region_empty"),
        ({"crop": "true", "crop_margin": "1 2 3"}, "invalid_crop_margin"),
        ({"scale": "5%"}, "invalid_scale"),
        ({"position": "left"}, "invalid_position"),
        ({"bg_color": "notacolour"}, "invalid_bg_color"),
        ({"bg_color": "fff", "bg_image_url": "http://a.example/b.jpg"}, "multiple_bg_sources"),
        ({"bg_image_url": "file:///etc/passwd"}, "invalid_bg_image_url"),
        ({"bg_image_url": "http://192.168.1.1/b.jpg"}, "invalid_bg_image_url"),
        ({"semitransparency": "maybe"}, "invalid_semitransparency"),
        ({"shadow_type": "drop", "add_shadow": "true"}, "multiple_shadow_params"),
        ({"shadow_opacity": "101"}, "invalid_shadow_opacity"),
        ({"shadow_opacity": "dark"}, "invalid_shadow_opacity"),
    ],
)
def test_parameter_errors(api: Api, small_photo: bytes, data: dict[str, str], code: str) -> None:
    response = api.client.post(
        URL, files={"image_file": small_photo}, data=data, headers=api.headers
    )
    assert_error(response, 400, code)


def test_download_failures(api: Api, small_photo: bytes, image_server: ImageServer) -> None:
    missing = image_server.url("/status/404")
    assert_error(
        api.client.post(URL, data={"image_url": missing}, headers=api.headers),
        400,
        "failed_image_download",
    )
    response = api.client.post(
        URL,
        files={"image_file": small_photo},
        data={"bg_image_url": missing},
        headers=api.headers,
    )
    assert_error(response, 400, "failed_bg_download")


def test_a_redirect_to_an_internal_address_is_refused(api: Api, image_server: ImageServer) -> None:
    url = image_server.redirect("http://169.254.169.254/latest/meta-data/")
    assert_error(
        api.client.post(URL, data={"image_url": url}, headers=api.headers),
        400,
        "invalid_image_url",
    )


def test_loopback_urls_are_refused_without_the_test_hook(
    tmp_path: Path, image_server: ImageServer
) -> None:
    from clearcutout.config import UrlFetchSettings

    settings = removebg_settings(tmp_path / "data", url_fetch=UrlFetchSettings())
    for closed in open_api(settings):
        for url in (image_server.url("/photo.jpg"), f"http://localhost:{image_server.port}/"):
            response = closed.client.post(URL, data={"image_url": url}, headers=closed.headers)
            assert_error(response, 400, "invalid_image_url")
    assert image_server.requests == []


def test_file_errors(tmp_path: Path, small_photo: bytes) -> None:
    settings = removebg_settings(tmp_path / "data", max_upload_mb=0.05, max_megapixels=0.01)
    for small in open_api(settings):
        big = b"\xff\xd8" + b"\0" * 60_000
        assert_error(
            small.client.post(URL, files={"image_file": big}, headers=small.headers),
            400,
            "file_too_large",
        )
        assert_error(
            small.client.post(
                URL,
                json={"image_file_b64": base64.b64encode(big).decode()},
                headers=small.headers,
            ),
            400,
            "file_too_large",
        )
        assert_error(
            small.client.post(URL, files={"image_file": small_photo}, headers=small.headers),
            400,
            "resolution_too_high",
        )


def test_truncated_and_empty_images_cannot_be_read(api: Api, small_photo: bytes) -> None:
    for data in (small_photo[:2000], b""):
        response = api.client.post(URL, files={"image_file": data}, headers=api.headers)
        assert_error(response, 400, "failed_to_read_image")


def test_an_image_without_a_foreground_is_unknown_foreground(api: Api) -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (120, 80), (200, 30, 30, 0)).save(buffer, format="PNG")
    response = api.client.post(
        URL, files={"image_file": buffer.getvalue()}, data={"size": "full"}, headers=api.headers
    )
    assert_error(response, 400, "unknown_foreground")
    account = api.client.get("/v1.0/account", headers=api.headers).json()
    assert account["data"]["attributes"]["credits"]["total"] == 500


def test_malformed_bodies_are_400(api: Api) -> None:
    response = api.client.post(
        URL, content=b"{not json", headers={**api.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    response = api.client.post(
        URL, content=b"[1, 2]", headers={**api.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_rate_limit_gives_429_with_retry_after(tmp_path: Path, small_photo: bytes) -> None:
    settings = removebg_settings(
        tmp_path / "data", removebg=RemoveBgSettings(rate_limit_per_minute=2)
    )
    for limited in open_api(settings):
        first = limited.client.post(URL, data={"size": "bogus"}, headers=limited.headers)
        assert first.headers["X-RateLimit-Remaining"] == "1"
        second = limited.client.post(
            URL, files={"image_file": small_photo}, headers=limited.headers
        )
        assert second.status_code == 200
        assert second.headers["X-RateLimit-Remaining"] == "0"
        third = limited.client.post(URL, files={"image_file": small_photo}, headers=limited.headers)
        assert_error(third, 429, "rate_limit_exceeded")
        assert 1 <= int(third.headers["Retry-After"]) <= 60
        assert third.headers["X-RateLimit-Remaining"] == "0"
        assert int(third.headers["X-RateLimit-Reset"]) >= int(time.time())
        # Another key has its own window; the account endpoint too.
        other = create_key(settings, "other@example.org")
        response = limited.client.post(
            URL, files={"image_file": small_photo}, headers={"X-Api-Key": other}
        )
        assert response.status_code == 200
        assert limited.client.get("/v1.0/account", headers=limited.headers).status_code == 200
        # Guessing keys from one address is limited too.
        for _ in range(2):
            limited.client.post(URL, headers={"X-Api-Key": "cck_dead_beef"})
        assert_error(
            limited.client.post(URL, headers={"X-Api-Key": "cck_dead_beef"}),
            429,
            "rate_limit_exceeded",
        )


def test_spent_credits_give_402_and_cost_nothing(tmp_path: Path, small_photo: bytes) -> None:
    settings = removebg_settings(tmp_path / "data", monthly_credits=1)
    for poor in open_api(settings):
        full = poor.client.post(
            URL, files={"image_file": small_photo}, data={"size": "full"}, headers=poor.headers
        )
        assert full.status_code == 200
        refused = poor.client.post(URL, files={"image_file": small_photo}, headers=poor.headers)
        assert_error(refused, 402, "insufficient_credits")
        assert all(name in refused.headers for name in RATE_HEADERS)
        account = poor.client.get("/v1.0/account", headers=poor.headers).json()
        assert account["data"]["attributes"]["credits"]["total"] == 0


def test_nothing_about_the_request_reaches_the_logs(
    api: Api, small_photo: bytes, image_server: ImageServer, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    url = image_server.url("/photo.jpg?sig=secret-signature")
    image_server.files["/photo.jpg"] = (small_photo, "image/jpeg")
    response = api.client.post(URL, data={"image_url": url}, headers=api.headers)
    assert response.status_code == 200
    assert "secret-signature" not in caplog.text
    assert api.key not in caplog.text
    assert "removebg.processed" in caplog.text


def test_at_most_max_concurrent_images_are_processed_at_once(
    tmp_path: Path, small_photo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    # The shared synchronous pool (remove.bg and store=false) takes the remover here.
    from clearcutout.service.jobs import sync as service

    settings = removebg_settings(
        tmp_path / "data", removebg=RemoveBgSettings(max_concurrent=1, rate_limit_per_minute=100)
    )
    real = service.remover_for
    running, peak = [0], [0]
    lock = threading.Lock()

    class Counting:
        def __init__(self, remover: object) -> None:
            self.remover = remover

        def process(self, *args: object, **kwargs: object) -> object:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                time.sleep(0.2)
                return self.remover.process(*args, **kwargs)  # type: ignore[attr-defined]
            finally:
                with lock:
                    running[0] -= 1

    monkeypatch.setattr(service, "remover_for", lambda s, m: Counting(real(s, m)))
    for limited in open_api(settings):
        statuses: list[int] = []

        def call(api: Api = limited, results: list[int] = statuses) -> None:
            response = api.client.post(URL, files={"image_file": small_photo}, headers=api.headers)
            results.append(response.status_code)

        threads = [threading.Thread(target=call) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200, 200, 200]
        assert peak[0] == 1


def test_a_failed_request_is_refunded_and_costs_nothing(
    api: Api, image_server: ImageServer
) -> None:
    missing = image_server.url("/status/404")
    refused = api.client.post(URL, data={"image_url": missing, "size": "full"}, headers=api.headers)
    assert_error(refused, 400, "failed_image_download")
    account = api.client.get("/v1.0/account", headers=api.headers).json()
    assert account["data"]["attributes"]["credits"]["total"] == 500
