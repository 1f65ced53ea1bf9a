"""The runtime: what a process holds for its lifetime to call the service layer.

One object for every boundary — the web app (``app.state.runtime``), the job executor and
the housekeeping thread it shares with the app, each CLI command, and the tasks in
``workers/tasks.py``: the settings, the database (engine and session factory), the
region keys and the clock. Each request, command or task step opens a
:meth:`Runtime.unit_of_work` from it. Tests move :attr:`Runtime.clock` to travel in time;
everything that reads the runtime (requests, workers, the retention sweep) follows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from clearcutout.config import Settings
from clearcutout.crypto import Keyring
from clearcutout.db import check_migrated, create_db_engine, session_factory
from clearcutout.db.models import utcnow
from clearcutout.service.context import ServiceContext, unit_of_work
from clearcutout.storage.file import DIR_MODE

logger = logging.getLogger(__name__)

__all__ = ["Runtime"]


@dataclass
class Runtime:
    """Settings, database, keys and clock, shared by everything one process runs."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring
    # What "now" is for every unit of work opened here; tests replace it.
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def from_settings(cls, settings: Settings, *, check_database: bool = True) -> Runtime:
        """Connect to the configured database and load the keys.

        Refuses (``DatabaseNotMigratedError``) a database that is not migrated, unless
        ``check_database`` is false.
        """
        _tighten_data_dir(settings.data_dir)
        engine = create_db_engine(
            settings.effective_database_url, lock_timeout_s=settings.database_lock_timeout_s
        )
        try:
            if check_database:
                check_migrated(engine)
            keyring = Keyring.from_settings(settings)
        except BaseException:
            engine.dispose()
            raise
        return cls(
            settings=settings, engine=engine, sessions=session_factory(engine), keyring=keyring
        )

    @contextmanager
    def unit_of_work(self) -> Iterator[ServiceContext]:
        """One transaction: commit (then send the queued mail) or roll back."""
        with unit_of_work(self.sessions, self.settings, self.keyring, clock=self.clock) as ctx:
            yield ctx

    def close(self) -> None:
        """Close the database connections (a command's runtime, at its end)."""
        self.engine.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _tighten_data_dir(data_dir: Path) -> None:
    """The data directory 0700: it is ClearCutout's own (database, keys, objects, outbox),
    and an install from before this rule made it 0755 (privacy policy, "Security
    Measures"). Missing, it is made 0700 by whichever part first writes there."""
    try:
        if data_dir.is_dir() and data_dir.stat().st_mode & 0o777 != DIR_MODE:
            data_dir.chmod(DIR_MODE)
    except PermissionError:
        logger.warning("The data directory %s is not ours to make private (0700).", data_dir)
