"""What a service call needs, handed in by the boundary (web request, CLI, task)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from clearcutout.config import Settings
from clearcutout.crypto import Keyring
from clearcutout.db.models import utcnow
from clearcutout.errors import DatabaseUnavailableError, ServiceError
from clearcutout.service.infra.mail import Outbox, deliver

log = logging.getLogger(__name__)


@dataclass
class ServiceContext:
    """One unit of work: the boundary commits ``db`` and then delivers ``outbox``."""

    db: Session
    settings: Settings
    keyring: Keyring
    outbox: Outbox = field(default_factory=Outbox)
    clock: Callable[[], datetime] = utcnow
    # Bookkeeping writes (an API key's "last used") run after the commit, each in its own
    # transaction: they may fail (disk full, lock) without failing the request.
    deferred: list[Callable[[Session], object]] = field(default_factory=list)
    # Undo steps for what was written outside the database (a stored object) when the
    # transaction does not commit, so nothing stays stored that no row names.
    undo: list[Callable[[], object]] = field(default_factory=list)

    def now(self) -> datetime:
        return self.clock()

    def defer(self, write: Callable[[Session], object]) -> None:
        """Run ``write`` after a successful commit, in its own transaction, best effort."""
        self.deferred.append(write)


# What a database that is down, restarting, full or locked raises (wrapped by SQLAlchemy):
# translated to one transient error, answered 503 with ``Retry-After``.
_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


def database_unavailable(exc: BaseException) -> DatabaseUnavailableError:
    """The error clients and workers see for a database fault; never its details."""
    log.warning("database.unavailable reason=%s", type(getattr(exc, "orig", exc)).__name__)
    return DatabaseUnavailableError("The database is unavailable; try again shortly.")


@contextmanager
def unit_of_work(
    sessions: sessionmaker[Session],
    settings: Settings,
    keyring: Keyring,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> Iterator[ServiceContext]:
    """The boundary's transaction: commit on success and then send the queued mail; roll
    back on error, except for errors that keep their changes (a counted failed login).

    A database fault anywhere in it (lost connection, full disk, a lock held too long)
    becomes :class:`DatabaseUnavailableError`; after the commit, the deferred bookkeeping
    (:meth:`ServiceContext.defer`) runs, each write on its own, never failing the caller.
    """
    db = sessions()
    ctx = ServiceContext(db=db, settings=settings, keyring=keyring, clock=clock)
    committed = False
    try:
        try:
            yield ctx
        except ServiceError as error:
            if error.keep_changes:
                committed = True
                db.commit()
                deliver(settings, ctx.outbox.take())
            else:
                _rollback(db)
            raise
        except BaseException:
            _rollback(db)
            raise
        else:
            # Once the commit is sent its outcome may be unknown (the connection dropped
            # before the answer): then the stored objects stay, and the storage
            # reconciliation deletes them if no row names them.
            committed = True
            db.commit()
            deliver(settings, ctx.outbox.take())
    except _UNAVAILABLE as exc:
        if not committed:
            _undo(ctx)
        raise database_unavailable(exc) from exc
    except BaseException:
        if not committed:
            _undo(ctx)
        raise
    finally:
        with suppress(Exception):
            db.close()
    _run_deferred(sessions, ctx)


def _undo(ctx: ServiceContext) -> None:
    for step in reversed(ctx.undo):
        try:
            step()
        except Exception as exc:  # ``clearcutout storage reconcile`` deletes it later
            log.warning("undo.failed reason=%s", type(exc).__name__)


def _rollback(db: Session) -> None:
    # On a dead connection the rollback fails too; the original error is what counts.
    with suppress(*_UNAVAILABLE):
        db.rollback()


def _run_deferred(sessions: sessionmaker[Session], ctx: ServiceContext) -> None:
    for write in ctx.deferred:
        db = sessions()
        try:
            write(db)
            db.commit()
        except Exception as exc:  # bookkeeping must never fail what was asked
            log.warning("bookkeeping.skipped reason=%s", type(exc).__name__)
            with suppress(Exception):
                db.rollback()
        finally:
            with suppress(Exception):
                db.close()
