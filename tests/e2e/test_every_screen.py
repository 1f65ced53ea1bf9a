"""The web app on a desktop (1280×800) and a phone (390×844) in headless Chromium.

Layout is measured, not eyeballed: no page scrolls sideways, the menu keeps to one line
(a row on the desktop, a "Menu" disclosure on the phone), every action button lies
inside the viewport. Along the way: login lands on the upload page (or the page that
asked for it), the history shows thumbnails, and the upload page says why a file was
refused before sending it, marks failures as failures with "Try again" and "Dismiss",
takes pasted images, and asks before "Delete now".

Screenshots land in ``test-artifacts/e2e/every-screen-<desktop|phone>/``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import sessionmaker

from clearcutout.config import Settings
from clearcutout.crypto import Keyring
from clearcutout.service import accounts, staff
from clearcutout.service.accounts import apikeys
from clearcutout.service.context import unit_of_work
from clearcutout.service.privacy import policy
from tests.e2e.chromium import launch_chromium
from tests.support.app_server import running_app
from tests.support.database import migrated_engine
from tests.support.jobs import job_settings, small_photo
from tests.web.conftest import csrf_from

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
SCREENS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
EMAIL = "mo@example.org"
PASSWORD = "paper lanterns 2025"
# One line of the header: the brand or the menu button, with the header's padding.
ONE_LINE_HEADER_PX = 80


@dataclass
class Screen:
    name: str
    page: Any
    folder: Path

    @property
    def phone(self) -> bool:
        return self.name == "phone"

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.folder / f"{name}.png"), full_page=True)


@contextmanager
def open_screen(kind: str, size: str) -> Iterator[Screen]:
    """A fresh Chromium page of ``size`` (desktop or phone); screenshots go to
    ``test-artifacts/e2e/<kind>-<size>/``."""
    from playwright.sync_api import sync_playwright

    folder = ARTIFACTS / f"{kind}-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        phone = size == "phone"
        context = browser.new_context(
            locale="en-US",
            viewport=SCREENS[size],
            is_mobile=phone,
            has_touch=phone,
            accept_downloads=True,
        )
        try:
            yield Screen(size, context.new_page(), folder)
        finally:
            context.close()
            browser.close()


@pytest.fixture(params=list(SCREENS))
def screen(request: pytest.FixtureRequest) -> Iterator[Screen]:
    with open_screen("every-screen", request.param) as opened:
        yield opened


# ----------------------------------------------------------------------------- measuring


def sideways_overflow(page: Any) -> int:
    """Pixels the page scrolls sideways (0 when it fits the viewport's width)."""
    overflow: int = page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
    return overflow


def assert_fits(screen: Screen, what: str) -> None:
    assert sideways_overflow(screen.page) <= 0, (
        f"{what} scrolls sideways by {sideways_overflow(screen.page)} px on the {screen.name}"
    )


def assert_inside_viewport(screen: Screen, locator: Any, what: str) -> None:
    """Every element of ``locator`` lies within the viewport's width."""
    width = screen.page.evaluate("() => window.innerWidth")
    count = locator.count()
    assert count > 0, f"no {what}"
    for index in range(count):
        box = locator.nth(index).bounding_box()
        assert box is not None, f"{what} #{index} is not shown"
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (
            f"{what} #{index} lies outside the viewport: {box} (width {width})"
        )


def assert_menu_on_one_line(screen: Screen) -> None:
    """Desktop: the menu row is one line. Phone: only the "Menu" button shows, the panel
    opens and closes, and its entries fit the screen."""
    from playwright.sync_api import expect

    page = screen.page
    header = page.locator("header.site-header")
    box = header.bounding_box()
    assert box is not None and box["height"] <= ONE_LINE_HEADER_PX, f"header is {box}"
    row = page.locator("nav.site-nav")
    button = page.locator("details.site-menu > summary")
    if screen.phone:
        expect(row).to_be_hidden()
        expect(button).to_be_visible()
        button.click()
        panel = page.locator("details.site-menu nav")
        expect(panel).to_be_visible()
        assert_inside_viewport(screen, panel.locator("li > a, li button"), "menu entries")
        assert_fits(screen, "the open menu")
        button.click()
        expect(panel).to_be_hidden()
    else:
        expect(button).to_be_hidden()
        expect(row).to_be_visible()
        # One line: the list is no taller than its tallest entry.
        heights = row.locator("ul").evaluate(
            """list => [list.getBoundingClientRect().height,
                        ...[...list.children].map(item => item.getBoundingClientRect().height)]"""
        )
        assert heights[0] <= max(heights[1:]) + 1, f"the menu wraps: heights {heights}"
        row_box = row.bounding_box()
        assert row_box is not None and row_box["x"] + row_box["width"] <= box["width"]


def open_page_from_menu(screen: Screen, name: str) -> None:
    if screen.phone:
        screen.page.locator("details.site-menu > summary").click()
    screen.page.get_by_role("link", name=name, exact=True).click()


# ----------------------------------------------------------------------------- the account


def staff_member(settings: Settings) -> str:
    """A verified staff account (the longest menu) that accepted the policy; returns an
    API key for setting up its images."""
    engine = migrated_engine(settings)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with unit_of_work(factory, settings, Keyring.from_settings(settings)) as ctx:
        user = accounts.create_user_as_operator(
            ctx, email=EMAIL, name="Mo Reyes", password=PASSWORD, region="eu"
        )
        policy.accept(ctx, user, version_id=policy.current_version(ctx).version, source="signup")
        staff.set_staff(ctx, email=EMAIL, is_staff=True)
        _info, raw_key = apikeys.create_api_key(
            ctx, user, label="photo studio laptop", scopes=["images", "account"]
        )
    engine.dispose()
    return raw_key


def upload_by_api(base_url: str, api_key: str, names: list[str]) -> None:
    with httpx.Client(base_url=base_url, headers={"X-Api-Key": api_key}, timeout=60) as api:
        for name in names:
            response = api.post(
                "/api/v1/jobs", files={"image_file": (name, small_photo(480, 320), "image/jpeg")}
            )
            assert response.status_code == 202, response.text
            job_id = response.json()["id"]
            deadline = time.monotonic() + 60
            while api.get(f"/api/v1/jobs/{job_id}").json()["status"] != "done":
                assert time.monotonic() < deadline, f"{name} was not processed"
                time.sleep(0.1)


def sign_in_elsewhere(base_url: str) -> None:
    """A second session, from another device, so the account lists one to sign out."""
    tablet = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"
    with httpx.Client(base_url=base_url, headers={"User-Agent": tablet}) as other:
        token = csrf_from(other.get("/login").text)
        response = other.post(
            "/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD}
        )
        assert response.status_code == 303, response.text


def log_in(screen: Screen) -> None:
    page = screen.page
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").last.click()
    page.wait_for_load_state()


# ----------------------------------------------------------------------------- the tests


def test_every_page_fits_the_screen_with_a_one_line_menu(tmp_path: Path, screen: Screen) -> None:
    from playwright.sync_api import expect

    page = screen.page
    settings = job_settings(tmp_path / "data")
    api_key = staff_member(settings)
    missing: list[str] = []
    page.on(
        "response",
        lambda response: missing.append(response.url) if response.status == 404 else None,
    )

    with running_app(settings) as base_url:
        upload_by_api(base_url, api_key, ["ball-and-cup.jpg", "a-rather-long-file-name-2025.jpg"])

        page.goto(f"{base_url}/")
        expect(page.get_by_role("heading", level=1)).to_contain_text("private")
        expect(page.locator("#transport")).to_contain_text("not encrypted")
        assert_fits(screen, "the home page")
        assert_menu_on_one_line(screen)
        screen.shot("01-home")

        # A signed-out visit to the history: login, then back to the history.
        page.goto(f"{base_url}/app/history")
        expect(page).to_have_url(f"{base_url}/login?next=%2Fapp%2Fhistory")
        assert_fits(screen, "the login page")
        screen.shot("02-login")
        log_in(screen)
        expect(page).to_have_url(f"{base_url}/app/history")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your images")

        # The history: one card (phone) or row (desktop) per image, each with a thumbnail.
        rows = page.locator("table.history tbody tr")
        expect(rows).to_have_count(2)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.history-thumb img')]"
            ".every(img => img.complete && img.naturalWidth > 0)"
        )
        sizes = page.locator(".history-thumb img").evaluate_all(
            "images => images.map(img => [img.naturalWidth, img.naturalHeight])"
        )
        assert sizes == [[192, 128], [192, 128]]
        assert_fits(screen, "the history")
        assert_menu_on_one_line(screen)
        assert_inside_viewport(
            screen, page.locator(".history-actions a, .history-actions button"), "history actions"
        )
        if screen.phone:  # cards: the columns' headers are hidden, each value labelled
            expect(page.locator("table.history thead")).not_to_be_in_viewport()
            label = rows.first.locator("td[data-label]").first.evaluate(
                "cell => getComputedStyle(cell, '::before').content"
            )
            assert label == '"Uploaded: "'
        screen.shot("03-history")

        # Logging in again lands on the upload page, not on the account settings.
        if screen.phone:
            page.locator("details.site-menu > summary").click()
        page.get_by_role("button", name="Log out").click()
        page.goto(f"{base_url}/login")
        log_in(screen)
        expect(page).to_have_url(f"{base_url}/app")
        expect(page.get_by_role("heading", level=1)).to_have_text("Remove backgrounds")
        assert_fits(screen, "the upload page")
        assert_menu_on_one_line(screen)
        screen.shot("04-upload")

        # The account: sessions (this one and another device) and API keys.
        sign_in_elsewhere(base_url)
        open_page_from_menu(screen, "Account")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
        assert_fits(screen, "the account page")
        expect(page.locator("#sessions tbody tr")).to_have_count(2)  # here and a tablet
        assert_inside_viewport(
            screen, page.locator("#sessions button, #api-keys button"), "account actions"
        )
        screen.shot("05-account")

        open_page_from_menu(screen, "Your privacy")
        expect(page.get_by_role("heading", level=1)).to_have_text("Your privacy")
        expect(page.locator("#consent-table tbody tr")).to_have_count(1)
        assert_fits(screen, "the privacy page")
        screen.shot("06-privacy")

        if screen.phone:
            page.locator("details.site-menu > summary").click()
            screen.shot("07-menu-open")
            page.locator("details.site-menu > summary").click()

        # German: the longest words, still one line.
        page.get_by_label("Language").select_option("de")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Dein Datenschutz")
        assert_menu_on_one_line(screen)
        assert_fits(screen, "the German privacy page")
        page.goto(f"{base_url}/app/history")
        assert_fits(screen, "the German history")
        assert_inside_viewport(
            screen,
            page.locator(".history-actions a, .history-actions button"),
            "German history actions",
        )
        screen.shot("08-history-de")

    assert missing == []  # the favicon included


def test_upload_feedback_refusals_failures_retry_paste_and_confirmed_deletion(
    tmp_path: Path, screen: Screen
) -> None:
    from playwright.sync_api import expect

    page = screen.page
    # A 1 MB limit: the page must take it from the server's setting, not from the script.
    settings = job_settings(tmp_path / "data", max_upload_mb=1)
    staff_member(settings)
    files = tmp_path / "files"
    files.mkdir()
    (files / "notes.txt").write_text("not a photo\n")
    photo_bytes = small_photo(480, 320)
    (files / "huge.jpg").write_bytes(photo_bytes.ljust(int(1.6 * 1024 * 1024), b"\0"))
    (files / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    (files / "ball-and-cup.jpg").write_bytes(photo_bytes)
    (files / "second-try.jpg").write_bytes(small_photo(400, 300))
    posts: list[str] = []
    page.on(
        "request",
        lambda request: (
            posts.append(request.url)
            if request.method == "POST" and request.url.endswith("/api/v1/jobs")
            else None
        ),
    )

    with running_app(settings) as base_url:
        page.goto(f"{base_url}/login")
        log_in(screen)
        expect(page).to_have_url(f"{base_url}/app")
        items = page.locator("#uploads > li")

        def item(name: str) -> Any:
            return items.filter(has=page.locator(".upload-name", has_text=name))

        # Refused in the browser, before sending: not an image, over the server's limit.
        page.get_by_label("Drag and drop photos here").set_input_files(
            [str(files / "notes.txt"), str(files / "huge.jpg"), str(files / "ball-and-cup.jpg")]
        )
        expect(items).to_have_count(3)
        notes, huge, photo = item("notes.txt"), item("huge.jpg"), item("ball-and-cup.jpg")
        expect(notes).to_have_attribute("data-status", "failed")
        expect(notes.get_by_role("alert")).to_have_text(
            "This file is not a photo we can process. Choose a JPEG, PNG, WebP, HEIC or AVIF image."
        )
        expect(huge.get_by_role("alert")).to_have_text(
            "This file is 1.6 MB; the limit is 1 MB per photo."
        )
        for refused in (notes, huge):
            expect(refused.locator(".upload-status")).to_have_text("Not uploaded")
            expect(refused.get_by_role("button", name="Try again")).to_be_hidden()
            expect(refused.get_by_role("button", name="Dismiss")).to_be_visible()
            expect(refused.locator("progress")).to_be_hidden()
        expect(photo).to_have_attribute("data-status", "done", timeout=60_000)
        assert len(posts) == 1  # only the photo left the browser

        # A failure looks like one: a red edge and no full blue bar, unlike a finished item.
        look = "item => [getComputedStyle(item).backgroundColor, getComputedStyle(item).borderLeftWidth]"  # noqa: E501
        failed_look, done_look = notes.evaluate(look), photo.evaluate(look)
        assert failed_look != done_look and float(failed_look[1][:-2]) > 4
        expect(photo.locator("progress")).to_be_visible()
        assert_fits(screen, "the upload page with refusals")
        assert_inside_viewport(screen, page.locator("#uploads button:visible"), "upload buttons")
        screen.shot("11-refused-and-done")

        notes.get_by_role("button", name="Dismiss").click()
        huge.get_by_role("button", name="Dismiss").click()
        expect(items).to_have_count(1)

        # Refused by the server (it reads the file): the server's reason, no retry.
        page.get_by_label("Drag and drop photos here").set_input_files(str(files / "broken.jpg"))
        broken = item("broken.jpg")
        expect(broken).to_have_attribute("data-status", "failed")
        expect(broken.get_by_role("alert")).to_have_text(
            "The image could not be read: its header is damaged."
        )
        expect(broken.get_by_role("button", name="Try again")).to_be_hidden()
        broken.get_by_role("button", name="Dismiss").click()

        # The network fails once: "Try again" sends the same file again.
        failures = {"left": 1}

        def fail_once(route: Any) -> None:
            if failures["left"] and route.request.method == "POST":
                failures["left"] -= 1
                route.abort("connectionreset")
            else:
                route.continue_()

        page.route("**/api/v1/jobs", fail_once)
        page.get_by_label("Drag and drop photos here").set_input_files(
            str(files / "second-try.jpg")
        )
        retried = item("second-try.jpg")
        expect(retried).to_have_attribute("data-status", "failed")
        expect(retried.get_by_role("alert")).to_have_text(
            "The upload failed. Check your connection and try again."
        )
        screen.shot("12-network-failure")
        retried.get_by_role("button", name="Try again").click()
        expect(retried).to_have_attribute("data-status", "done", timeout=60_000)
        expect(retried.locator(".upload-failure")).to_be_hidden()
        page.unroute("**/api/v1/jobs")

        # Paste: an image from the clipboard is uploaded; text alone gets a message.
        png = list(small_photo(360, 240, "PNG"))
        page.evaluate(
            """(data) => {
                const transfer = new DataTransfer();
                const file = new File([new Uint8Array(data)], "image.png", {type: "image/png"});
                transfer.items.add(file);
                const paste = new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true});
                document.dispatchEvent(paste);
            }""",
            png,
        )
        pasted = item("Pasted image 1.png")
        expect(pasted).to_have_attribute("data-status", "done", timeout=60_000)
        page.evaluate(
            """() => {
                const transfer = new DataTransfer();
                transfer.setData("text/plain", "hello");
                const paste = new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true});
                document.dispatchEvent(paste);
            }"""
        )
        expect(page.locator("#paste-status")).to_have_text(
            "The clipboard holds no image. Copy a photo, then paste it here."
        )
        expect(items).to_have_count(3)

        # "Delete now" asks first; "Keep it" keeps it.
        dialog = page.get_by_role("dialog")
        photo.get_by_role("button", name="Delete now").click()
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Delete this image now?")
        expect(dialog).to_contain_text("ball-and-cup.jpg")
        assert_inside_viewport(screen, dialog.get_by_role("button"), "dialog buttons")
        screen.shot("13-confirm-delete")
        dialog.get_by_role("button", name="Keep it").click()
        expect(dialog).to_be_hidden()
        expect(photo).to_have_attribute("data-status", "done")
        job_id = photo.get_attribute("data-job-id")
        assert page.request.get(f"{base_url}/api/v1/jobs/{job_id}").status == 200
        photo.get_by_role("button", name="Delete now").click()
        dialog.get_by_role("button", name="Delete", exact=True).click()
        expect(photo).to_have_attribute("data-status", "deleted")
        assert page.request.get(f"{base_url}/api/v1/jobs/{job_id}").status == 404
        screen.shot("14-deleted")

        # The history asks too.
        open_page_from_menu(screen, "Your images")
        rows = page.locator("table.history tbody tr")
        expect(rows).to_have_count(2)
        first_name = rows.first.locator(".history-name").inner_text()
        rows.first.get_by_role("button", name="Delete now").click()
        expect(dialog).to_contain_text(first_name)
        screen.shot("15-history-confirm")
        page.keyboard.press("Escape")  # closing the dialog is "no"
        expect(rows).to_have_count(2)
        rows.first.get_by_role("button", name="Delete now").click()
        dialog.get_by_role("button", name="Delete", exact=True).click()
        expect(rows).to_have_count(1)
        expect(page.locator("#history-status")).to_have_text(f"Deleted: {first_name}")
        page.reload()
        expect(rows).to_have_count(1)
