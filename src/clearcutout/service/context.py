"""What a service call needs, handed in by the boundary (web request, CLI, task)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from clearcutout.config import Settings
from clearcutout.crypto import Keyring
from clearcutout.db.models import utcnow
from clearcutout.errors import ServiceError
from clearcutout.service.infra.mail import Outbox, deliver


@dataclass
class ServiceContext:
    """One unit of work: the boundary commits ``db`` and then delivers ``outbox``."""

    db: Session
    settings: Settings
    keyring: Keyring
    outbox: Outbox = field(default_factory=Outbox)
    clock: Callable[[], datetime] = utcnow

    def now(self) -> datetime:
        return self.clock()


@contextmanager
def unit_of_work(
    sessions: sessionmaker[Session],
    settings: Settings,
    keyring: Keyring,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> Iterator[ServiceContext]:
    """The boundary's transaction: commit on success and then send the queued mail; roll
    back on error, except for errors that keep their changes (a counted failed login)."""
    db = sessions()
    ctx = ServiceContext(db=db, settings=settings, keyring=keyring, clock=clock)
    try:
        yield ctx
    except ServiceError as error:
        if error.keep_changes:
            db.commit()
            deliver(settings, ctx.outbox.take())
        else:
            db.rollback()
        raise
    except BaseException:
        db.rollback()
        raise
    else:
        db.commit()
        deliver(settings, ctx.outbox.take())
    finally:
        db.close()
