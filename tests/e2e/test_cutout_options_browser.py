"""The upload page's cutout options and its German error messages in headless Chromium,
on a desktop (1280×800) and a phone (390×844): crop with a margin, subject size and
position, a drop shadow and a background photo reach the cutout; in German a failed
photo's reason is German.

Screenshots land in ``test-artifacts/e2e/cutout-options-<desktop|phone>/``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.test_every_screen import (
    SCREENS,
    Screen,
    assert_fits,
    assert_inside_viewport,
    log_in,
    open_screen,
    staff_member,
)
from tests.support.app_server import running_app
from tests.support.jobs import job_settings, small_photo

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


@pytest.fixture(params=list(SCREENS))
def screen(request: pytest.FixtureRequest) -> Iterator[Screen]:
    with open_screen("cutout-options", request.param) as opened:
        yield opened


def job_of(page: Any, item: Any) -> dict[str, Any]:
    job_id = item.get_attribute("data-job-id")
    text = page.evaluate(
        "id => fetch('/api/v1/jobs/' + id, {credentials: 'same-origin'}).then(r => r.text())",
        job_id,
    )
    job: dict[str, Any] = json.loads(text)
    return job


def test_options_background_photo_and_german_errors(tmp_path: Path, screen: Screen) -> None:
    from playwright.sync_api import expect

    page = screen.page
    settings = job_settings(tmp_path / "data")
    staff_member(settings)
    files = tmp_path / "files"
    files.mkdir()
    (files / "dog.jpg").write_bytes(small_photo(480, 320))
    green = files / "meadow.png"
    Image.new("RGB", (600, 400), (20, 200, 40)).save(green)
    (files / "broken.png").write_bytes(small_photo(200, 150, "PNG")[:400])

    with running_app(settings) as base_url:
        page.goto(f"{base_url}/login?next=%2Fapp")
        log_in(screen)
        expect(page.get_by_role("heading", level=1)).to_have_text("Remove backgrounds")

        # The options, chosen before adding the photo.
        page.get_by_text("Cutout options: crop, size, position, shadow").click()
        page.get_by_label("Crop to the subject").check()
        page.get_by_label("Margin around the crop").fill("10%")
        page.get_by_label("Subject size").select_option("80%")
        page.get_by_label("Subject position").select_option(label="Bottom centre")
        page.get_by_label("Drop shadow").check()
        page.get_by_label("Shadow opacity").fill("70")
        assert_inside_viewport(screen, page.locator(".options-grid .field"), "option fields")
        assert_fits(screen, "the upload page with its options open")
        screen.shot("01-options")

        page.get_by_label("Drag and drop photos here").set_input_files(str(files / "dog.jpg"))
        item = page.locator("#uploads > li").first
        expect(item).to_have_attribute("data-status", "done", timeout=60_000)
        options = job_of(page, item)["options"]
        assert options["crop"] is True and options["crop_margin"] == "10%"
        assert options["scale"] == "80%" and options["position"] == "50% 100%"
        assert options["shadow_type"] == "drop" and options["shadow_opacity"] == 70

        with page.expect_download() as plain:
            item.get_by_role("link", name="PNG").click()
        with Image.open(plain.value.path()) as cutout:
            assert cutout.size != (480, 320)  # cropped to the subject and its margin
            assert cutout.getchannel("A").getextrema()[0] == 0  # still transparent

        # A background photo for this result: the preview and the download use it.
        item.get_by_label("Background image").set_input_files(str(green))
        expect(item).to_have_attribute("data-bg", "image")
        expect(item.get_by_role("button", name="Remove background image")).to_be_visible()
        page.wait_for_function(
            "() => document.querySelector('.compare-after').complete"
            " && document.querySelector('.compare-after').naturalWidth > 0"
        )
        assert_fits(screen, "a result with a background photo")
        screen.shot("02-background-photo")
        with page.expect_download() as on_meadow:
            item.get_by_role("link", name="PNG").click()
        assert on_meadow.value.suggested_filename == "dog.png"
        data = Path(on_meadow.value.path()).read_bytes()
        with Image.open(io.BytesIO(data)) as composed:
            rgba = composed.convert("RGBA")
            assert rgba.getchannel("A").getextrema() == (255, 255)  # opaque: on the photo
            red, green_level, blue = rgba.getpixel((1, 1))[:3]
            assert green_level > 150 and red < 90 and blue < 90

        # German: a photo that cannot be read fails with a German reason.
        page.get_by_label("Language").select_option("de")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Hintergründe entfernen")
        page.get_by_label("Fotos hierher ziehen").set_input_files(str(files / "broken.png"))
        broken = page.locator("#uploads > li").last
        expect(broken).to_have_attribute("data-status", "failed", timeout=60_000)
        message = broken.locator(".upload-message")
        expect(message).to_contain_text("Das Bild konnte nicht gelesen werden")
        assert "image" not in message.inner_text().lower()  # no English sentence
        expect(broken.locator(".upload-status")).to_have_text("Fehlgeschlagen")
        assert_fits(screen, "the German page with a failed photo")
        screen.shot("03-german-failure")
