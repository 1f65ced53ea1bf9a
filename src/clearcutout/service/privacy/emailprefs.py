"""Email categories, per-user preferences and one-click unsubscribe (RFC 8058).

Account and security notices and billing mail are always sent. Service updates (on by
default) and marketing (opt-in, off by default) are optional: each such message carries
a signed, per-user, per-category link in its footer and in ``List-Unsubscribe``, plus
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``, so a mail client can unsubscribe
with one POST and a person without logging in. Every change is recorded in the consent
history (``service.privacy.consent``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from clearcutout.db.models import EmailPreference, User
from clearcutout.errors import InvalidTokenError, ValidationError
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.userkeys import email_to_user
from clearcutout.service.privacy import consent

log = logging.getLogger(__name__)

ACCOUNT = "account"
BILLING = "billing"
SERVICE_UPDATES = "service_updates"
MARKETING = "marketing"
MANDATORY: tuple[str, ...] = (ACCOUNT, BILLING)
# Optional categories and their defaults: marketing is opt-in.
OPTIONAL: dict[str, bool] = {SERVICE_UPDATES: True, MARKETING: False}
CATEGORY_LABELS: dict[str, str] = {
    ACCOUNT: "Account and security notices",
    BILLING: "Billing",
    SERVICE_UPDATES: "Service updates",
    MARKETING: "News and offers (marketing)",
}
UNSUBSCRIBE_PATH = "/unsubscribe"
_TOKEN_PURPOSE = "unsubscribe"  # noqa: S105 (an HMAC purpose label, not a secret)
BAD_LINK = (
    "This unsubscribe link is not valid. You can change your email preferences on the "
    "Privacy page of your account."
)


@dataclass(frozen=True)
class Unsubscription:
    """What a valid unsubscribe token names."""

    user: User
    category: str


def preferences(ctx: ServiceContext, user: User) -> dict[str, bool]:
    """Whether ``user`` receives each optional category."""
    chosen = {
        row.category: row.subscribed
        for row in ctx.db.scalars(select(EmailPreference).where(EmailPreference.user_id == user.id))
    }
    return {category: chosen.get(category, default) for category, default in OPTIONAL.items()}


def wants(ctx: ServiceContext, user: User, category: str) -> bool:
    """Whether a message of ``category`` may be sent to ``user`` now."""
    if category in MANDATORY:
        return True
    return preferences(ctx, user)[category]


def set_preferences(
    ctx: ServiceContext,
    user: User,
    changes: Mapping[str, bool],
    *,
    source: str,
    actor: str = consent.ACTOR_SELF,
) -> list[str]:
    """Apply ``changes`` (optional categories only); returns the categories that changed."""
    unknown = [category for category in changes if category not in OPTIONAL]
    if unknown:
        raise ValidationError("Mandatory emails cannot be turned off.", field="category")
    current = preferences(ctx, user)
    changed = []
    for category, subscribed in changes.items():
        if current[category] == subscribed:
            continue
        row = ctx.db.get(EmailPreference, (user.id, category))
        if row is None:
            row = EmailPreference(user_id=user.id, category=category, subscribed=subscribed)
            ctx.db.add(row)
        row.subscribed = subscribed
        row.updated_at = ctx.now()
        consent.record(
            ctx,
            user,
            kind=consent.KIND_EMAIL,
            subject=category,
            value="subscribed" if subscribed else "unsubscribed",
            source=source,
            actor=actor,
        )
        changed.append(category)
    ctx.db.flush()
    if changed:
        log.info("email.preferences_changed user_id=%s categories=%s", user.id, ",".join(changed))
    return changed


# ----------------------------------------------------------------------------- one-click links


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsubscribe_token(ctx: ServiceContext, *, user_id: str, category: str) -> str:
    """A signed token naming one user and one category. It does not expire: an
    unsubscribe link must keep working in an old email."""
    payload = f"{user_id}:{category}".encode()
    return f"{_b64(payload)}.{_b64(ctx.keyring.sign(_TOKEN_PURPOSE, payload))}"


def unsubscribe_url(ctx: ServiceContext, *, user_id: str, category: str) -> str:
    token = unsubscribe_token(ctx, user_id=user_id, category=category)
    return f"{ctx.settings.base_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={token}"


def check_token(ctx: ServiceContext, token: str) -> Unsubscription:
    """The user and category of a valid token; :class:`InvalidTokenError` otherwise."""
    payload_part, _, mac_part = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(payload_part + "=" * (-len(payload_part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTokenError(BAD_LINK) from None
    expected = _b64(ctx.keyring.sign(_TOKEN_PURPOSE, payload))
    if not mac_part or not hmac.compare_digest(expected, mac_part):
        raise InvalidTokenError(BAD_LINK)
    user_id, _, category = payload.decode("utf-8", "replace").partition(":")
    user = ctx.db.get(User, user_id)
    if user is None or category not in OPTIONAL:
        raise InvalidTokenError(BAD_LINK)
    return Unsubscription(user=user, category=category)


def unsubscribe(ctx: ServiceContext, token: str, *, source: str) -> Unsubscription:
    """Turn off the category named by ``token`` (idempotent)."""
    found = check_token(ctx, token)
    set_preferences(ctx, found.user, {found.category: False}, source=source)
    return found


def list_unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 ``List-Unsubscribe`` with the RFC 8058 one-click POST marker."""
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


# ----------------------------------------------------------------------------- sending


def announce(
    ctx: ServiceContext,
    *,
    category: str,
    subject: str,
    paragraphs: list[str],
) -> int:
    """Email every verified user who receives ``category`` (an optional one); returns how
    many messages were queued. Each carries its recipient's unsubscribe link and headers."""
    if category not in OPTIONAL:
        raise ValidationError("Announcements go to an optional category.", field="category")
    count = 0
    for user in ctx.db.scalars(select(User).where(User.email_verified_at.is_not(None))):
        if not wants(ctx, user, category):
            continue
        url = unsubscribe_url(ctx, user_id=user.id, category=category)
        ctx.outbox.add(
            email_to_user(
                ctx,
                user,
                kind=f"announcement_{category}",
                subject=subject,
                paragraphs=paragraphs,
                unsubscribe_url=url,
                headers=list_unsubscribe_headers(url),
            )
        )
        count += 1
    log.info("email.announced category=%s count=%s", category, count)
    return count
