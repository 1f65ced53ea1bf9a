"""Database layer: SQLAlchemy 2.0 models, engine/session factories and Alembic migrations.

Knows no business rules. Migrations ship inside the package (``db/migrations``) so
``clearcutout db upgrade`` works from an installed wheel.
"""

from clearcutout.db.engine import check_migrated, create_db_engine, session_factory, upgrade
from clearcutout.errors import DatabaseNotMigratedError

__all__ = [
    "DatabaseNotMigratedError",
    "check_migrated",
    "create_db_engine",
    "session_factory",
    "upgrade",
]
