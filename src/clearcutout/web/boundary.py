"""The request boundary: one unit of work per request, and who is asking.

Routes open :func:`unit_of_work`, call services, and leave; the boundary commits (or
rolls back) and only then delivers the queued emails. The app's
:class:`~clearcutout.service.runtime.Runtime` is ``app.state.runtime``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Form, Request

from clearcutout.db.models import User
from clearcutout.errors import AuthenticationError
from clearcutout.service.accounts import apikeys, sessions
from clearcutout.service.context import ServiceContext
from clearcutout.service.runtime import Runtime
from clearcutout.web.security import SESSION_COOKIE

log = logging.getLogger(__name__)

#: A text field of a posted HTML form (a route gives its default: ``""`` for left out).
FormText = Annotated[str, Form()]


@dataclass(frozen=True)
class Principal:
    """The signed-in user, and how: a browser session (``session_id``) or an API key."""

    user: User
    session_id: str | None
    via_api_key: bool


def runtime(request: Request) -> Runtime:
    """The app's runtime: settings, database, keys and clock."""
    value: Runtime = request.app.state.runtime
    return value


@contextmanager
def unit_of_work(request: Request) -> Iterator[ServiceContext]:
    """One transaction per request: commit (then send mail) or roll back."""
    with runtime(request).unit_of_work() as ctx:
        yield ctx


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def session_principal(ctx: ServiceContext, request: Request) -> Principal | None:
    """The user behind the ``session-token`` cookie, if the session is live."""
    found = sessions.resolve_session(ctx, request.cookies.get(SESSION_COOKIE))
    if found is None:
        return None
    session, user = found
    return Principal(user=user, session_id=session.id, via_api_key=False)


def api_principal(ctx: ServiceContext, request: Request, *, scope: str) -> Principal:
    """The user behind ``X-Api-Key`` (with ``scope``), else the browser session."""
    raw = request.headers.get("x-api-key")
    if raw:
        return Principal(
            user=apikeys.authenticate_api_key(
                ctx, raw, scope=scope, client_ip=client_ip(request) or "unknown"
            ),
            session_id=None,
            via_api_key=True,
        )
    principal = session_principal(ctx, request)
    if principal is None:
        raise AuthenticationError("Sign in or send an API key in the X-Api-Key header.")
    return principal
