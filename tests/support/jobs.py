"""Fixtures for the jobs: the app with its local executor, users with API keys, and
object storage on ``file://`` or a real S3 server (SeaweedFS)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clearcutout.config import RegionSettings, Settings
from clearcutout.crypto import Keyring
from clearcutout.db.models import User
from clearcutout.service import accounts
from clearcutout.service.accounts import apikeys
from clearcutout.web import create_app
from tests.conftest import Services, fast_settings
from tests.support.database import migrated_engine
from tests.support.photos import resized_sample
from tests.support.seaweedfs import SeaweedFS
from tests.support.service import run

PASSWORD = "analytical engine 1843"
JOBS_BUCKET = "clearcutout-jobs-tests"


def job_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for job tests: U²-Netp, quick polling and short leases."""
    values: dict[str, Any] = {
        "default_model": "u2netp",
        "job_poll_seconds": 0.2,
        "job_lease_seconds": 5.0,
        "worker_threads": 1,
    }
    values.update(overrides)
    return fast_settings(data_dir, **values)


def small_photo(width: int = 320, height: int = 214, image_format: str = "JPEG") -> bytes:
    """The sample photo, small (fast with U²-Netp), in the given format."""
    return resized_sample(width, height, image_format)


@pytest.fixture(scope="session")
def photo() -> bytes:
    return small_photo()


def s3_regions(server: SeaweedFS, prefix: str) -> dict[str, RegionSettings]:
    """Regions ``eu`` and ``us`` in one bucket of ``server``, each under its own prefix."""
    server.store(JOBS_BUCKET).ensure_bucket()
    return {
        name: RegionSettings(
            label=label,
            storage_url=server.url(JOBS_BUCKET, f"{prefix}/{name}"),
            s3_access_key_id=server.credentials.access_key_id,
            s3_secret_access_key=server.credentials.secret_access_key,  # type: ignore[arg-type]
        )
        for name, label in (("eu", "European Union"), ("us", "United States"))
    }


@dataclass
class Account:
    user_id: str
    email: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key}


def make_account(
    services: Services, email: str, *, scopes: list[str] | None = None, region: str = "eu"
) -> Account:
    def create(ctx: Any) -> Account:
        user: User = accounts.create_user_as_operator(
            ctx, email=email, name="Test Person", password=PASSWORD, region=region
        )
        _info, raw = apikeys.create_api_key(
            ctx, user, label="tests", scopes=scopes or ["images", "account"]
        )
        return Account(user_id=user.id, email=email, api_key=raw)

    return run(services, create)


@dataclass
class JobsApp:
    """A running app (TestClient, lifespan on: the local executor works) and its services."""

    client: TestClient
    services: Services
    settings: Settings

    def account(self, email: str | None = None, **kwargs: Any) -> Account:
        return make_account(
            self.services, email or f"{uuid.uuid4().hex[:10]}@example.org", **kwargs
        )

    def submit(self, account: Account, data: bytes, **fields: Any) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/jobs",
            headers=account.headers,
            files={"image_file": ("holiday photo.jpg", data, "image/jpeg")},
            data={name: str(value) for name, value in fields.items()},
        )
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait(
        self,
        account: Account,
        job_id: str,
        *,
        until: Callable[[dict[str, Any]], bool] | None = None,
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        done = until or (lambda job: job["status"] in ("done", "failed", "expired"))
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.client.get(f"/api/v1/jobs/{job_id}", headers=account.headers)
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if done(job):
                return job
            assert time.monotonic() < deadline, f"job did not finish: {job}"
            time.sleep(0.1)


def jobs_app(settings: Settings) -> Iterator[JobsApp]:
    engine = migrated_engine(settings)
    services = Services(settings=settings, engine=engine, keyring=Keyring.from_settings(settings))
    try:
        web = create_app(settings)
        try:
            with TestClient(web) as client:
                yield JobsApp(client=client, services=services, settings=settings)
        finally:
            web.state.runtime.close()
    finally:
        engine.dispose()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[JobsApp]:
    """The app on SQLite and ``file://`` storage."""
    yield from jobs_app(job_settings(tmp_path / "data"))


@pytest.fixture
def app_on_database(tmp_path: Path, database_url: str) -> Iterator[JobsApp]:
    """The app on SQLite, then on the real PostgreSQL."""
    yield from jobs_app(job_settings(tmp_path / "data", database_url=database_url))
