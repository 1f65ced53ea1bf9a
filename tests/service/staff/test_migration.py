"""Migration r0040 on a database that already has access-log entries (SQLite and the
real PostgreSQL): the old entries are chained in the order they were written, and the
chain verifies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from clearcutout.crypto import Keyring
from clearcutout.db import create_db_engine, session_factory, upgrade
from clearcutout.service.context import ServiceContext
from clearcutout.service.staff import accesslog
from tests.conftest import PG_SERVER_URL, fast_settings, missing_service


@pytest.fixture(params=["sqlite", "postgresql"])
def old_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database at revision 0020 (before the accountable log)."""
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        upgrade(engine, "0020")
        yield engine
        engine.dispose()
        return
    try:
        admin = create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        missing_service(f"PostgreSQL is not reachable: {exc}")
        raise AssertionError("unreachable") from exc
    schema = f"cc_mig_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_db_engine(f"{PG_SERVER_URL}?options=-csearch_path%3D{schema}")
    upgrade(engine, "0020")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_old_entries_are_chained_in_their_order_and_verify(
    old_engine: Engine, tmp_path: Path
) -> None:
    start = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    with old_engine.begin() as connection:
        for n, action in enumerate(["view_account", "read_privacy_request", "flag_child_delete"]):
            connection.execute(
                text(
                    "INSERT INTO access_log (id, actor_user_id, subject_user_id, action, reason,"
                    " created_at) VALUES (:id, 'staff1', :subject, :action, 'why', :at)"
                ),
                {
                    "id": f"{n:032d}",
                    "subject": f"user{n}",
                    "action": action,
                    "at": (start + timedelta(minutes=10 - n)).replace(
                        tzinfo=None if old_engine.dialect.name == "sqlite" else UTC
                    ),
                },
            )
    upgrade(old_engine)
    with old_engine.connect() as connection:
        rows = connection.execute(text("SELECT seq, action FROM access_log ORDER BY seq")).all()
    # Oldest first: the third was written first.
    assert [(r.seq, r.action) for r in rows] == [
        (1, "flag_child_delete"),
        (2, "read_privacy_request"),
        (3, "view_account"),
    ]
    settings = fast_settings(tmp_path / "data")
    ctx = ServiceContext(
        db=session_factory(old_engine)(), settings=settings, keyring=Keyring.from_settings(settings)
    )
    try:
        result = accesslog.verify(ctx)
        assert result.ok and result.entries == 3
    finally:
        ctx.db.close()
