"""Shared fixtures: settings in a temporary data dir, migrated databases (SQLite and the
real PostgreSQL), a real SMTP server (aiosmtpd) and the web app.

PostgreSQL is expected at 127.0.0.1:5432 (trust auth, user ``postgres``, database
``test``); each run works in a fresh schema, migrated once and dropped at the end, and
emptied after every test. A SQLite database is a copy of a template migrated once per
run (``tests.support.database``). In CI (``CI=true``) a missing server fails the test;
elsewhere it is skipped with a reason.

The layout of ``tests/`` follows ``src/clearcutout/``, plus ``integration/`` (real
processes) and ``e2e/`` (a real browser). Fixtures used in more than one folder live in
``tests/support/`` and are registered for the whole suite below.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, create_engine, text

from clearcutout.config import Settings, SmtpSettings
from clearcutout.crypto import Keyring
from clearcutout.db import create_db_engine, session_factory, upgrade
from clearcutout.db.models import Base
from clearcutout.service.context import ServiceContext
from tests.support.database import copy_migrated_sqlite

pytest_plugins = [
    "tests.support.billing",
    "tests.support.engine",
    "tests.support.jobs",
    "tests.support.removebg",
    "tests.support.seaweedfs",
]

PG_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing_service(reason: str) -> None:
    """Fail in CI (a missing service there is a broken setup), skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def fast_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for tests: a private data dir and cheap argon2 parameters."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "base_url": "http://127.0.0.1:8000",
    }
    values.update(overrides)
    return Settings(**values)


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A fresh, migrated schema in the PostgreSQL ``test`` database, for this run."""
    try:
        admin = create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        missing_service(f"PostgreSQL at 127.0.0.1:5432 (database test) is not reachable: {exc}")
        raise AssertionError("unreachable") from exc
    schema = f"cc_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_SERVER_URL}?options=-csearch_path%3D{schema}"
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class PgReset:
    """Puts the run's schema back to its migrated state: every row deleted, then the rows
    the migrations seed written again. One kept connection, a few milliseconds a test
    (a fresh engine and ``TRUNCATE`` took a quarter of a second)."""

    engine: Engine
    seeded: dict[Table, list[dict[str, Any]]]

    def __call__(self) -> None:
        with self.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
            for table, rows in self.seeded.items():
                connection.execute(table.insert(), rows)


@pytest.fixture(scope="session")
def pg_reset(pg_schema_url: str) -> Iterator[PgReset]:
    """Remembers the seeded rows once, right after the migrations ran."""
    engine = create_db_engine(pg_schema_url)
    with engine.connect() as connection:
        seeded = {
            table: [dict(row._mapping) for row in connection.execute(table.select())]
            for table in Base.metadata.sorted_tables
        }
    try:
        yield PgReset(engine, {table: rows for table, rows in seeded.items() if rows})
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, then the real PostgreSQL."""
    if request.param == "sqlite":
        database = tmp_path / "data" / "clearcutout.sqlite3"
        copy_migrated_sqlite(database)
        yield f"sqlite:///{database}"
        return
    reset: PgReset = request.getfixturevalue("pg_reset")
    yield request.getfixturevalue("pg_schema_url")
    reset()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return fast_settings(tmp_path / "data", database_url=database_url)


@pytest.fixture
def db_engine(settings: Settings) -> Iterator[Engine]:
    engine = create_db_engine(settings.effective_database_url)
    yield engine
    engine.dispose()


@dataclass
class Services:
    """Opens service contexts like a request boundary would (commit per unit of work)."""

    settings: Settings
    engine: Engine
    keyring: Keyring
    sent: list[Any] = field(default_factory=list)

    def context(self) -> ServiceContext:
        return ServiceContext(
            db=session_factory(self.engine)(), settings=self.settings, keyring=self.keyring
        )


@pytest.fixture
def services(settings: Settings, db_engine: Engine) -> Services:
    return Services(settings=settings, engine=db_engine, keyring=Keyring.from_settings(settings))


# ----------------------------------------------------------------------------- SMTP


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SmtpServer:
    """A real SMTP server on loopback that keeps what it receives, parsed and raw."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    # The DATA exactly as it arrived (before any MIME parsing), and each MAIL FROM's options.
    raw: list[bytes] = field(default_factory=list)
    mail_options: list[list[str]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def settings(self) -> SmtpSettings:
        return SmtpSettings(host=self.host, port=self.port, from_address="cc@example.test")

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[EmailMessage]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout_s)
            assert len(self.messages) >= count, f"expected {count} emails, got {self.messages}"
            return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@contextmanager
def running_smtp_server(*, eight_bit_mime: bool = True) -> Iterator[SmtpServer]:
    """An aiosmtpd server; ``eight_bit_mime=False`` is one that does not announce 8BITMIME."""
    from aiosmtpd.controller import Controller

    server = SmtpServer(host="127.0.0.1", port=free_port())

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
            raw: bytes = envelope.original_content
            message = message_from_bytes(raw, policy=policy.default)
            assert isinstance(message, EmailMessage)
            with server.arrived:
                server.raw.append(raw)
                server.mail_options.append(list(envelope.mail_options))
                server.messages.append(message)
                server.arrived.notify_all()
            return "250 OK"

    # aiosmtpd announces 8BITMIME only when it leaves the data undecoded.
    controller = Controller(
        Handler(), hostname=server.host, port=server.port, decode_data=not eight_bit_mime
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def email_text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    content: str = body.get_content()
    return content
