"""Where a page sends a person next: the landing page after login, ``next`` kept only
when it stays on this site, and the way to the login form and back."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

# Signed in, a person came to remove backgrounds: the upload page, not the settings.
LANDING_PAGE = "/app"
_MAX_NEXT = 2000


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site, else None (no open redirect).

    A browser reads ``//host`` and ``/\\host`` as another site, and drops tabs and line
    breaks from URLs, so only a single leading slash followed by printable, non-space
    characters is kept.
    """
    if not value or len(value) > _MAX_NEXT or not value.startswith("/"):
        return None
    if value[1:2] in ("/", "\\") or any(ch.isspace() or not ch.isprintable() for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def after_login(next_path: str | None) -> str:
    return safe_next(next_path) or LANDING_PAGE


def with_next(path: str, next_path: str | None) -> str:
    """``path`` carrying a safe ``next`` in its query (none when it is the landing page)."""
    target = safe_next(next_path)
    if target is None or target == LANDING_PAGE:
        return path
    return f"{path}?{urlencode({'next': target})}"


def to_login(request: Request) -> Response:
    """Redirect to the login form; after it, back to this page (GET pages only: a form
    posted without a session cannot be replayed)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(
        with_next("/login", here if request.method == "GET" else None), status_code=303
    )
