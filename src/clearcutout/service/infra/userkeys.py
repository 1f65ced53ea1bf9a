"""Per-user keys and the personal data sealed with them (crypto-shredding unit).

Each user has one random key, stored only wrapped by their region's master key. Name and
email are sealed with it; the images work wraps each object's data key with it too.
:func:`destroy_user_key` deletes it, after which none of that user's data can be read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from clearcutout import crypto
from clearcutout.db.models import User, UserKey
from clearcutout.errors import NotFoundError
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.mail import OutgoingEmail, render_email


def _wrap_aad(user_id: str) -> bytes:
    return f"user-key:{user_id}".encode()


def create_user_key(ctx: ServiceContext, *, user_id: str, region: str) -> bytes:
    """Make, wrap and store a new key for ``user_id``; returns the plaintext key."""
    key = crypto.new_key()
    ctx.db.add(
        UserKey(
            user_id=user_id,
            region=region,
            master_key_id=ctx.keyring.master_key_id(region),
            wrapped_key=crypto.wrap_key(
                ctx.keyring.master_key(region), key, aad=_wrap_aad(user_id)
            ),
            created_at=ctx.now(),
        )
    )
    return key


def user_key(ctx: ServiceContext, user_id: str) -> bytes:
    """The user's plaintext key; :class:`NotFoundError` once it has been destroyed."""
    row = ctx.db.get(UserKey, user_id)
    if row is None:
        raise NotFoundError("This account's data key no longer exists.")
    return crypto.unwrap_key(
        ctx.keyring.master_key(row.region), row.wrapped_key, aad=_wrap_aad(user_id)
    )


def rewrap_user_key(ctx: ServiceContext, user_id: str, *, region: str) -> None:
    """Re-wrap the user's key under another region's master key (region change)."""
    row = ctx.db.get(UserKey, user_id)
    if row is None:
        raise NotFoundError("This account's data key no longer exists.")
    key = user_key(ctx, user_id)
    row.region = region
    row.master_key_id = ctx.keyring.master_key_id(region)
    row.wrapped_key = crypto.wrap_key(ctx.keyring.master_key(region), key, aad=_wrap_aad(user_id))


def destroy_user_key(ctx: ServiceContext, user_id: str) -> None:
    """Crypto-shred: delete the user's key so nothing sealed with it can be read again."""
    ctx.db.execute(delete(UserKey).where(UserKey.user_id == user_id))


def _field_aad(user_id: str, field: str) -> bytes:
    return f"user:{user_id}:{field}".encode()


def seal(key: bytes, *, user_id: str, field: str, value: str) -> bytes:
    """Encrypt one personal-data field, bound to its user and field name."""
    return crypto.encrypt(key, value.encode("utf-8"), aad=_field_aad(user_id, field))


def unseal(key: bytes, *, user_id: str, field: str, blob: bytes) -> str:
    return crypto.decrypt(key, blob, aad=_field_aad(user_id, field)).decode("utf-8")


def read_email(ctx: ServiceContext, user: User) -> str:
    return unseal(user_key(ctx, user.id), user_id=user.id, field="email", blob=user.email_enc)


def read_name(ctx: ServiceContext, user: User) -> str:
    return unseal(user_key(ctx, user.id), user_id=user.id, field="name", blob=user.name_enc)


def email_to_user(
    ctx: ServiceContext, user: User, *, to: str | None = None, **content: Any
) -> OutgoingEmail:
    """A message for ``user`` in their language, greeting them by their (unsealed) name.

    ``to`` defaults to their current address; ``content`` is :func:`render_email`'s.
    """
    return render_email(
        lang=user.lang,
        to=read_email(ctx, user) if to is None else to,
        greeting_name=read_name(ctx, user),
        **content,
    )
