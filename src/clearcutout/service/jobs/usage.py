"""Anonymous usage statistics: daily counters per region, model and outcome.

What is counted cannot be linked back to a person: the table has no user id, job id,
IP address or file name, only the day, the region, the model, the outcome (``done``,
``failed``…), how many, and a histogram of processing times. Each call adds one to a
row with an atomic upsert, so concurrent workers never lose a count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from clearcutout.db.models import UsageDaily
from clearcutout.service.infra.records import record_from

__all__ = ["BUCKETS", "UsageRow", "bucket_column", "record_usage", "usage_rows"]

#: Upper bounds (seconds) of the histogram buckets and their columns; the last is open.
BUCKETS: tuple[tuple[float, str], ...] = (
    (0.5, "seconds_le_0_5"),
    (1.0, "seconds_le_1"),
    (2.0, "seconds_le_2"),
    (5.0, "seconds_le_5"),
    (10.0, "seconds_le_10"),
    (30.0, "seconds_le_30"),
)
_OVERFLOW = "seconds_gt_30"


def bucket_column(seconds: float) -> str:
    """The histogram column that ``seconds`` counts in."""
    for bound, column in BUCKETS:
        if seconds <= bound:
            return column
    return _OVERFLOW


def record_usage(
    session: Session,
    *,
    region: str,
    model: str,
    outcome: str,
    seconds: float,
    day: date | None = None,
) -> None:
    """Count one processed image (in the caller's transaction; never commits)."""
    seconds = max(0.0, float(seconds))
    when = day or datetime.now(UTC).date()
    bucket = bucket_column(seconds)
    values: dict[str, Any] = {
        "day": when,
        "region": region,
        "model": model,
        "outcome": outcome,
        "count": 1,
        "seconds_total": seconds,
    }
    for _bound, column in BUCKETS:
        values[column] = 0
    values[_OVERFLOW] = 0
    values[bucket] = 1
    table = cast(Table, UsageDaily.__table__)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "region", "model", "outcome"],
        set_={
            "count": table.c.count + 1,
            "seconds_total": table.c.seconds_total + seconds,
            bucket: table.c[bucket] + 1,
        },
    )
    session.execute(statement)


@dataclass(frozen=True)
class UsageRow:
    day: date
    region: str
    model: str
    outcome: str
    count: int
    seconds_total: float
    histogram: dict[str, int]


def usage_rows(session: Session) -> list[UsageRow]:
    """Every counter row, oldest day first (for operators and tests)."""
    rows = session.scalars(
        select(UsageDaily).order_by(
            UsageDaily.day, UsageDaily.region, UsageDaily.model, UsageDaily.outcome
        )
    )
    columns = [column for _bound, column in BUCKETS] + [_OVERFLOW]
    return [
        record_from(
            UsageRow, row, histogram={column: int(getattr(row, column)) for column in columns}
        )
        for row in rows
    ]
