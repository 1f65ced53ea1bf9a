"""The models and the migrations describe the same schema: Alembic's autogenerate finds
nothing to add, drop or alter on a database at the head revision."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from clearcutout.db import create_db_engine
from clearcutout.db.models import Base


def test_a_migrated_database_matches_every_model(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"render_as_batch": connection.dialect.name == "sqlite"}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_the_metadata_holds_every_table_of_every_model_module() -> None:
    tables = set(Base.metadata.tables)
    mapped = {mapper.local_table.name for mapper in Base.registry.mappers}
    assert mapped == tables
    assert {"users", "jobs", "access_log", "credit_ledger"} <= tables
