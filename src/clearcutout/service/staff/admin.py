"""What the admin area shows besides people: the access log with filters, staff
accounts, and the anonymous usage statistics as figures for charts (daily images,
success rate, processing-time percentiles per region and model).

The statistics come from ``usage_daily`` only (no person, job or file in it: privacy
policy, "Analytics"); the percentiles are read from its time histogram, so each is the
upper bound of the bucket it falls in.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from clearcutout.db.models import AccessLogEntry, User
from clearcutout.service.context import ServiceContext
from clearcutout.service.jobs.usage import BUCKETS, usage_rows
from clearcutout.service.staff import roles

#: Privacy requests are answered within a month (GDPR Art. 12(3)); the list shows it.
REQUEST_DEADLINE_DAYS = 30
LOG_PAGE = 200
_BOUNDS = [bound for bound, _column in BUCKETS] + [float("inf")]


@dataclass(frozen=True)
class LogFilter:
    actor: str | None = None
    subject: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def access_log(ctx: ServiceContext, admin: User, filters: LogFilter) -> list[AccessLogEntry]:
    """The newest entries matching ``filters`` (ids only; reading it is not an access
    to anyone's data)."""
    roles.require_role(admin, roles.ADMIN)
    query = select(AccessLogEntry)
    if filters.actor:
        query = query.where(AccessLogEntry.actor_user_id == filters.actor)
    if filters.subject:
        query = query.where(AccessLogEntry.subject_user_id == filters.subject)
    if filters.action:
        query = query.where(AccessLogEntry.action == filters.action)
    if filters.since:
        query = query.where(AccessLogEntry.created_at >= filters.since)
    if filters.until:
        query = query.where(AccessLogEntry.created_at < filters.until)
    return list(ctx.db.scalars(query.order_by(AccessLogEntry.seq.desc()).limit(LOG_PAGE)))


@dataclass(frozen=True)
class StaffMember:
    id: str
    role: str
    number: int | None
    second_factor: bool
    locked: bool


def staff_members(ctx: ServiceContext) -> list[StaffMember]:
    rows = ctx.db.scalars(
        select(User).where(User.staff_role.isnot(None)).order_by(User.staff_number)
    )
    return [
        StaffMember(
            id=u.id,
            role=u.staff_role or "",
            number=u.staff_number,
            second_factor=u.totp_enabled_at is not None,
            locked=u.locked_at is not None,
        )
        for u in rows
    ]


@dataclass(frozen=True)
class DayFigures:
    day: date
    images: int
    succeeded: int

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.images if self.images else 0.0


@dataclass(frozen=True)
class Percentiles:
    region: str
    model: str
    images: int
    p50: float
    p90: float
    p99: float


@dataclass(frozen=True)
class UsageFigures:
    days: list[DayFigures]
    percentiles: list[Percentiles]


def _percentile(histogram: list[int], q: float) -> float:
    total = sum(histogram)
    if not total:
        return 0.0
    running = 0
    for count, bound in zip(histogram, _BOUNDS, strict=True):
        running += count
        if running >= q * total:
            return bound
    return _BOUNDS[-1]


def usage_figures(ctx: ServiceContext, *, days: int = 30) -> UsageFigures:
    """Daily images and successes over the last ``days`` (every day, zeros included),
    and per region and model the 50th/90th/99th percentile of processing time."""
    today = ctx.now().date()
    first = today - timedelta(days=days - 1)
    per_day: dict[date, list[int]] = {first + timedelta(days=n): [0, 0] for n in range(days)}
    histograms: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(_BOUNDS))
    for row in usage_rows(ctx.db):
        if row.day < first or row.day > today:
            continue
        per_day[row.day][0] += row.count
        if row.outcome == "done":
            per_day[row.day][1] += row.count
            bucket = histograms[(row.region, row.model)]
            for n, value in enumerate(row.histogram.values()):
                bucket[n] += value
    return UsageFigures(
        days=[DayFigures(day, counts[0], counts[1]) for day, counts in sorted(per_day.items())],
        percentiles=[
            Percentiles(
                region=region,
                model=model,
                images=sum(hist),
                p50=_percentile(hist, 0.5),
                p90=_percentile(hist, 0.9),
                p99=_percentile(hist, 0.99),
            )
            for (region, model), hist in sorted(histograms.items())
        ],
    )
