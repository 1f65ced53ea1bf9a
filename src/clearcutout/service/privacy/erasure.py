"""Deleting an account and everything stored with it.

The privacy policy: "You can also request deletion of your account and all associated
data" ("Your Rights & Choices", "Correction & Deletion"), and an account found to belong
to a child under 13 is deleted ("Children's Privacy"). :func:`delete_account` is the
single way an account is deleted: by its owner (:func:`delete_own_account`), or after
staff flag it as a child's (``service.staff.flag_child``). Beyond the account rows it
removes (:func:`erase_stored_data`):

* every stored object under ``users/<id>/`` in **every** region's storage (not only the
  current one, so a copy left behind by an interrupted region move goes too);
* the rows that reference the person: jobs and data exports. The staff access-log
  entries about them stay, as ids only: the log is append-only and hash-chained
  (``service.staff.accesslog``), the record of who looked at the data and why, and the
  deletion itself is an entry in it.

Then the key is destroyed (crypto-shredding): an object copied before the deletion, a
backup, or an object a late worker wrote, can no longer be opened by anyone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete

from clearcutout.db.models import (
    ApiKey,
    AuthSession,
    ConsentEvent,
    DataExport,
    EmailPreference,
    EmailToken,
    Job,
    PolicyAcceptance,
    PrivacyRequest,
    User,
)
from clearcutout.errors import ValidationError
from clearcutout.service.accounts import sessions
from clearcutout.service.accounts.passwords import verify_password
from clearcutout.service.billing import account as billing
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects
from clearcutout.service.infra.mail import render_email
from clearcutout.service.infra.userkeys import destroy_user_key, read_email, read_name

log = logging.getLogger(__name__)

__all__ = [
    "DELETION_PARAGRAPHS",
    "DeletionReason",
    "Erased",
    "delete_account",
    "delete_own_account",
    "erase_stored_data",
]


class DeletionReason(StrEnum):
    """Why an account is deleted (logged, and chooses the confirmation email's text)."""

    REQUESTED = "requested"
    CHILD = "child"


# The confirmation email's text for each reason (msgids).
DELETION_PARAGRAPHS: dict[DeletionReason, list[str]] = {
    DeletionReason.REQUESTED: [
        "Your ClearCutout account and everything stored with it have been deleted, as "
        "you asked. Your sessions have ended and your data can no longer be read.",
    ],
    DeletionReason.CHILD: [
        "We learned that this ClearCutout account belongs to a child under %(age)s. "
        "ClearCutout is not available to children, so we have deleted the account and "
        "everything stored with it.",
        "If you think this is a mistake, you are welcome to contact us; you can create a "
        "new account if you are %(age)s or older.",
    ],
}

# Rows that belong to one user and hold nothing the law makes us keep. ``jobs`` rows go
# with the user row (ON DELETE CASCADE) once their objects are gone (see below).
_USER_TABLES = (
    AuthSession,
    ApiKey,
    EmailToken,
    EmailPreference,
    ConsentEvent,
    PolicyAcceptance,
    PrivacyRequest,
)


def delete_account(ctx: ServiceContext, user: User, *, reason: DeletionReason) -> None:
    """Delete ``user``'s account now, in this unit of work.

    Steps, in order:

    1. read what the confirmation email needs (address, name, language) while the key
       still exists;
    2. end every session (the session rows go, so the cookie stops working at once);
    3. log the deletion (the person's own; a staff decision is logged by its action),
       then delete every stored object of the user, in every region, and the rows
       that point at them: jobs and data exports (:func:`erase_stored_data`);
    4. cancel the Stripe subscription and delete the credits ledger, keeping only the
       paid invoices' ids and amounts, unlinked (tax law; README, "Billing"); delete
       the user's rows (``_USER_TABLES``, then the user row, which cascades);
    5. destroy the user's key (crypto-shredding: any copy of data sealed with it, in a
       backup or a forgotten object, can no longer be read);
    6. queue the confirmation email (sent after the commit, account category).

    For billing only invoice ids and amounts are kept (README, "Billing"). The access-log
    entries (ids, action, reason) stay as the record of who accessed the data and who
    deleted the account, and why.
    """
    email, name, lang = read_email(ctx, user), read_name(ctx, user), user.lang
    user_id = user.id

    sessions.revoke_all_sessions(ctx, user)
    if reason is DeletionReason.REQUESTED:
        from clearcutout.service.staff import accesslog  # staff imports this module

        # A deletion is an access-log entry; a staff decision is logged by its action.
        accesslog.record_about(
            ctx, user, actor=user, action="account_deleted", reason="deleted by the account's owner"
        )
    erase_stored_data(ctx, user_id)
    billing.forget_account(ctx, user_id)  # cancels the subscription, keeps invoice ids
    for table in _USER_TABLES:
        ctx.db.execute(delete(table).where(table.user_id == user_id))
    destroy_user_key(ctx, user_id)
    ctx.db.delete(user)
    ctx.db.flush()

    _queue_confirmation(ctx, to=email, name=name, lang=lang, reason=reason)
    log.info("account.deleted user_id=%s reason=%s", user_id, reason.value)


def delete_own_account(ctx: ServiceContext, user: User, *, password: str) -> None:
    """The person deletes their own account; the password is asked again."""
    if not verify_password(ctx.settings, user.password_hash, password):
        raise ValidationError("Your password is not correct.", field="delete_password")
    delete_account(ctx, user, reason=DeletionReason.REQUESTED)


def _queue_confirmation(
    ctx: ServiceContext, *, to: str, name: str, lang: str, reason: DeletionReason
) -> None:
    ctx.outbox.add(
        render_email(
            kind=f"account_deleted_{reason.value}",
            lang=lang,
            to=to,
            subject="Your ClearCutout account has been deleted",
            greeting_name=name,
            paragraphs=DELETION_PARAGRAPHS[reason],
            params={"age": ctx.settings.minimum_age_years},
        )
    )


@dataclass(frozen=True)
class Erased:
    objects: int


def erase_stored_data(ctx: ServiceContext, user_id: str) -> Erased:
    """Delete the person's objects in every region and the rows that point at them."""
    deleted = 0
    for region in ctx.settings.regions:
        deleted += objects.region_store(ctx.settings, region).delete_prefix(
            objects.user_prefix(user_id)
        )
    for table in (Job, DataExport):
        ctx.db.execute(
            delete(table).where(table.user_id == user_id),
            execution_options={"synchronize_session": False},
        )
    # The access log is append-only (hash-chained, and on PostgreSQL the application
    # may not delete from it): its entries about the person stay, as ids only.
    log.info("account.objects_erased user_id=%s objects=%d", user_id, deleted)
    return Erased(objects=deleted)
