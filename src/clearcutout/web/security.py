"""Middleware: security headers on every response, and the signed ``csrf-token`` cookie.

CSRF uses the double-submit pattern (OWASP CSRF cheat sheet): the cookie holds a random
value with an HMAC under the app secret, and every state-changing request that is not
authenticated by API key must echo it in the form field ``csrf_token`` or the header
``X-CSRF-Token``. The cookie is SameSite=Lax as a second line of defence.
"""

from __future__ import annotations

import base64
import hmac
import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clearcutout.crypto import Keyring

CSRF_COOKIE = "csrf-token"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_COOKIE = "session-token"
THEME_COOKIE = "theme"
LANG_COOKIE = "lang"
ONE_YEAR_S = 365 * 24 * 3600

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
# RFC 8058 one-click unsubscribe: a mail client POSTs ``List-Unsubscribe=One-Click`` to
# the link without any cookie or token of ours, so this path cannot ask for the CSRF echo.
# It is safe without it: the signed link itself authorises exactly one opt-out.
# The Stripe webhook is authenticated by its signature, not a cookie.
CSRF_EXEMPT_PATHS = frozenset({"/unsubscribe", "/webhooks/stripe"})
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)


def new_csrf_token(keyring: Keyring) -> str:
    nonce = secrets.token_urlsafe(24)
    mac = base64.urlsafe_b64encode(keyring.sign("csrf", nonce.encode())).decode().rstrip("=")
    return f"{nonce}.{mac}"


def csrf_token_is_valid(keyring: Keyring, token: str | None) -> bool:
    if not token or "." not in token:
        return False
    nonce, _, mac = token.partition(".")
    expected = base64.urlsafe_b64encode(keyring.sign("csrf", nonce.encode())).decode()
    return hmac.compare_digest(expected.rstrip("="), mac)


def csrf_tokens_match(keyring: Keyring, cookie: str | None, submitted: str | None) -> bool:
    """The double-submit check: a validly signed cookie, echoed exactly."""
    return (
        csrf_token_is_valid(keyring, cookie)
        and submitted is not None
        and hmac.compare_digest(cookie or "", submitted)
    )


def _request_cookies(scope: Scope) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            cookies.update(cookie_parser(value.decode("latin-1")))
    return cookies


class SecurityMiddleware:
    """Adds the security headers and issues the CSRF cookie when a page needs one."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keyring: Keyring,
        content_security_policy: str = CONTENT_SECURITY_POLICY,
    ) -> None:
        self.app = app
        self.keyring = keyring
        self.content_security_policy = content_security_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"
        path: str = scope.get("path", "")
        cookie = _request_cookies(scope).get(CSRF_COOKIE)
        issue_cookie = not csrf_token_is_valid(self.keyring, cookie) and not path.startswith(
            ("/api/", "/static/", "/v1.0/")
        )
        token = new_csrf_token(self.keyring) if issue_cookie else cookie
        scope.setdefault("state", {})["csrf_token"] = token

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self.content_security_policy
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Permissions-Policy"] = PERMISSIONS_POLICY
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Cross-Origin-Resource-Policy"] = "same-origin"
                if tls:
                    headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
                if "cache-control" not in headers and not path.startswith("/static/"):
                    headers["Cache-Control"] = "no-store"
                already = any(
                    value.startswith(f"{CSRF_COOKIE}=") for value in headers.getlist("set-cookie")
                )
                if issue_cookie and token and not already:
                    headers.append("Set-Cookie", csrf_cookie_header(token, tls=tls))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_cookie_header(token: str, *, tls: bool) -> str:
    # Readable by scripts on purpose (double-submit); Lax keeps it off cross-site POSTs.
    parts = [f"{CSRF_COOKIE}={token}", "Path=/", "SameSite=Lax"]
    if tls:
        parts.append("Secure")
    return "; ".join(parts)
