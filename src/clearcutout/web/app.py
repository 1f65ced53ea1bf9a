"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from clearcutout.config import Settings, get_settings
from clearcutout.errors import CsrfError
from clearcutout.service.accounts import apikeys
from clearcutout.service.privacy.retention import install_lifecycle_rules
from clearcutout.service.runtime import Runtime
from clearcutout.web.boundary import client_ip, runtime, unit_of_work
from clearcutout.web.cors import ApiCorsMiddleware
from clearcutout.web.errors import install_error_handlers
from clearcutout.web.integrations import content_security_policy, enabled
from clearcutout.web.metrics import AppMetrics, RequestTimer
from clearcutout.web.openapi import install_openapi
from clearcutout.web.security import (
    CSRF_COOKIE,
    CSRF_EXEMPT_PATHS,
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    SecurityMiddleware,
    csrf_tokens_match,
    same_origin,
)
from clearcutout.workers import create_executor
from clearcutout.workers.housekeeping import Housekeeper

log = logging.getLogger(__name__)

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _check_api_key(request: Request) -> None:
    with unit_of_work(request) as ctx:
        apikeys.check_api_key(
            ctx, request.headers.get("x-api-key") or "", client_ip(request) or "unknown"
        )


async def csrf_guard(request: Request) -> None:
    """Reject a state-changing request that could ride on the browser's cookies: one from
    another origin, or one without the CSRF echo bound to this session.

    Only a request that is actually authenticated by a valid API key skips the check,
    and only on the JSON API, whose routes then use the key and never the cookie; an
    ``X-Api-Key`` header elsewhere authenticates nothing and changes nothing here.
    """
    if request.method not in _UNSAFE:
        return
    path = request.url.path
    if path in CSRF_EXEMPT_PATHS:
        return
    # remove.bg's API accepts X-Api-Key only, never the session cookie: nothing to forge.
    if path.startswith("/v1.0/"):
        return
    if request.headers.get("x-api-key") is not None and path.startswith("/api/"):
        # A wrong key is refused here (401, counted per address), never waved through.
        await run_in_threadpool(_check_api_key, request)
        return
    settings = runtime(request).settings
    if not same_origin(
        fetch_site=request.headers.get("sec-fetch-site"),
        origin=request.headers.get("origin"),
        referer=request.headers.get("referer"),
        host=request.headers.get("host", ""),
        base_url=settings.base_url,
    ):
        log.info("csrf.refused reason=cross_origin")
        raise CsrfError(
            "This form has expired or was not sent from ClearCutout. Reload the page and try again."
        )
    submitted = request.headers.get(CSRF_HEADER)
    # The JSON API takes the token from the header only: parsing an upload here would
    # spool it to a temporary file (plaintext on disk) before the route's own limits.
    if (
        submitted is None
        and not request.url.path.startswith("/api/")
        and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        )
    ):
        value = (await request.form()).get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    keyring = runtime(request).keyring
    session = request.cookies.get(SESSION_COOKIE)
    if not csrf_tokens_match(keyring, request.cookies.get(CSRF_COOKIE), submitted, session=session):
        log.info("csrf.refused reason=token")
        raise CsrfError(
            "This form has expired or was not sent from ClearCutout. Reload the page and try again."
        )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the job executor and housekeeping (retention, exports) while the app serves."""
    settings = app.state.runtime.settings
    if settings.s3_lifecycle_on_start:
        install_lifecycle_rules(settings)
    app.state.executor.start()
    app.state.housekeeper.start()
    app.state.metrics.start_internal()
    try:
        yield
    finally:
        app.state.metrics.stop_internal()
        # Bounded: a stuck image cannot hold shutdown (its job is queued again later).
        app.state.housekeeper.stop()
        app.state.executor.stop(timeout_s=settings.shutdown_grace_seconds)


def create_app(settings: Settings | None = None, *, check_database: bool = True) -> FastAPI:
    """Build the app; refuses (``DatabaseNotMigratedError``) on an un-migrated database."""
    from clearcutout.web.routes import (
        account,
        admin,
        api,
        auth,
        billing,
        data_rights,
        docs,
        health,
        images,
        jobs,
        pages,
        privacy,
        removebg,
        staff,
    )

    app_runtime = Runtime.from_settings(settings or get_settings(), check_database=check_database)
    app = FastAPI(
        title="ClearCutout",
        version="0.1.0",
        # FastAPI's Swagger UI loads from a CDN, which the CSP forbids: routes/docs.py
        # serves it from the app.
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(csrf_guard)],
        lifespan=_lifespan,
    )
    # One runtime for requests, the job executor and housekeeping: a test that moves its
    # clock moves the workers and the retention sweep too.
    app.state.runtime = app_runtime
    app.state.executor = create_executor(app_runtime)
    app.state.housekeeper = Housekeeper(app_runtime)
    app.add_middleware(
        SecurityMiddleware,
        keyring=app_runtime.keyring,
        content_security_policy=content_security_policy(enabled(app_runtime.settings.integrations)),
    )
    if app_runtime.settings.cors_origins:
        # Outside the security middleware: a preflight is answered before anything else.
        app.add_middleware(ApiCorsMiddleware, origins=app_runtime.settings.cors_origins)
    install_error_handlers(app)
    install_openapi(app)
    # Outermost: times every request, errors and refusals included.
    app.state.metrics = AppMetrics(app_runtime)
    app.add_middleware(RequestTimer, metrics=app.state.metrics)
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )
    for module in (
        pages,
        health,
        auth,
        account,
        api,
        jobs,
        docs,
        removebg,
        privacy,
        data_rights,
        staff,
        admin,
        billing,
    ):
        app.include_router(module.router)
    app.include_router(images.router)
    return app
