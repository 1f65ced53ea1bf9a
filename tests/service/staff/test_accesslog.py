"""The hash-chained access log on SQLite and the real PostgreSQL: every edit, removal
or reordering is named by ``verify``; on PostgreSQL the application role may only
append; entries outlive the account they are about, as ids."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError

from clearcutout.db.models import AccessLogEntry, User
from clearcutout.errors import ValidationError
from clearcutout.service import staff
from clearcutout.service.privacy.erasure import delete_own_account
from clearcutout.service.staff import accesslog
from tests.service.staff.conftest import PASSWORD, make_user
from tests.support.service import Clock, run


def _three_looks(services: Any, clock: Clock) -> tuple[User, User]:
    boss = make_user(services, clock, "boss@example.org", role="support")
    ada = make_user(services, clock, "ada@example.org")
    for n in range(3):
        clock.advance(minutes=1)
        run(
            services,
            lambda ctx, n=n: staff.view_account(
                ctx, boss, user_id=ada.id, reason=f"ticket {n}", source="10.0.0.1"
            ),
            clock,
        )
    return boss, ada


def _edit(services: Any, sql: str, **params: Any) -> None:
    with services.engine.begin() as connection:
        connection.execute(text(sql), params)


def test_entries_chain_and_verify_names_an_edited_entry(services: Any, clock: Clock) -> None:
    _boss, _ada = _three_looks(services, clock)
    result = run(services, accesslog.verify)
    # role grant + three looks
    assert result.ok and result.entries == 4
    with services.engine.connect() as connection:
        rows = connection.execute(select(AccessLogEntry).order_by(AccessLogEntry.seq)).all()
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert [r.action for r in rows] == [
        "role_change",
        "view_account",
        "view_account",
        "view_account",
    ]
    assert all(rows[i].prev_hash == rows[i - 1].entry_hash for i in range(1, 4))
    assert rows[2].source == "10.0.0.1" and rows[2].actor_role == "support"

    _edit(services, "UPDATE access_log SET reason = 'nothing to see' WHERE seq = 3")
    broken = run(services, accesslog.verify)
    assert not broken.ok
    assert (broken.broken_seq, broken.broken_id) == (3, rows[2].id)
    assert "changed" in broken.problem


def test_verify_names_a_removed_and_a_reordered_entry(services: Any, clock: Clock) -> None:
    _three_looks(services, clock)
    with services.engine.connect() as connection:
        ids = dict(connection.execute(text("SELECT seq, id FROM access_log")).all())
    # Reorder: swap the places of entries 2 and 3 (their seq and their chain links).
    _edit(services, "UPDATE access_log SET seq = 100 WHERE seq = 2")
    _edit(services, "UPDATE access_log SET seq = 2 WHERE seq = 3")
    _edit(services, "UPDATE access_log SET seq = 3 WHERE seq = 100")
    swapped = run(services, accesslog.verify)
    assert (swapped.broken_seq, swapped.broken_id) == (2, ids[3])

    _edit(services, "DELETE FROM access_log WHERE id = :id", id=ids[3])
    removed = run(services, accesslog.verify)
    assert removed.broken_seq == 3 and "missing" in removed.problem


def test_a_reason_is_required_and_nothing_is_shown_without_one(services: Any, clock: Clock) -> None:
    boss = make_user(services, clock, "boss@example.org", role="support")
    ada = make_user(services, clock, "ada@example.org")
    for blank in ("", "   \n "):
        with pytest.raises(ValidationError):
            run(
                services,
                lambda ctx, b=blank: staff.view_account(ctx, boss, user_id=ada.id, reason=b),
            )
        with pytest.raises(ValidationError):
            run(services, lambda ctx, b=blank: staff.view_jobs(ctx, boss, user_id=ada.id, reason=b))
    assert run(services, accesslog.count_entries) == 1  # only the role grant


def test_entries_survive_the_account_deletion_as_ids(services: Any, clock: Clock) -> None:
    _boss, ada = _three_looks(services, clock)
    run(services, lambda ctx: delete_own_account(ctx, ctx.db.get(User, ada.id), password=PASSWORD))
    with services.engine.connect() as connection:
        rows = connection.execute(
            select(AccessLogEntry).where(AccessLogEntry.subject_user_id == ada.id)
        ).all()
        assert connection.execute(select(User).where(User.id == ada.id)).first() is None
    assert [r.action for r in rows] == ["view_account"] * 3 + ["account_deleted"]
    assert run(services, accesslog.verify).ok


def test_postgres_app_role_cannot_update_or_delete_the_log(services: Any, clock: Clock) -> None:
    if services.engine.dialect.name != "postgresql":
        pytest.skip("grants exist on PostgreSQL only")
    _three_looks(services, clock)
    for statement in (
        "UPDATE access_log SET reason = 'x'",
        "DELETE FROM access_log",
        "TRUNCATE access_log",
    ):
        with services.engine.connect() as connection, connection.begin():
            connection.execute(text("SET LOCAL ROLE clearcutout_app"))
            with pytest.raises(ProgrammingError, match="permission denied"):
                connection.execute(text(statement))
    with services.engine.connect() as connection, connection.begin():
        connection.execute(text("SET LOCAL ROLE clearcutout_app"))
        # The role is usable: it reads the log and changes other tables.
        assert connection.execute(text("SELECT count(*) FROM access_log")).scalar() == 4
        connection.execute(text("UPDATE users SET theme = 'dark'"))
    # ...and the application itself appends through that role.
    boss = run(services, lambda ctx: ctx.db.scalar(select(User).where(User.staff_role.isnot(None))))

    def look_as_app_role(ctx: Any) -> None:
        ctx.db.execute(text("SET LOCAL ROLE clearcutout_app"))
        ada = ctx.db.scalar(select(User).where(User.staff_role.is_(None)))
        staff.view_account(ctx, boss, user_id=ada.id, reason="as the app role")

    run(services, look_as_app_role, clock)
    assert run(services, accesslog.verify).entries == 5


def test_the_person_sees_role_and_number_in_their_export_never_the_staff_id(
    services: Any, clock: Clock
) -> None:
    import io
    import json
    import zipfile

    from clearcutout.service.privacy import export

    boss, ada = _three_looks(services, clock)
    archive = run(services, lambda ctx: export.build_zip(ctx, ctx.db.get(User, ada.id)))
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        entries = json.loads(opened.read("access_log.json"))
    assert [(e["action"], e["role"], e["staff_number"]) for e in entries] == [
        ("view_account", "support", 1)
    ] * 3
    assert [e["reason"] for e in entries] == ["ticket 0", "ticket 1", "ticket 2"]
    assert boss.id not in json.dumps(entries)
