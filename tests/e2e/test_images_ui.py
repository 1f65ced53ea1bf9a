"""A person in headless Chromium: sign in → drop three photos → watch them finish →
compare before and after → pick a background colour → download PNG and JPG → delete one
→ see the other two in the history with the time until their deletion.

Screenshots land in ``test-artifacts/e2e-images/``.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy.orm import sessionmaker

from clearcutout.crypto import Keyring
from clearcutout.service import accounts
from clearcutout.service.context import unit_of_work
from tests.conftest import fast_settings, missing_service
from tests.support.app_server import running_app
from tests.support.database import migrate, migrated_engine
from tests.support.removebg import photo_bytes

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e-images"
PASSWORD = "paper lanterns 2025"


@pytest.fixture
def page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        missing_service("Debian Chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        context = browser.new_context(
            locale="en-US", viewport={"width": 1100, "height": 900}, accept_downloads=True
        )
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def test_a_person_uploads_three_photos_compares_downloads_and_deletes(
    tmp_path: Path, page: Any
) -> None:
    from playwright.sync_api import expect

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)

    def shot(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    settings = fast_settings(
        tmp_path / "data",
        default_model="u2netp",
        worker_threads=1,
        job_poll_seconds=0.2,
    )
    engine = migrated_engine(settings)
    with unit_of_work(
        sessionmaker(bind=engine, expire_on_commit=False), settings, Keyring.from_settings(settings)
    ) as ctx:
        accounts.create_user_as_operator(
            ctx, email="mo@example.org", name="Mo Reyes", password=PASSWORD, region="eu"
        )
    engine.dispose()

    photos = tmp_path / "photos"
    photos.mkdir()
    names = ["ball-and-cup.jpg", "still-life.png", "table.webp"]
    for name, image_format in zip(names, ("JPEG", "PNG", "WEBP"), strict=True):
        (photos / name).write_bytes(photo_bytes(480, 320, image_format))
    dropped = photos / "dropped.jpg"
    dropped.write_bytes(photo_bytes(400, 300))

    with running_app(settings) as base_url:
        page.goto(f"{base_url}/login")
        page.get_by_label("Email address").fill("mo@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        if "/app" not in page.url:
            page.get_by_role("link", name="Remove backgrounds").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Remove backgrounds")
        shot("01-upload-empty")

        # Two photos through the file picker, one by dropping it on the drop zone.
        page.get_by_label("Drag and drop photos here").set_input_files(
            [str(photos / names[0]), str(photos / names[1])]
        )
        data = list(dropped.read_bytes())
        transfer = page.evaluate_handle(
            """(data) => {
                const transfer = new DataTransfer();
                const file = new File([new Uint8Array(data)], "dropped.jpg", {type: "image/jpeg"});
                transfer.items.add(file);
                return transfer;
            }""",
            data,
        )
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
        items = page.locator("#uploads > li")
        expect(items).to_have_count(3)
        shot("02-uploading")
        for index in range(3):
            expect(items.nth(index)).to_have_attribute("data-status", "done", timeout=60_000)
            expect(items.nth(index).locator("progress")).to_have_js_property("value", 100)
        expect(items.nth(2).locator(".upload-name")).to_have_text("dropped.jpg")
        first = items.nth(0)
        expect(first.locator(".compare-after")).to_have_js_property("complete", True)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.compare img')]"
            ".every(img => img.complete && img.naturalWidth > 0)"
        )
        shot("03-done")

        # Before/after: the slider moves the line; keyboard works too.
        slider = first.get_by_label("Compare before and after")
        slider.focus()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        assert int(slider.input_value()) == 55
        slider.fill("20")
        clip = first.locator(".compare-after").evaluate("img => img.style.clipPath")
        assert clip == "inset(0px 80% 0px 0px)"
        assert first.locator(".compare-line").evaluate("line => line.style.left") == "20%"
        shot("04-compare")

        # A background colour re-downloads the cutout on it.
        first.get_by_label("Background colour").fill("#ff0000")
        expect(first).to_have_attribute("data-bg", "#ff0000")
        slider.fill("100")
        page.wait_for_timeout(300)
        shot("05-red-background")

        # Downloads: PNG and JPG, checked by their bytes.
        with page.expect_download() as png_info:
            first.get_by_role("link", name="PNG").click()
        png = Image.open(io.BytesIO(Path(png_info.value.path()).read_bytes()))
        assert png.format == "PNG"
        with page.expect_download() as jpg_info:
            first.get_by_role("link", name="JPG").click()
        jpg_bytes = Path(jpg_info.value.path()).read_bytes()
        assert jpg_bytes[:3] == b"\xff\xd8\xff"
        jpg = Image.open(io.BytesIO(jpg_bytes))
        assert jpg.format == "JPEG" and jpg.size == (480, 320)
        red = jpg.convert("RGB").getpixel((3, 3))
        assert red[0] > 200 and red[1] < 60 and red[2] < 60  # the chosen background

        # Delete the second one now.
        second = items.nth(1)
        second.get_by_role("button", name="Delete now").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
        expect(second).to_have_attribute("data-status", "deleted")
        shot("06-deleted-one")

        page.get_by_role("link", name="Your images").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your images")
        rows = page.locator("table.history tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("table.history")).not_to_contain_text(names[1])
        expect(page.locator("table.history")).to_contain_text(names[0])
        expect(page.locator("table.history")).to_contain_text("dropped.jpg")
        for index in range(2):
            expect(rows.nth(index).locator(".expiry")).to_have_text("in 30 days")
            expect(rows.nth(index)).to_contain_text("Done")
        shot("07-history")

        # The same page in German and dark.
        page.get_by_label("Language").select_option("de")
        page.get_by_label("Theme").select_option("dark")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Deine Bilder")
        expect(rows.first.locator(".expiry")).to_have_text("in 30 Tagen")
        shot("08-history-de")
        page.goto(f"{base_url}/app")
        shot("09-upload-de")


def test_the_pages_send_a_signed_out_person_to_the_login(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from clearcutout.web import create_app

    settings = fast_settings(tmp_path / "data", executor="none")
    migrate(settings)
    with TestClient(create_app(settings)) as client:
        for path, login in (("/app", "/login"), ("/app/history", "/login?next=%2Fapp%2Fhistory")):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == login
