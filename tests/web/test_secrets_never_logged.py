"""Secrets never reach the logs: a whole visit (sign-up, confirmation, login, API key,
jobs and remove.bg calls with an image, password reset, email change, wrong passwords and
keys) runs with every logger at DEBUG, and the captured text holds no password, token,
API key, email address or image bytes (privacy policy, "Security")."""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clearcutout.config import UrlFetchSettings
from clearcutout.web import create_app
from tests.support.photos import resized_sample
from tests.support.removebg import removebg_settings
from tests.web.conftest import csrf_from
from tests.web.test_web import PASSWORD, outbox_links, sign_up

NEW_PASSWORD = "difference engine 1822"
WRONG_PASSWORD = "wrong horse battery"


def test_a_full_visit_logs_no_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = removebg_settings(
        tmp_path / "data", url_fetch=UrlFetchSettings(allow_loopback=False)
    )
    photo = resized_sample(96, 64, "PNG")
    secrets: dict[str, str] = {
        "password": PASSWORD,
        "new password": NEW_PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "email": "ada@example.org",
        "new email": "ada@newhome.example",
        "image (base64)": base64.b64encode(photo[100:160]).decode(),
        "image (bytes)": photo[100:132].hex(),
    }
    with TestClient(create_app(settings)) as client:
        assert sign_up(client).status_code == 200
        [verify] = outbox_links(settings, "/verify-email")
        secrets["verification token"] = verify.split("token=")[1]
        client.get(verify)
        login = csrf_from(client.get("/login").text)
        client.post(
            "/login", data={"csrf_token": login, "email": "ada@example.org", "password": "x"}
        )
        client.post(
            "/login",
            data={"csrf_token": login, "email": "ada@example.org", "password": WRONG_PASSWORD},
        )
        client.post(
            "/login",
            data={"csrf_token": login, "email": "ada@example.org", "password": PASSWORD},
        )
        secrets["session cookie"] = client.cookies["session-token"]
        page = client.get("/account")
        token = csrf_from(page.text)
        secrets["csrf token"] = token
        created = client.post(
            "/account/api-keys",
            data={"csrf_token": token, "label": "logs", "scopes": ["images", "account"]},
        )
        key = re.search(r"(cck_[0-9a-f]{8}_[\w-]+)", created.text)
        assert key
        secrets["api key"] = key.group(1)
        headers = {"X-Api-Key": key.group(1)}
        job = client.post(
            "/api/v1/jobs", headers=headers, files={"image_file": ("ada.png", photo, "image/png")}
        )
        assert job.status_code == 202, job.text
        assert (
            client.post(
                "/v1.0/removebg",
                headers=headers,
                json={"image_file_b64": base64.b64encode(photo).decode(), "size": "auto"},
            ).status_code
            == 200
        )
        client.get("/api/v1/jobs", headers={"X-Api-Key": key.group(1)[:-3] + "xyz"})
        client.post(
            "/account/email",
            data={"csrf_token": token, "new_email": "ada@newhome.example", "password": PASSWORD},
        )
        client.post("/password-reset", data={"csrf_token": token, "email": "ada@example.org"})
        [reset] = outbox_links(settings, "/password-reset/confirm")
        secrets["reset token"] = reset.split("token=")[1]
        client.post(
            "/password-reset/confirm",
            data={"csrf_token": token, "token": secrets["reset token"], "password": NEW_PASSWORD},
        )
    # Everything but the test's own HTTP client (httpx logs the URLs it requests; the
    # server's access log is off, server.py).
    text = "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    )
    assert "auth.login" in text and "removebg.processed" in text  # the logs did run
    found = {name for name, secret in secrets.items() if secret and secret in text}
    assert not found, f"logged: {sorted(found)}"
