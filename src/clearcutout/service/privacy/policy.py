"""The privacy policy: versions, their text and structure, publishing and acceptance.

Versions live in the database (``policy_versions``), seeded from the text shipped in
``policy/privacy-policy-<YYYY-MM-DD>.txt`` (the product spec). A version's id is its
effective date; each has a summary of changes and a "significant" flag. Publishing a
significant version emails every user the summary and asks them to accept it at their
next login; acceptances are kept in ``PolicyAcceptance`` and the consent history.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from sqlalchemy import select

from clearcutout.db.models import PolicyAcceptance, PolicyVersionRow, User
from clearcutout.errors import NotFoundError, ValidationError
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.userkeys import email_to_user
from clearcutout.service.privacy import consent

log = logging.getLogger(__name__)

POLICY_DIR = Path(__file__).parent / "policies"
_FILE_RE = re.compile(r"privacy-policy-(\d{4}-\d{2}-\d{2})\.txt")
_UPDATED_RE = re.compile(r"^Last updated:\s*(.+)$")


@dataclass(frozen=True)
class Block:
    """One piece of the policy: ``kind`` is ``h2``, ``h3``, ``p`` or ``ul`` (``items``)."""

    kind: str
    text: str = ""
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyVersion:
    version: str
    effective: date
    title: str
    intro: str
    blocks: tuple[Block, ...]
    summary: str = ""
    significant: bool = False


def _is_heading(line: str) -> bool:
    return len(line) <= 60 and not line.startswith("- ") and line[-1] not in ".:!?"


def parse_policy(text: str, *, version: str, effective: date | None = None) -> PolicyVersion:
    """Structure the plain policy text: title, intro, "Last updated", headings, lists.

    ``effective`` (a published version's date) wins over the text's "Last updated" line.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 3:
        raise ValueError("policy text needs a title, an introduction and a body")
    title, intro = lines[0], lines[1]
    stated: date | None = None
    seen_updated = False
    body: list[str] = []
    for line in lines[2:]:
        match = _UPDATED_RE.match(line)
        if match and not seen_updated:
            seen_updated = True
            try:
                stated = datetime.strptime(match.group(1).strip(), "%B %d, %Y").date()
            except ValueError:
                stated = None
        else:
            body.append(line)
    effective = effective or stated
    if effective is None:
        raise ValueError("policy text has no 'Last updated:' line")
    blocks: list[Block] = []
    items: list[str] = []
    for index, line in enumerate(body):
        if line.startswith("- "):
            items.append(line[2:])
            continue
        if items:
            blocks.append(Block(kind="ul", items=tuple(items)))
            items = []
        if _is_heading(line):
            following = body[index + 1] if index + 1 < len(body) else ""
            kind = "h2" if following and _is_heading(following) else "h3"
            blocks.append(Block(kind=kind, text=line))
        else:
            blocks.append(Block(kind="p", text=line))
    if items:
        blocks.append(Block(kind="ul", items=tuple(items)))
    return PolicyVersion(
        version=version, effective=effective, title=title, intro=intro, blocks=tuple(blocks)
    )


@cache
def shipped_versions() -> tuple[PolicyVersion, ...]:
    """Every shipped version, oldest first."""
    versions = []
    for path in sorted(POLICY_DIR.glob("privacy-policy-*.txt")):
        match = _FILE_RE.fullmatch(path.name)
        if match:
            versions.append(parse_policy(path.read_text(encoding="utf-8"), version=match.group(1)))
    return tuple(versions)


def current_policy() -> PolicyVersion:
    """The newest version shipped with the code (the database seed; see
    :func:`current_version` for the version in force)."""
    return shipped_versions()[-1]


# ----------------------------------------------------------------------------- database


_SHIPPED_SUMMARY = "First published version."


def _ensure_shipped(ctx: ServiceContext) -> None:
    """Insert shipped versions the database lacks (the migration seeds them; this covers
    a database emptied since)."""
    known = set(ctx.db.scalars(select(PolicyVersionRow.id)))
    for shipped in shipped_versions():
        if shipped.version not in known:
            path = POLICY_DIR / f"privacy-policy-{shipped.version}.txt"
            ctx.db.add(
                PolicyVersionRow(
                    id=shipped.version,
                    effective_date=shipped.effective,
                    summary=_SHIPPED_SUMMARY,
                    summary_translations={"de": "Erste veröffentlichte Fassung."},
                    significant=False,
                    text=path.read_text(encoding="utf-8"),
                    published_at=ctx.now(),
                )
            )
            ctx.db.flush()


def _from_row(row: PolicyVersionRow) -> PolicyVersion:
    parsed = parse_policy(row.text, version=row.id, effective=row.effective_date)
    return dataclasses.replace(parsed, summary=row.summary, significant=row.significant)


def _effective_rows(ctx: ServiceContext) -> list[PolicyVersionRow]:
    _ensure_shipped(ctx)
    return list(
        ctx.db.scalars(
            select(PolicyVersionRow)
            .where(PolicyVersionRow.effective_date <= ctx.now().date())
            .order_by(PolicyVersionRow.effective_date.desc())
        )
    )


def versions(ctx: ServiceContext) -> list[PolicyVersion]:
    """Every version in force now or before, newest first."""
    return [_from_row(row) for row in _effective_rows(ctx)]


def current_version(ctx: ServiceContext) -> PolicyVersion:
    """The version in force: shown at ``/privacy`` and accepted at sign-up."""
    return versions(ctx)[0]


def get_version(ctx: ServiceContext, version_id: str) -> PolicyVersion:
    """One version that is or was in force."""
    for row in _effective_rows(ctx):
        if row.id == version_id:
            return _from_row(row)
    raise NotFoundError("There is no policy version with this date.")


def summary_for(row: PolicyVersionRow, lang: str) -> str:
    return row.summary_translations.get(lang) or row.summary


def publish(
    ctx: ServiceContext,
    *,
    text: str,
    effective: date,
    summary: str,
    significant: bool,
    summary_translations: dict[str, str] | None = None,
) -> PolicyVersion:
    """Publish a new version (operator command). A significant one is emailed to every
    verified user with its summary, in their language (account category: always sent)."""
    _ensure_shipped(ctx)
    version_id = effective.isoformat()
    if ctx.db.get(PolicyVersionRow, version_id) is not None:
        raise ValidationError("A version with this effective date exists already.")
    latest = ctx.db.scalar(
        select(PolicyVersionRow.effective_date).order_by(PolicyVersionRow.effective_date.desc())
    )
    if latest is not None and effective <= latest:
        raise ValidationError("A new version must take effect after the latest one.")
    if not summary.strip():
        raise ValidationError("Describe the changes in a summary.")
    try:
        parse_policy(text, version=version_id, effective=effective)
    except ValueError as exc:
        raise ValidationError("The policy text has no title and introduction.") from exc
    row = PolicyVersionRow(
        id=version_id,
        effective_date=effective,
        summary=summary.strip(),
        summary_translations={k: v.strip() for k, v in (summary_translations or {}).items()},
        significant=significant,
        text=text,
        published_at=ctx.now(),
    )
    ctx.db.add(row)
    ctx.db.flush()
    notified = _notify_significant(ctx, row) if significant else 0
    log.info(
        "policy.published version=%s significant=%s notified=%s", version_id, significant, notified
    )
    return _from_row(row)


def _notify_significant(ctx: ServiceContext, row: PolicyVersionRow) -> int:
    count = 0
    link = f"{ctx.settings.base_url.rstrip('/')}/privacy/versions/{row.id}"
    for user in ctx.db.scalars(select(User).where(User.email_verified_at.is_not(None))):
        ctx.outbox.add(
            email_to_user(
                ctx,
                user,
                kind="policy_changed",
                subject="Our privacy policy is changing",
                paragraphs=[
                    "We are making significant changes to our privacy policy. The new "
                    "version takes effect on %(date)s.",
                    "Summary of the changes: %(summary)s",
                    "We will ask you to accept the new version the next time you log in.",
                ],
                action_url=link,
                action_label="Read the new privacy policy",
                params={
                    "date": row.effective_date.isoformat(),
                    "summary": summary_for(row, user.lang),
                },
            )
        )
        count += 1
    return count


def _accepted_versions(ctx: ServiceContext, user: User) -> list[str]:
    return list(
        ctx.db.scalars(
            select(PolicyAcceptance.policy_version).where(PolicyAcceptance.user_id == user.id)
        )
    )


def pending_acceptance(ctx: ServiceContext, user: User) -> PolicyVersion | None:
    """The version ``user`` must accept before going on, if any: the current one when
    they accepted none, or when a significant version took effect after their latest
    acceptance."""
    rows = _effective_rows(ctx)
    accepted = _accepted_versions(ctx, user)
    current = rows[0]
    if not accepted:
        return _from_row(current)
    newest_accepted = max(accepted)
    significant = next((row for row in rows if row.significant), None)
    if significant is not None and significant.id > newest_accepted:
        return _from_row(current)
    return None


@dataclass(frozen=True)
class Acceptance:
    version: str
    accepted_at: datetime


def latest_acceptance(ctx: ServiceContext, user: User) -> Acceptance | None:
    row = ctx.db.scalar(
        select(PolicyAcceptance)
        .where(PolicyAcceptance.user_id == user.id)
        .order_by(PolicyAcceptance.accepted_at.desc())
    )
    return Acceptance(version=row.policy_version, accepted_at=row.accepted_at) if row else None


def accept(ctx: ServiceContext, user: User, *, version_id: str, source: str) -> None:
    """Record that ``user`` accepted ``version_id`` (which must be the one in force)."""
    if version_id != current_version(ctx).version:
        raise ValidationError("Please accept the privacy policy that is in force now.")
    now = ctx.now()
    ctx.db.add(PolicyAcceptance(user_id=user.id, policy_version=version_id, accepted_at=now))
    consent.record(
        ctx,
        user,
        kind=consent.KIND_POLICY,
        subject=version_id,
        value="accepted",
        source=source,
        at=now,
    )
    ctx.db.flush()
    log.info("policy.accepted user_id=%s version=%s", user.id, version_id)
