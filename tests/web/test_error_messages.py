"""A German page shows no English error sentence: a failed image's reason, an error page
and the upload page's table are in German; English pages keep the specific line."""

from __future__ import annotations

import inspect
import json
import re

import pytest
from fastapi.testclient import TestClient

from clearcutout import errors
from clearcutout.service.infra.i18n import gettext_for
from clearcutout.web.error_messages import ERROR_MESSAGES, FALLBACK, error_message, error_messages
from tests.service.privacy.conftest import sign_in
from tests.support.jobs import JobsApp, small_photo
from tests.web.conftest import csrf_from

TRUNCATED_DETAIL = "The image is truncated: it ends before its last row."


def choose(browser: TestClient, lang: str) -> None:
    """The language picker in the footer (saved in the profile)."""
    token = csrf_from(browser.get("/app").text)
    response = browser.post(
        "/preferences",
        data={"csrf_token": token, "lang": lang, "next": "/app"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_every_sentence_has_a_german_translation() -> None:
    german = gettext_for("de")
    for msgid in [*ERROR_MESSAGES.values(), FALLBACK]:
        assert german.gettext(msgid) != msgid, msgid


def test_every_code_an_image_can_fail_with_has_its_own_sentence() -> None:
    """The image, model and storage errors a job or an upload meets, by their codes."""
    families = (errors.InputError, errors.ModelError, errors.StorageError, errors.InferenceError)
    codes = {
        cls.code
        for _name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, families) and not issubclass(cls, errors.ServiceError)
    }
    missing = sorted(codes - set(ERROR_MESSAGES))
    assert missing == []


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", TRUNCATED_DETAIL),
        ("de", "Das Bild konnte nicht gelesen werden: Die Datei ist leer oder unvollständig. "
               "Versuche es noch einmal mit der Originaldatei."),
    ],
)  # fmt: skip
def test_error_message_per_language(lang: str, expected: str) -> None:
    assert error_message("failed_to_read_image", TRUNCATED_DETAIL, lang) == expected
    assert error_message("invalid_crop_margin", "bad margin", "de") == gettext_for("de").gettext(
        FALLBACK
    )
    assert error_messages("de")[""] == gettext_for("de").gettext(FALLBACK)


def test_the_german_history_shows_a_failed_images_reason_in_german(app: JobsApp) -> None:
    account = app.account()
    job = app.wait(account, app.submit(account, small_photo(200, 150, "PNG")[:400])["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "failed_to_read_image"
    english_detail = job["error"]["detail"]

    browser = sign_in(TestClient(app.client.app), account)
    choose(browser, "de")
    history = browser.get("/app/history").text
    assert "Das Bild konnte nicht gelesen werden" in history
    assert english_detail not in history

    choose(browser, "en")
    assert english_detail in browser.get("/app/history").text


def test_the_german_upload_page_carries_the_translated_table(app: JobsApp) -> None:
    account = app.account()
    browser = sign_in(TestClient(app.client.app), account)
    choose(browser, "de")
    page = browser.get("/app").text
    strings = re.search(
        r'<script type="application/json" id="image-app-strings">(.*?)</script>', page, re.S
    )
    assert strings is not None
    table = json.loads(strings.group(1))["errors"]
    assert table["unknown_foreground"] == "In diesem Foto wurde kein Motiv gefunden."
    assert table["file_too_large"].startswith("Die Datei ist größer")


def test_german_error_pages_carry_no_english_detail(app: JobsApp) -> None:
    browser = TestClient(app.client.app)
    german = {"Accept-Language": "de"}
    missing = browser.get("/no-such-page", headers=german)
    assert missing.status_code == 404
    assert "Nicht gefunden" in missing.text and "Not found" not in missing.text
    malformed = browser.get("/app/history?page=many", headers=german)
    assert malformed.status_code == 400
    assert "Die Anfrage ist fehlerhaft." in malformed.text
    assert "integer" not in malformed.text  # pydantic's English stays out
