"""Alembic environment: runs on the engine handed over by ``clearcutout.db.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from clearcutout.db.models import Base

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):  # pragma: no cover - only via clearcutout.db.upgrade
    raise RuntimeError("Run migrations with `clearcutout db upgrade`.")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
