"""Work that picks a region for the person's objects and arrives while their region is
being moved waits for the move and uses the new region (README, "Data residency"), on
SQLite and the real PostgreSQL: without the lock an upload was written into the old
region, where the move's clean-up deleted it, and an export was built there."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clearcutout.config import Settings
from clearcutout.crypto import Keyring
from clearcutout.db import create_db_engine
from clearcutout.db.models import DataExport, User
from clearcutout.engine import CutoutOptions
from clearcutout.service import accounts, jobs
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.service.privacy import export, residency
from tests.conftest import Services, fast_settings
from tests.support.service import run


@dataclass
class Race:
    services: Services
    settings: Settings
    user_id: str

    def during_a_move(self, action: Callable[[ServiceContext], Any]) -> Any:
        """Run ``action`` in another thread while a move eu → us is open; its result."""
        done: dict[str, Any] = {}

        def worker() -> None:
            try:
                done["result"] = run(self.services, action)
            except BaseException as exc:  # reported by the assertions below
                done["error"] = exc

        # The move's transaction: objects re-sealed into us, rows updated, not committed.
        move_ctx = self.services.context()
        thread = threading.Thread(target=worker)
        try:
            move = residency.move_to_region(
                move_ctx, move_ctx.db.get(User, self.user_id), region="us"
            )
            assert move is not None
            thread.start()
            thread.join(timeout=1.5)
            assert thread.is_alive(), f"the work did not wait for the move: {done}"
            move_ctx.db.commit()
        finally:
            move_ctx.db.rollback()  # after a failed assertion: let go of the row lock
            move_ctx.db.close()
        residency.finish_move(self.settings, move)
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert "error" not in done, done.get("error")
        return done["result"]


@pytest.fixture
def race(database_url: str, tmp_path: Path) -> Iterator[Race]:
    settings = fast_settings(tmp_path / "data", database_url=database_url)
    engine = create_db_engine(database_url)
    services = Services(settings=settings, engine=engine, keyring=Keyring.from_settings(settings))

    def create(ctx: ServiceContext) -> str:
        user = accounts.create_user_as_operator(
            ctx,
            email="mover@example.org",
            name="Mo Ver",
            password="a long pass phrase 42",
            region="eu",
        )
        return user.id

    try:
        yield Race(services=services, settings=settings, user_id=run(services, create))
    finally:
        engine.dispose()


def test_an_upload_during_a_region_move_waits_and_lands_in_the_new_region(
    race: Race, photo: bytes
) -> None:
    def submit(ctx: ServiceContext) -> jobs.JobInfo:
        return jobs.submit(ctx, ctx.db.get(User, race.user_id), photo, CutoutOptions())

    job = race.during_a_move(submit)
    assert job.region == "us"
    prefix = objects.user_prefix(race.user_id)
    us_keys = set(objects.region_store(race.settings, "us").iter_keys(prefix))
    eu_keys = set(objects.region_store(race.settings, "eu").iter_keys(prefix))
    assert objects.job_object_key(race.user_id, job.id, "original") in us_keys
    assert eu_keys == set()


def test_an_export_requested_during_a_region_move_is_built_in_the_new_region(
    race: Race,
) -> None:
    def request(ctx: ServiceContext) -> str:
        return export.request_export(ctx, ctx.db.get(User, race.user_id)).id

    export_id = race.during_a_move(request)

    def region_of(ctx: ServiceContext) -> str:
        row = ctx.db.get(DataExport, export_id)
        assert row is not None
        return row.region

    assert run(race.services, region_of) == "us"
