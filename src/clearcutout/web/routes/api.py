"""JSON API (``/api/v1``): authenticated by ``X-Api-Key`` or the browser session."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from clearcutout.service import accounts
from clearcutout.web.boundary import api_principal, unit_of_work

router = APIRouter(prefix="/api/v1", tags=["account"])


class AccountOut(BaseModel):
    id: str
    email: str
    name: str
    region: str
    theme: str
    lang: str
    email_verified: bool
    created_at: datetime


@router.get("/account", response_model=AccountOut)
def get_account(request: Request) -> AccountOut:
    """The caller's account (scope ``account``)."""
    with unit_of_work(request) as ctx:
        principal = api_principal(ctx, request, scope="account")
        profile = accounts.profile(ctx, principal.user)
    return AccountOut(**profile.__dict__)
