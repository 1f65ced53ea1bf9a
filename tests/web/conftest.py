from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clearcutout.config import Settings
from clearcutout.web import create_app
from tests.conftest import fast_settings
from tests.support.database import migrate


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    settings = fast_settings(tmp_path / "data")
    migrate(settings)
    return settings


@pytest.fixture
def client(web_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings)) as test_client:
        yield test_client


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)
