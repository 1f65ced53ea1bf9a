"""The line a page shows after its form redirected back with ``?done=<outcome>``.

The outcome travels in the address as a key rather than in a flash cookie: the cookie
notice lists every cookie we set, and this needs none. Templates translate the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

NOTICES: Final[Mapping[str, Mapping[str, str]]] = {
    "account": {
        "name": "Your name was saved.",
        "password": "Your password was changed. Other sessions were signed out.",
        "email": (
            "We sent a confirmation link to the new address. The change applies once you open it."
        ),
        "preferences": "Your preferences were saved.",
        "region": "Your region was changed.",
        "sessions": "All other sessions were signed out.",
        "session": "The session was signed out.",
        "apikey_revoked": "The API key was revoked.",
    },
    "privacy": {
        "email": "Your email preferences were saved.",
        "request": "Thank you. We received your request and sent you a confirmation by email.",
        "policy": "Thank you. You accepted the privacy policy.",
        "export": "We are preparing your data. We will email you a link when it is ready.",
    },
    "billing": {
        "paid": "Thank you. Your purchase will show here as soon as Stripe confirms it.",
        "cancelled": "The checkout was cancelled; nothing was charged.",
    },
    "staff": {
        "closed": "The request was marked as answered.",
        "deleted": "The account was deleted and its owner informed.",
        "role": "The role was changed.",
        "locked": "The account was locked.",
        "unlocked": "The account was unlocked.",
        "incident": "The incident was recorded and the notices were sent.",
        "acknowledged": "The alert was marked as seen.",
    },
}


def notice(page: str, done: str | None) -> str | None:
    """The text for the outcome ``done`` on ``page``; None when there is none or it is unknown."""
    return NOTICES[page].get(done or "")
