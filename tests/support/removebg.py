"""Fixtures for the remove.bg-compatible API: the app (U²-Netp), users with API keys, and
a loopback image server reachable through the ``allow_loopback`` test hook."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from clearcutout.config import (
    BillingSettings,
    PlanSettings,
    RemoveBgSettings,
    Settings,
    UrlFetchSettings,
)
from clearcutout.crypto import Keyring
from clearcutout.db import create_db_engine
from clearcutout.service import accounts
from clearcutout.service.accounts import apikeys
from clearcutout.service.context import ServiceContext, unit_of_work
from clearcutout.web import create_app
from tests.conftest import fast_settings
from tests.support.database import migrate
from tests.support.image_server import ImageServer, serving
from tests.support.photos import resized_sample

PASSWORD = "analytical engine 1843"


def removebg_settings(
    data_dir: Path, *, monthly_credits: float = 500, **overrides: Any
) -> Settings:
    """U²-Netp, no job executor, the loopback hook on (tests fetch from 127.0.0.1), and
    billing on with one Free plan of ``monthly_credits`` whose rate limit is the API's."""
    removebg = overrides.get("removebg", RemoveBgSettings(rate_limit_per_minute=1000))
    values: dict[str, Any] = {
        "default_model": "u2netp",
        "executor": "none",
        "url_fetch": UrlFetchSettings(allow_loopback=True, total_timeout_s=10),
        "removebg": removebg,
        "billing": BillingSettings(
            enabled=True,
            plans={
                "free": PlanSettings(
                    label="Free",
                    monthly_credits=monthly_credits,
                    rate_limit_per_minute=removebg.rate_limit_per_minute,
                )
            },
        ),
    }
    values.update(overrides)
    settings = fast_settings(data_dir, **values)
    migrate(settings)
    return settings


def photo_bytes(width: int, height: int, image_format: str = "JPEG") -> bytes:
    """The generated sample photo (orange ball, blue cup) at the given size and format."""
    return resized_sample(width, height, image_format)


@pytest.fixture(scope="session")
def small_photo() -> bytes:
    return photo_bytes(320, 214)


@pytest.fixture(scope="session")
def large_photo() -> bytes:
    """0.61 megapixels: larger than remove.bg's preview (0.25 MP)."""
    return photo_bytes(960, 640)


def create_key(settings: Settings, email: str, scopes: list[str] | None = None) -> str:
    """A user (created as an operator would) and one API key of theirs."""
    engine = create_db_engine(settings.effective_database_url)
    try:
        with unit_of_work(
            sessionmaker(bind=engine, expire_on_commit=False),
            settings,
            Keyring.from_settings(settings),
        ) as ctx:
            user = accounts.create_user_as_operator(
                ctx, email=email, name="Test Person", password=PASSWORD, region="eu"
            )
            _info, raw = apikeys.create_api_key(ctx, user, label="rb", scopes=scopes or ["images"])
    finally:
        engine.dispose()
    return raw


def in_context(settings: Settings) -> Iterator[ServiceContext]:
    engine = create_db_engine(settings.effective_database_url)
    try:
        with unit_of_work(
            sessionmaker(bind=engine, expire_on_commit=False),
            settings,
            Keyring.from_settings(settings),
        ) as ctx:
            yield ctx
    finally:
        engine.dispose()


@dataclass
class Api:
    client: TestClient
    settings: Settings
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.key}


def open_api(settings: Settings) -> Iterator[Api]:
    key = create_key(settings, "dev@example.org")
    with TestClient(create_app(settings)) as client:
        yield Api(client=client, settings=settings, key=key)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from open_api(removebg_settings(tmp_path / "data"))


@pytest.fixture
def image_server(small_photo: bytes) -> Iterator[ImageServer]:
    with serving() as server:
        server.files["/photo.jpg"] = (small_photo, "image/jpeg")
        server.files["/background.png"] = (photo_bytes(200, 100, "PNG"), "image/png")
        yield server
