"""Engines, sessions and migrations (Alembic, shipped inside the package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from clearcutout.errors import DatabaseNotMigratedError
from clearcutout.storage.file import FILE_MODE, make_private_dirs

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(lock_timeout_s: float) -> Any:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # Overwrite deleted content so old personal data does not linger in free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        # Wait (retrying) this long for another writer's lock before "database is
        # locked"; past it the request answers 503 with Retry-After.
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout_s * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return apply


def _private_sqlite_files(path: Path) -> None:
    """The database file and its companions 0600.

    SQLite creates its file with 0644 less the umask when it first connects, but gives
    the WAL, shared-memory and journal files the mode of the database file: so the file
    is made 0600 on every new connection, before ``journal_mode=WAL`` makes the others,
    and companions left by an older install are brought to 0600 too. The folder is 0700,
    so the file is never readable by others even in between. The database holds sealed
    personal data and its blind indexes (privacy policy, "Security Measures").
    """
    for companion in (path, *(path.with_name(path.name + end) for end in _COMPANIONS)):
        try:
            if companion.stat().st_mode & 0o777 != FILE_MODE:
                companion.chmod(FILE_MODE)
        except FileNotFoundError:
            continue


_COMPANIONS = ("-wal", "-shm", "-journal")


def create_db_engine(url: str, *, lock_timeout_s: float = 10.0) -> Engine:
    """An engine for ``url``; SQLite files get a private folder and file and safe pragmas,
    PostgreSQL connections are checked before use (a restarted server costs no error)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    database: Path | None = None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            database = Path(parsed.database)
            make_private_dirs(database.parent)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": lock_timeout_s}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        if database is not None:
            path = database

            def private_files(_dbapi_connection: Any, _record: Any) -> None:
                _private_sqlite_files(path)

            event.listen(engine, "connect", private_files)
        event.listen(engine, "connect", _sqlite_pragmas(lock_timeout_s))
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (the boundary commits)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest migration shipped with this version of ClearCutout."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    command.upgrade(_alembic_config(engine), revision)


def check_migrated(engine: Engine) -> None:
    """Refuse to run on a database that is not at the shipped head revision."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise DatabaseNotMigratedError(
            f"The database is {state}, this version needs {head}: "
            "run `clearcutout db upgrade` first."
        )
