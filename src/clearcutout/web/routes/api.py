"""JSON API (``/api/v1``): authenticated by ``X-Api-Key`` or the browser session."""

from __future__ import annotations

from fastapi import APIRouter, Request

from clearcutout.service import accounts
from clearcutout.web.boundary import api_principal, unit_of_work

router = APIRouter(prefix="/api/v1", tags=["account"])


@router.get("/account", response_model=accounts.Profile)
def get_account(request: Request) -> accounts.Profile:
    """The caller's account (scope ``account``)."""
    with unit_of_work(request) as ctx:
        principal = api_principal(ctx, request, scope="account")
        profile = accounts.profile(ctx, principal.user)
    return profile
