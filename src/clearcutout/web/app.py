"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles

from clearcutout.config import Settings, get_settings
from clearcutout.errors import CsrfError
from clearcutout.service.privacy.retention import install_lifecycle_rules
from clearcutout.service.runtime import Runtime
from clearcutout.web.boundary import runtime
from clearcutout.web.errors import install_error_handlers
from clearcutout.web.integrations import content_security_policy, enabled
from clearcutout.web.security import (
    CSRF_COOKIE,
    CSRF_EXEMPT_PATHS,
    CSRF_FIELD,
    CSRF_HEADER,
    SecurityMiddleware,
    csrf_tokens_match,
)
from clearcutout.workers import create_executor
from clearcutout.workers.housekeeping import Housekeeper

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


async def csrf_guard(request: Request) -> None:
    """Reject a state-changing request authenticated by cookie without the CSRF echo."""
    if request.method not in _UNSAFE or request.headers.get("x-api-key"):
        return
    if request.url.path in CSRF_EXEMPT_PATHS:
        return
    # remove.bg's API accepts X-Api-Key only, never the session cookie: nothing to forge.
    if request.url.path.startswith("/v1.0/"):
        return
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
    if not csrf_tokens_match(keyring, request.cookies.get(CSRF_COOKIE), submitted):
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
    try:
        yield
    finally:
        app.state.housekeeper.stop()
        app.state.executor.stop()


def create_app(settings: Settings | None = None, *, check_database: bool = True) -> FastAPI:
    """Build the app; refuses (``DatabaseNotMigratedError``) on an un-migrated database."""
    from clearcutout.web.routes import (
        account,
        api,
        auth,
        billing,
        data_rights,
        docs,
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
    install_error_handlers(app)
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )
    for module in (
        pages,
        auth,
        account,
        api,
        jobs,
        docs,
        removebg,
        privacy,
        data_rights,
        staff,
        billing,
    ):
        app.include_router(module.router)
    app.include_router(images.router)
    return app
