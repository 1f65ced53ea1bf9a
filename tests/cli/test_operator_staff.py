"""The staff-accountability operator commands through the installed `clearcutout`
executable: roles, `audit verify` naming the first broken entry, incidents."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

from sqlalchemy import select, text

from clearcutout.db import create_db_engine, session_factory
from clearcutout.db.models import Job, User
from tests.cli.test_operator import cli, data_dir

__all__ = ["data_dir"]
PASSWORD = "compiler pioneer 1952\n"


def _create(data_dir: Path, address: str) -> None:
    made = cli(
        ["users", "create", address, "--name", "Someone", "--password-stdin"],
        data_dir,
        stdin=PASSWORD,
    )
    assert made.returncode == 0, made.stderr


def test_roles_and_audit_verify_naming_the_edited_entry(data_dir: Path) -> None:
    assert cli(["db", "upgrade"], data_dir).returncode == 0
    _create(data_dir, "boss@example.org")
    granted = cli(["staff", "grant", "boss@example.org", "admin"], data_dir)
    assert granted.returncode == 0, granted.stderr
    assert "is now admin #1" in granted.stdout
    wrong = cli(["staff", "grant", "boss@example.org", "king"], data_dir)
    assert wrong.returncode == 1 and "support or admin" in wrong.stderr
    assert cli(["staff", "revoke", "boss@example.org"], data_dir).returncode == 0
    assert cli(["staff", "grant", "boss@example.org", "support"], data_dir).returncode == 0

    intact = cli(["audit", "verify"], data_dir)
    assert intact.returncode == 0, intact.stderr
    assert "Access log intact: 3 entries." in intact.stdout

    engine = create_db_engine(f"sqlite:///{data_dir / 'clearcutout.sqlite3'}")
    with engine.begin() as connection:
        edited = connection.execute(text("SELECT id FROM access_log WHERE seq = 2")).scalar()
        connection.execute(text("UPDATE access_log SET reason = 'x' WHERE seq = 2"))
    engine.dispose()
    broken = cli(["audit", "verify"], data_dir)
    assert broken.returncode == 1
    assert f"broken at entry #2 (id {edited})" in broken.stderr
    assert "changed" in broken.stderr


def test_an_incident_from_the_shell_notifies_the_eu_users_of_the_window(data_dir: Path) -> None:
    assert cli(["db", "upgrade"], data_dir).returncode == 0
    for address in ("eu1@example.org", "eu2@example.org", "old@example.org"):
        _create(data_dir, address)
    now = datetime.now(UTC)
    engine = create_db_engine(f"sqlite:///{data_dir / 'clearcutout.sqlite3'}")
    with session_factory(engine)() as db:
        users = {u.id: u for u in db.scalars(select(User))}
        for n, user in enumerate(sorted(users.values(), key=lambda u: u.created_at)):
            at = now - timedelta(days=10 if n == 2 else 1)
            db.add(
                Job(
                    user_id=user.id,
                    region="eu",
                    model="u2netp",
                    status="done",
                    options={},
                    created_at=at,
                    expires_at=at + timedelta(days=30),
                )
            )
        db.commit()
    engine.dispose()
    before = set((data_dir / "outbox").glob("*.eml"))
    recorded = cli(
        [
            "incident", "record", "--title", "Exposed bucket", "--description", "Details.",
            "--detected", (now - timedelta(hours=1)).isoformat(), "--region", "eu",
            "--from", (now - timedelta(days=2)).isoformat(), "--to", now.isoformat(),
        ],
        data_dir,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert "Notices sent: 2; failed" in recorded.stdout
    sent = set((data_dir / "outbox").glob("*.eml")) - before
    to = sorted(
        str(email.message_from_bytes(f.read_bytes(), policy=policy.default)["To"]) for f in sent
    )
    assert to == ["eu1@example.org", "eu2@example.org"]
    listed = cli(["incident", "list"], data_dir)
    assert listed.returncode == 0 and "2/2" in listed.stdout and "done" in listed.stdout

    stale = cli(
        [
            "incident", "record", "--title", "Old laptop", "--email", "old@example.org",
            "--detected", (now - timedelta(hours=80)).isoformat(),
        ],
        data_dir,
    )  # fmt: skip
    assert stale.returncode == 0, stale.stderr
    # Sent now, 80 hours after detection: past the 72-hour deadline, so flagged.
    assert "OVERDUE" in cli(["incident", "list"], data_dir).stdout
