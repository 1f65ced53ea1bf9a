"""Migrated, empty databases without running Alembic for every test.

Alembic runs once per test session on a template SQLite file; every test that needs an
embedded database gets a copy of that file (a few milliseconds, against a second or so
for the migrations). PostgreSQL is migrated once per session in its own schema
(``pg_schema_url`` in ``tests/conftest.py``) and emptied after each test. Tests of the
migrations themselves (``clearcutout db upgrade``, an unmigrated database) still run
Alembic or skip it on purpose.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from clearcutout.config import Settings
from clearcutout.db import create_db_engine, upgrade

_TEMPLATE_NAME = "clearcutout.sqlite3"


@functools.cache
def sqlite_template() -> Path:
    """A SQLite file at the head revision, made on first use and removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="clearcutout-db-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / _TEMPLATE_NAME
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    # The last connection closed checkpoints the write-ahead log into the file itself,
    # so the one file is the whole database.
    leftovers = sorted(p.name for p in folder.iterdir() if p != path)
    assert not leftovers, f"the template database left {leftovers} beside it"
    return path


def copy_migrated_sqlite(database: Path) -> None:
    """Put an empty database at the head revision at ``database`` (a SQLite file)."""
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template(), database)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def migrate(settings: Settings) -> None:
    """Give ``settings`` a migrated, empty database where it has none yet.

    A SQLite file that does not exist yet becomes a copy of the template. Any other
    database is left as it is: the ``database_url`` fixture hands out only migrated ones.
    """
    database = sqlite_file(settings.effective_database_url)
    if database is not None and not database.exists():
        copy_migrated_sqlite(database)


def migrated_engine(settings: Settings) -> Engine:
    """An engine on ``settings``' database, migrated first where it is new."""
    migrate(settings)
    return create_db_engine(settings.effective_database_url)
