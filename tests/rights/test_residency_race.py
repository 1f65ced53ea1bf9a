"""An upload that arrives while the person's region is being moved waits for the move
and is stored in the new region (issue 6, point 2), on SQLite and the real PostgreSQL:
without the lock it was written into the old region, where the move's clean-up deleted
it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from clearcutout.crypto import Keyring
from clearcutout.db import create_db_engine
from clearcutout.db.models import User
from clearcutout.engine import CutoutOptions
from clearcutout.service import accounts, jobs, objects, residency
from clearcutout.service.context import ServiceContext
from tests.conftest import Services, fast_settings
from tests.service.helpers import run


def test_an_upload_during_a_region_move_waits_and_lands_in_the_new_region(
    database_url: str, tmp_path: Path, photo: bytes
) -> None:
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

    def submit(ctx: ServiceContext) -> jobs.JobInfo:
        return jobs.submit(ctx, ctx.db.get(User, user_id), photo, CutoutOptions())

    uploaded: dict[str, Any] = {}

    def upload() -> None:
        try:
            uploaded["job"] = run(services, submit)
        except BaseException as exc:  # reported by the assertions below
            uploaded["error"] = exc

    try:
        user_id = run(services, create)
        # The move's transaction: objects re-sealed into us, rows updated, not committed.
        move_ctx = services.context()
        uploader = threading.Thread(target=upload)
        try:
            move = residency.move_to_region(move_ctx, move_ctx.db.get(User, user_id), region="us")
            assert move is not None
            uploader.start()
            uploader.join(timeout=1.5)
            assert uploader.is_alive(), f"the upload did not wait for the move: {uploaded}"
            move_ctx.db.commit()
        finally:
            move_ctx.db.rollback()  # after a failed assertion: let go of the row lock
            move_ctx.db.close()
        residency.finish_move(settings, move)
        uploader.join(timeout=30)
        assert not uploader.is_alive()
        assert "error" not in uploaded, uploaded.get("error")

        job = uploaded["job"]
        assert job.region == "us"
        prefix = objects.user_prefix(user_id)
        us_keys = set(objects.region_store(settings, "us").iter_keys(prefix))
        eu_keys = set(objects.region_store(settings, "eu").iter_keys(prefix))
        assert objects.job_object_key(user_id, job.id, "original") in us_keys
        assert eu_keys == set()
    finally:
        engine.dispose()
