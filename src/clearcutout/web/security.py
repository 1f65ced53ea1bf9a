"""Middleware: security headers on every response, and the signed ``csrf-token`` cookie.

CSRF uses the signed double-submit pattern (OWASP CSRF cheat sheet): the cookie holds a
random value with an HMAC under the app secret over the value *and the session cookie*,
and every state-changing request that is not authenticated by a valid API key must echo
it in the form field ``csrf_token`` or the header ``X-CSRF-Token``. Binding the token to
the session means a token obtained elsewhere (another session, or none) and planted in a
victim's browser does not pass; after sign-in and sign-out the cookie is re-issued. A
browser's ``Sec-Fetch-Site``, ``Origin`` or ``Referer`` naming another site is refused
outright (:func:`same_origin`). The cookie is SameSite=Lax as a further line of defence.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clearcutout.crypto import Keyring
from clearcutout.web.middleware import HttpMiddleware

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


def _csrf_mac(keyring: Keyring, nonce: str, session: str | None) -> str:
    signed = keyring.sign("csrf", f"{nonce}|{session or ''}".encode())
    return base64.urlsafe_b64encode(signed).decode().rstrip("=")


def new_csrf_token(keyring: Keyring, *, session: str | None) -> str:
    """A token for the browser whose session cookie is ``session`` (None: signed out)."""
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_csrf_mac(keyring, nonce, session)}"


def csrf_token_is_valid(keyring: Keyring, token: str | None, *, session: str | None) -> bool:
    """Whether ``token`` was issued by us for the session cookie ``session``."""
    if not token or "." not in token:
        return False
    nonce, _, mac = token.partition(".")
    return hmac.compare_digest(_csrf_mac(keyring, nonce, session), mac)


def csrf_tokens_match(
    keyring: Keyring, cookie: str | None, submitted: str | None, *, session: str | None
) -> bool:
    """The double-submit check: a cookie signed for this session, echoed exactly."""
    return (
        csrf_token_is_valid(keyring, cookie, session=session)
        and submitted is not None
        and hmac.compare_digest(cookie or "", submitted)
    )


def _netloc(url: str) -> str | None:
    """``host[:port]`` of ``url``, lower-case, without the scheme's default port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.scheme not in ("http", "https"):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 443 if parts.scheme == "https" else 80
    return host if port in (None, default) else f"{host}:{port}"


def same_origin(
    *,
    fetch_site: str | None,
    origin: str | None,
    referer: str | None,
    host: str,
    base_url: str,
) -> bool:
    """Whether an unsafe request comes from this site, as the browser tells it.

    ``Sec-Fetch-Site`` (Fetch Metadata) decides where the browser sends it: only
    ``same-origin`` and ``none`` (typed or bookmarked) pass. Without it, ``Origin`` (else
    ``Referer``) must name the ``Host`` the request came to or the public ``base_url``.
    Our pages send ``Referrer-Policy: no-referrer``, under which browsers send
    ``Origin: null`` even for our own forms, so ``null`` proves nothing either way and
    is left to the CSRF token, as is a request with none of these headers (not a
    browser's cross-site request: browsers send ``Origin`` on every cross-site POST)."""
    if fetch_site is not None:
        return fetch_site.strip().lower() in ("same-origin", "none")
    claimed = origin if origin is not None and origin.strip() != "null" else referer
    if claimed is None or (origin is not None and origin.strip() == "null" and referer is None):
        return True
    netloc = _netloc(claimed.strip())
    if netloc is None:
        return False
    allowed = {_netloc(f"http://{host}"), _netloc(f"https://{host}"), _netloc(base_url)}
    return netloc in allowed


def _request_cookies(scope: Scope) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            cookies.update(cookie_parser(value.decode("latin-1")))
    return cookies


class SecurityMiddleware(HttpMiddleware):
    """Adds the security headers and issues the CSRF cookie when a page needs one."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keyring: Keyring,
        content_security_policy: str = CONTENT_SECURITY_POLICY,
    ) -> None:
        super().__init__(app)
        self.keyring = keyring
        self.content_security_policy = content_security_policy

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        tls = scope.get("scheme") == "https"
        path: str = scope.get("path", "")
        cookies = _request_cookies(scope)
        cookie = cookies.get(CSRF_COOKIE)
        session = cookies.get(SESSION_COOKIE)
        issue_cookie = not csrf_token_is_valid(
            self.keyring, cookie, session=session
        ) and not path.startswith(("/api/", "/static/", "/v1.0/"))
        token = new_csrf_token(self.keyring, session=session) if issue_cookie else cookie
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
