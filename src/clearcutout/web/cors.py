"""CORS for the two JSON APIs, so a browser front end on another origin can call them.

Off unless the operator names origins (``CLEARCUTOUT_CORS_ORIGINS``): the default keeps
the browser's same-origin rule. Only ``/api/`` and ``/v1.0/`` take part; pages and forms
never answer another origin. Credentials (cookies) are never allowed cross-origin: a
front end authenticates with ``X-Api-Key``, so a visited site cannot ride a signed-in
person's session (privacy policy, "Security Measures").
"""

from __future__ import annotations

from typing import Final

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from clearcutout.web.openapi import API_PREFIXES

ALLOWED_METHODS: Final = ("GET", "POST", "DELETE")
ALLOWED_HEADERS: Final = ("X-Api-Key", "Content-Type", "Accept", "Accept-Language")
#: Response headers a script may read: remove.bg's result and rate-limit headers, the
#: download name and the wait after a 429.
EXPOSED_HEADERS: Final = (
    "X-Type",
    "X-Width",
    "X-Height",
    "X-Credits-Charged",
    "X-Foreground-Top",
    "X-Foreground-Left",
    "X-Foreground-Width",
    "X-Foreground-Height",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "Content-Disposition",
    "Location",
)
#: How long a browser may reuse a preflight answer.
PREFLIGHT_MAX_AGE_S: Final = 600


class ApiCorsMiddleware:
    """Starlette's CORS handling (preflight included) for the API paths only."""

    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            allow_credentials=False,
            max_age=PREFLIGHT_MAX_AGE_S,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(API_PREFIXES):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
