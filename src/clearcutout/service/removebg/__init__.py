"""The remove.bg-compatible API, minus HTTP: parameters, admission, credits, processing.

remove.bg's ``POST /v1.0/removebg`` takes its parameters by name (README, "remove.bg-
compatible API"); :func:`parse_request` turns them, as a form or JSON object carries
them, into a :class:`RemoveBgRequest` with our
:class:`~clearcutout.engine.options.CutoutOptions`, read in remove.bg's dialect
(:func:`~clearcutout.engine.options.options_from_fields`): ``size`` defaults to
``preview``, ``format`` to ``auto``, and per-type shadows follow the requested ``type``.
The web layer finds the image sources in the body (:mod:`clearcutout.web.uploads`).

Admission (:func:`admit`) authenticates the ``X-Api-Key`` and takes a slot in a sliding
one-minute rate-limit window (:mod:`clearcutout.service.billing.ratelimit`: the plan's,
shared with the UI, when billing is on; ``removebg.rate_limit_per_minute`` per key
otherwise). Credits (:func:`reserve`, :func:`release`) go through the credits ledger
(:mod:`clearcutout.service.billing.credits`): charged before processing, refunded if
the image fails; nothing at all with billing off.

Processing (:func:`run`) is synchronous and ephemeral: the image (uploaded or fetched
with :mod:`clearcutout.service.infra.fetch`) lives in memory only, and nothing about it is
stored — only the anonymous daily usage counter is incremented.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from clearcutout.config import Settings
from clearcutout.db.models import User, new_id
from clearcutout.engine import Box, CutoutOptions, Quality
from clearcutout.engine.options import options_from_fields, parse_text
from clearcutout.errors import (
    ApiKeyError,
    AuthenticationError,
    InsufficientCreditsError,
    InvalidOptionError,
    NoForegroundError,
    PermissionDeniedError,
    RateLimit,
    RateLimitedError,
    ServiceError,
)
from clearcutout.service.accounts import apikeys
from clearcutout.service.billing import credits, ratelimit
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra.fetch import Resolver, fetch_url
from clearcutout.service.infra.fetch_rules import limits_from
from clearcutout.service.jobs import check_model, sync, with_quality
from clearcutout.service.jobs.usage import record_usage

__all__ = [
    "AccountBalance",
    "Admission",
    "ApiKeyError",
    "InsufficientCreditsError",
    "NoForegroundError",
    "RateLimit",
    "RateLimitedError",
    "RemoveBgRequest",
    "RemoveBgResult",
    "account_balance",
    "admit",
    "model_for",
    "parse_request",
    "record_outcome",
    "release",
    "reserve",
    "run",
]

log = logging.getLogger(__name__)

#: Request types remove.bg documents; ``X-Type`` echoes the requested one (we have no
#: classifier), ``auto`` and anything unknown report ``other``.
TYPES: Final = ("auto", "person", "product", "animal", "car", "graphic", "transportation")
UNKNOWN_TYPE: Final = "other"
# Throttle-table actions (at most 32 characters).
_RATE_KEY: Final = "removebg.rate.key"
_RATE_ACCOUNT: Final = "removebg.rate.account"
_RATE_ANONYMOUS: Final = "removebg.rate.ip"


# -- parameters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoveBgRequest:
    """One parsed ``/v1.0/removebg`` request: exactly one image source, at most one
    background image source, and the engine options."""

    options: CutoutOptions
    requested_type: str
    image_data: bytes | None = None
    image_url: str | None = None
    background_data: bytes | None = None
    background_url: str | None = None

    @property
    def reported_type(self) -> str:
        """``X-Type``: the requested type; ``other`` for ``auto`` (no classifier here)."""
        if self.requested_type in TYPES and self.requested_type != "auto":
            return self.requested_type
        return UNKNOWN_TYPE

    @property
    def credits(self) -> float:
        """remove.bg's price: 0.25 for a preview size, 1 for anything larger."""
        return credits.credits_for_size(self.options.size)


def parse_request(
    fields: Mapping[str, object],
    *,
    image_data: bytes | None = None,
    image_url: str | None = None,
    background_data: bytes | None = None,
    background_url: str | None = None,
) -> RemoveBgRequest:
    """remove.bg's parameters (form or JSON fields) and the image sources the web layer
    found in the body, as one request.

    Unknown parameters are ignored, as remove.bg's clients send some we do not know.
    Raises :class:`~clearcutout.errors.InvalidOptionError` with remove.bg's codes.
    """
    given_type = fields.get("type")
    requested_type = "auto"
    if given_type is not None and given_type != "":
        requested_type = parse_text("type", given_type).lower()
    return RemoveBgRequest(
        options=_options_for(fields, requested_type),
        requested_type=requested_type,
        image_data=image_data,
        image_url=image_url,
        background_data=background_data,
        background_url=background_url,
    )


def _options_for(fields: Mapping[str, object], requested_type: str) -> CutoutOptions:
    """The cutout options the fields ask for: the shadow of the requested type, and the
    preset that ``type_level`` or the size implies unless ``quality`` names one."""
    shadow_keys = (requested_type, UNKNOWN_TYPE) if requested_type in TYPES else (UNKNOWN_TYPE,)
    options = options_from_fields(fields, dialect="removebg", shadow_keys=shadow_keys)
    if options.quality is None:
        options = options.replace(quality=implied_quality(fields.get("type_level"), options))
    return options


#: remove.bg's ``type_level`` (how finely it classifies the subject) as our preset: ``none``
#: asks for the least work, ``2`` and ``latest`` for the most; ``1`` is its default.
TYPE_LEVEL_QUALITY: Final[dict[str, Quality | None]] = {
    "none": "fast",
    "1": None,
    "2": "best",
    "latest": "best",
}


def implied_quality(type_level: object, options: CutoutOptions) -> Quality | None:
    """The preset a request implies without our ``quality`` field (None: the server's).

    A ``type_level`` other than the default decides; otherwise a preview-sized result
    (remove.bg charges a quarter credit; at ≈0.25 MP the finer mattes cannot show) gets
    ``fast``.
    """
    if type_level is not None and type_level != "":
        level = parse_text("type_level", type_level).lower()
        if level not in TYPE_LEVEL_QUALITY:
            raise InvalidOptionError(
                f"type_level {level!r} is not accepted; use one of "
                + ", ".join(TYPE_LEVEL_QUALITY)
                + ".",
                code="invalid_type_level",
            )
        if TYPE_LEVEL_QUALITY[level] is not None:
            return TYPE_LEVEL_QUALITY[level]
    if options.size in credits.PREVIEW_SIZES - {"regular"}:
        return "fast"
    return None


# -- admission: API key and rate limit ----------------------------------------------------


def _take_slot(ctx: ServiceContext, action: str, value: str) -> RateLimit:
    """Count one request in the subject's sliding one-minute window, or refuse it."""
    return ratelimit.take_slot(ctx, action, value, ctx.settings.removebg.rate_limit_per_minute)


def _anonymous_slot(ctx: ServiceContext, client_ip: str | None) -> RateLimit:
    """A slot in the window of requests without a valid key, counted per client address."""
    return _take_slot(ctx, _RATE_ANONYMOUS, client_ip or "unknown")


@dataclass(frozen=True, kw_only=True)
class Admission:
    """An authenticated request: whose (user id, region) and its rate-limit window."""

    user_id: str
    region: str
    rate: RateLimit


def admit(
    ctx: ServiceContext,
    *,
    api_key: str | None,
    client_ip: str | None,
    account_request: bool = False,
) -> Admission:
    """Authenticate ``X-Api-Key`` and take a rate-limit slot.

    Image requests need the ``images`` scope; ``account_request`` (``GET /v1.0/account``)
    takes ``account`` or ``images`` and is counted in a window of its own.

    Per key for a valid key; per client IP (hashed) for a missing or invalid one, so
    guessing keys is throttled too. Raises :class:`ApiKeyError` (403) or
    :class:`RateLimitedError` (429); both carry the window for the headers.
    """
    if not api_key or not api_key.strip():
        rate = _anonymous_slot(ctx, client_ip)
        raise ApiKeyError(
            "Missing API key: send it in the X-Api-Key header.", rate=rate, code="missing_api_key"
        )
    scopes = ("account", "images") if account_request else ("images",)
    failure: ServiceError | None = None
    for scope in scopes:
        try:
            user = apikeys.authenticate_api_key(ctx, api_key, scope=scope)
        except (AuthenticationError, PermissionDeniedError) as exc:
            failure = exc
            continue
        plan_rate = None if account_request else ratelimit.take_account_slot(ctx, user)
        if plan_rate is not None:
            rate = plan_rate  # billing on: the plan's window, shared with the UI
        else:
            bucket = _RATE_ACCOUNT if account_request else _RATE_KEY
            rate = _take_slot(ctx, bucket, api_key.strip())
        return Admission(user_id=user.id, region=user.region, rate=rate)
    rate = _anonymous_slot(ctx, client_ip)
    assert failure is not None
    code = "invalid_api_key" if isinstance(failure, AuthenticationError) else "insufficient_scope"
    raise ApiKeyError(failure.message, rate=rate, code=code) from failure


# -- credits ------------------------------------------------------------------------------


def _user(ctx: ServiceContext, user_id: str) -> User:
    user = ctx.db.get(User, user_id)
    if user is None:
        raise AuthenticationError("This account no longer exists.", code="invalid_api_key")
    return user


def reserve(ctx: ServiceContext, admission: Admission, amount: float) -> str:
    """Charge ``amount`` before processing (402 when the credits cannot pay it); the
    reference to :func:`release` it with if the image then fails."""
    reference = f"removebg:{new_id()}"
    credits.charge(ctx, _user(ctx, admission.user_id), amount, reference=reference)
    return reference


def release(ctx: ServiceContext, admission: Admission, reference: str) -> None:
    """Refund a reserved charge: a failed request costs nothing."""
    credits.refund(ctx, admission.user_id, reference=reference)


@dataclass(frozen=True)
class AccountBalance:
    """``GET /v1.0/account`` in remove.bg's terms (all zero with billing off)."""

    total: float
    subscription: float
    payg: float
    enterprise: float
    free_calls: int


def account_balance(ctx: ServiceContext, user_id: str) -> AccountBalance:
    """The person's credits: plan (subscription) and purchased (pay-as-you-go) ones."""
    left = credits.balance(ctx, _user(ctx, user_id))
    return AccountBalance(
        total=left.total,
        subscription=left.subscription,
        payg=left.payg,
        enterprise=0.0,
        free_calls=0,
    )


# -- processing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoveBgResult:
    """The encoded cutout and what remove.bg's headers report about it."""

    data: bytes
    media_type: str
    width: int
    height: int
    foreground: Box
    type: str
    credits: float
    model: str
    seconds: float


def model_for(settings: Settings, quality: str | None = None) -> str:
    """The registry name of the model this API uses (for the ``quality`` preset)."""
    return check_model(settings, settings.removebg.model, quality)


def run(
    request: RemoveBgRequest,
    *,
    settings: Settings,
    resolver: Resolver | None = None,
    region: str | None = None,
) -> RemoveBgResult:
    """Fetch what needs fetching and cut out, in memory only; nothing is stored.

    The cutout takes a slot of the shared synchronous pool, or runs on a worker of the
    caller's ``region`` with the Celery executor (:mod:`clearcutout.service.jobs.sync`).
    """
    started = time.perf_counter()
    options = with_quality(settings, request.options)
    model = model_for(settings, options.quality)
    limits = limits_from(settings)
    image = request.image_data
    if image is None:
        assert request.image_url is not None
        image = fetch_url(request.image_url, purpose="image", limits=limits, resolver=resolver)
    background = request.background_data
    if background is None and request.background_url is not None:
        background = fetch_url(
            request.background_url, purpose="background", limits=limits, resolver=resolver
        )
    wanted = sync.SyncRequest(
        region=region or settings.default_region,
        model=model,
        image=image,
        options=options,
        background=background,
        require_foreground=True,
    )
    cutout = sync.process_now(settings, wanted)
    return RemoveBgResult(
        data=cutout.image.data,
        media_type=cutout.image.media_type,
        width=cutout.width,
        height=cutout.height,
        foreground=cutout.foreground,
        type=request.reported_type,
        credits=request.credits,
        model=model,
        seconds=time.perf_counter() - started,
    )


def record_outcome(
    ctx: ServiceContext,
    admission: Admission,
    *,
    model: str,
    outcome: str,
    seconds: float,
) -> None:
    """After processing: count anonymous usage."""
    # The one call site of the anonymous usage counters for this API (no user, no key).
    record_usage(
        ctx.db,
        region=admission.region,
        model=model,
        outcome=outcome,
        seconds=seconds,
        day=ctx.now().date(),
    )
    log.info(
        "removebg.processed region=%s model=%s outcome=%s seconds=%.3f",
        admission.region,
        model,
        outcome,
        seconds,
    )
