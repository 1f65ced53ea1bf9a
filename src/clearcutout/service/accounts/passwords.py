"""Password hashing (argon2id) and strength rules."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from clearcutout.config import Settings
from clearcutout.errors import ValidationError

MAX_PASSWORD_LENGTH = 256

# The most common passwords of public breach lists that reach the minimum length.
_COMMON = frozenset(
    {
        "1234567890",
        "12345678910",
        "123456789a",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "abcdefghij",
        "password12",
        "password123",
        "password1234",
        "passwort123",
        "qwertyuiop",
        "qwertzuiop",
        "iloveyou123",
        "letmein1234",
        "0987654321",
        "1111111111",
        "changeme123",
        "welcome123",
        "clearcutout",
        "clearcutout1",
    }
)


def hasher(settings: Settings) -> PasswordHasher:
    """argon2id with the memory and time cost from settings."""
    return PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
    )


def hash_password(settings: Settings, password: str) -> str:
    return hasher(settings).hash(password)


def verify_password(settings: Settings, password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a mismatch."""
    try:
        return hasher(settings).verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def dummy_verify(settings: Settings) -> None:
    """Spend the time of one verification, so unknown emails answer as slowly as known."""
    verify_password(settings, _dummy_hash(settings), "not the password")


_dummy_cache: dict[tuple[int, int], str] = {}


def _dummy_hash(settings: Settings) -> str:
    key = (settings.argon2_time_cost, settings.argon2_memory_kib)
    if key not in _dummy_cache:
        _dummy_cache[key] = hash_password(settings, "dummy password for timing")
    return _dummy_cache[key]


def check_strength(settings: Settings, password: str, *, email: str, name: str) -> None:
    """Raise :class:`ValidationError` (field ``password``) for a weak password.

    Rules follow NIST SP 800-63B: a minimum length, no composition rules, but reject
    well-known passwords and ones built from the person's own email or name.
    """
    minimum = settings.password_min_length
    if len(password) < minimum:
        raise ValidationError(
            "Use at least %(min)s characters for your password.",
            field="password",
            params={"min": minimum},
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(
            "Use at most %(max)s characters for your password.",
            field="password",
            params={"max": MAX_PASSWORD_LENGTH},
        )
    lowered = password.lower()
    if lowered in _COMMON or len(set(lowered)) < 5:
        raise ValidationError(
            "This password is too easy to guess. Choose a longer or less common one.",
            field="password",
        )
    personal = [email.split("@")[0].lower(), *name.lower().split()]
    if any(len(part) >= 3 and part in lowered for part in personal):
        raise ValidationError(
            "Your password must not contain your name or email address.", field="password"
        )
