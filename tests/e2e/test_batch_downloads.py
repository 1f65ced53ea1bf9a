"""A batch in headless Chromium, on a desktop (1280×800) and a phone (390×844): two photos
uploaded, each downloaded under its own name (``dog.jpg`` → ``dog.png``), then "Download
all (ZIP)" on the upload page and again in the history.

Screenshots land in ``test-artifacts/e2e/batch-downloads-<desktop|phone>/``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
    with open_screen("batch-downloads", request.param) as opened:
        yield opened


def zip_names(download: Any) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as archive:
        for name in archive.namelist():
            assert archive.read(name)[:8] == b"\x89PNG\r\n\x1a\n", name
        return archive.namelist()


def test_downloads_keep_names_and_download_all_is_one_zip(tmp_path: Path, screen: Screen) -> None:
    from playwright.sync_api import expect

    page = screen.page
    settings = job_settings(tmp_path / "data")
    staff_member(settings)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "dog.jpg").write_bytes(small_photo(480, 320))
    (photos / "cat.png").write_bytes(small_photo(400, 300, "PNG"))

    with running_app(settings) as base_url:
        page.goto(f"{base_url}/login?next=%2Fapp")
        log_in(screen)
        expect(page.get_by_role("heading", level=1)).to_have_text("Remove backgrounds")
        download_all = page.get_by_role("link", name="Download all (ZIP)")
        expect(download_all).to_be_hidden()  # nothing finished yet

        page.get_by_label("Drag and drop photos here").set_input_files(
            [str(photos / "dog.jpg"), str(photos / "cat.png")]
        )
        items = page.locator("#uploads > li")
        expect(items).to_have_count(2)
        for index in range(2):
            expect(items.nth(index)).to_have_attribute("data-status", "done", timeout=60_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.compare img')]"
            ".every(img => img.complete && img.naturalWidth > 0)"
        )
        expect(download_all).to_be_visible()
        assert_inside_viewport(screen, download_all, "Download all")
        assert_fits(screen, "the upload page with two results")
        screen.shot("01-upload-download-all")

        with page.expect_download() as single:
            items.nth(0).get_by_role("link", name="PNG").click()
        assert single.value.suggested_filename == "dog.png"
        with page.expect_download() as single_jpg:
            items.nth(1).get_by_role("link", name="JPG").click()
        assert single_jpg.value.suggested_filename == "cat.jpg"

        with page.expect_download() as everything:
            download_all.click()
        assert everything.value.suggested_filename == "cutouts.zip"
        assert sorted(zip_names(everything.value)) == ["cat.png", "dog.png"]

        # Dismissing is not deleting, but a deleted item leaves the ZIP.
        items.nth(1).get_by_role("button", name="Delete now").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
        expect(items.nth(1)).to_have_attribute("data-status", "deleted")
        with page.expect_download() as after_delete:
            download_all.click()
        assert zip_names(after_delete.value) == ["dog.png"]

        page.goto(f"{base_url}/app/history")
        history_all = page.get_by_role("link", name="Download all (ZIP)")
        expect(history_all).to_be_visible()
        assert_inside_viewport(screen, history_all, "Download all in the history")
        assert_fits(screen, "the history")
        screen.shot("02-history-download-all")
        with page.expect_download() as from_history:
            history_all.click()
        assert zip_names(from_history.value) == ["dog.png"]
        with page.expect_download() as row_download:
            page.locator("table.history tbody tr").first.get_by_role(
                "link", name="Download PNG"
            ).click()
        assert row_download.value.suggested_filename == "dog.png"
