"""Accounts: sign-up, email verification, login, password reset, profile changes,
browser sessions and API keys.

    signup      the sign-up form and the operator's command; confirming an address
    login       signing in (throttled) and the forgotten-password flow
    profiles    the account as its owner sees and changes it; field checks and look-ups
    emails      the account's emails and their single-use links
    passwords   hashing (Argon2id) and the strength rule
    sessions    browser sessions: create, resolve, list, revoke
    apikeys     API keys: create, list, revoke, authenticate

Emails and names are stored only sealed with the user's key (``service.infra.userkeys``);
lookups go through the email blind index. Answers never reveal whether an address has
an account. Callers use the names re-exported here (and the ``sessions``, ``apikeys``
and ``passwords`` modules).
"""

from clearcutout.service.accounts.login import (
    WRONG_CREDENTIALS,
    authenticate,
    check_reset_token,
    request_password_reset,
    reset_password,
)
from clearcutout.service.accounts.profiles import (
    THEMES,
    Profile,
    change_name,
    change_password,
    change_region,
    clean_referral_code,
    find_user_by_email,
    get_user_by_email,
    list_users,
    profile,
    request_email_change,
    set_preferences,
)
from clearcutout.service.accounts.signup import (
    SignUp,
    create_user_as_operator,
    sign_up,
    verify_email,
)

__all__ = [
    "THEMES",
    "WRONG_CREDENTIALS",
    "Profile",
    "SignUp",
    "authenticate",
    "change_name",
    "change_password",
    "change_region",
    "check_reset_token",
    "clean_referral_code",
    "create_user_as_operator",
    "find_user_by_email",
    "get_user_by_email",
    "list_users",
    "profile",
    "request_email_change",
    "request_password_reset",
    "reset_password",
    "set_preferences",
    "sign_up",
    "verify_email",
]
