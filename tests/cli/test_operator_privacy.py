"""The privacy operator commands (staff role, policy versions, announcements) through the
installed `clearcutout` executable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from clearcutout.db import create_db_engine, session_factory
from clearcutout.db.models import PolicyVersionRow, User
from tests.cli.test_operator import cli, data_dir

__all__ = ["data_dir"]


def test_grant_staff_and_publish_a_policy_version(data_dir: Path, tmp_path: Path) -> None:
    assert cli(["db", "upgrade"], data_dir).returncode == 0
    created = cli(
        ["users", "create", "dpo@example.org", "--name", "Data Officer", "--password-stdin"],
        data_dir,
        stdin="compiler pioneer 1952\n",
    )
    assert created.returncode == 0, created.stderr
    granted = cli(["users", "grant-staff", "dpo@example.org"], data_dir)
    assert granted.returncode == 0, granted.stderr
    assert "is now staff" in granted.stdout
    unknown = cli(["users", "grant-staff", "nobody@example.org"], data_dir)
    assert unknown.returncode == 1 and "No account" in unknown.stderr

    text = tmp_path / "policy.txt"
    text.write_text("Our policy\nShort intro.\nSection\nWe changed things.\n", encoding="utf-8")
    today = datetime.now(UTC).date().isoformat()
    published = cli(
        [
            "policy", "publish", str(text), "--effective", today, "--summary", "Shorter.",
            "--significant", "--summary-translation", "de=Kürzer.",
        ],
        data_dir,
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    assert f"Published policy version {today} (significant); 1 users notified." in published.stdout
    again = cli(["policy", "publish", str(text), "--effective", today, "--summary", "x"], data_dir)
    assert again.returncode == 1 and "exists already" in again.stderr
    bad_date = cli(
        ["policy", "publish", str(text), "--effective", "tomorrow", "--summary", "x"], data_dir
    )
    assert bad_date.returncode != 0

    engine = create_db_engine(f"sqlite:///{data_dir / 'clearcutout.sqlite3'}")
    with session_factory(engine)() as db:
        assert db.scalars(select(User.is_staff)).one() is True
        row = db.get(PolicyVersionRow, today)
        assert row is not None and row.significant
        assert row.summary_translations == {"de": "Kürzer."}
    engine.dispose()
    # The notification went to the (file) outbox: the embedded default has no SMTP.
    assert len(list((data_dir / "outbox").glob("*.eml"))) == 1
