"""The key rules, on their own: what the service layer may use as object keys."""

from __future__ import annotations

import uuid

import pytest

from clearcutout.storage import MAX_KEY_BYTES, InvalidObjectKeyError, validate_key, validate_prefix

GOOD_KEYS = [
    "a",
    "result.png",
    f"users/{uuid.uuid4()}/jobs/{uuid.uuid4().hex}/original",
    "A-Z_a-z.0-9",
    "x..y",
    "trailing.",
    "/".join(["k"] * 512)[: MAX_KEY_BYTES - 1],
]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_keys_are_accepted_unchanged(key: str) -> None:
    assert validate_key(key) is key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("a\x00b", "NUL"),
        ("/abs", "absolute"),
        ("../x", "'..'"),
        ("x/..", "'..'"),
        ("a//b", "empty"),
        (".env", "starting with '.'"),
        ("a b", "characters outside"),
        ("a\\b", "characters outside"),
        ("k" * 1025, "longer than 1024 bytes"),
        ("k" * 256, "longer than 255 bytes"),
    ],
)
def test_bad_keys_say_what_is_wrong(key: str, reason: str) -> None:
    with pytest.raises(InvalidObjectKeyError, match=reason):
        validate_key(key)


def test_non_string_keys_are_refused() -> None:
    with pytest.raises(InvalidObjectKeyError, match="must be a str"):
        validate_key(b"bytes-key")  # type: ignore[arg-type]


def test_prefixes_may_end_with_a_slash_or_part_of_a_segment() -> None:
    assert validate_prefix("") == ""
    assert validate_prefix("users/") == "users/"
    assert validate_prefix("users/12") == "users/12"
    with pytest.raises(InvalidObjectKeyError, match="empty"):
        validate_prefix("", allow_empty=False)
    with pytest.raises(InvalidObjectKeyError):
        validate_prefix("users//")


def test_invalid_key_error_is_a_value_error() -> None:
    # A bad key is a programming error in the caller, not a user-facing ClearCutoutError.
    assert issubclass(InvalidObjectKeyError, ValueError)
