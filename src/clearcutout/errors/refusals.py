"""Refusals the service layer explains to a person: authentication, permission, credits,
things not found, not ready or expired, and throttling."""

from __future__ import annotations

from collections.abc import Mapping

from clearcutout.errors.base import RateLimit, ServiceError


class AuthenticationError(ServiceError):
    """Wrong email or password, no live session, an unknown API key."""

    code = "unauthenticated"
    title = "Not authenticated"
    http_status = 401
    keep_changes = True


class EmailNotVerifiedError(AuthenticationError):
    code = "email_not_verified"
    title = "Email address not confirmed"
    http_status = 403


class PermissionDeniedError(ServiceError):
    code = "forbidden"
    title = "Forbidden"
    http_status = 403


class CsrfError(PermissionDeniedError):
    code = "csrf_failed"
    title = "Request forgery check failed"


class SecondFactorRequiredError(PermissionDeniedError):
    """A staff page asked for before this session proved the second factor; pages
    redirect to ``location`` (enrolment or the code prompt)."""

    code = "second_factor_required"
    title = "Second factor required"

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message)
        self.location = location


class ApiKeyError(ServiceError):
    """``X-Api-Key`` missing, unknown, revoked, or without the scope (remove.bg: 403)."""

    code = "auth_failed"
    title = "Authentication failed"
    http_status = 403
    keep_changes = True  # the counted attempt stays counted

    def __init__(self, message: str, *, rate: RateLimit, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.rate = rate


class InsufficientCreditsError(ServiceError):
    """The credits left cannot pay for the image (remove.bg: 402)."""

    code = "insufficient_credits"
    title = "Insufficient credits"
    http_status = 402


class NotFoundError(ServiceError):
    """No such thing, or not the caller's: both look the same (the one 404 base)."""

    code = "not_found"
    title = "Not found"
    http_status = 404


class ObjectNotFoundError(NotFoundError):
    """No stored object under that key: never stored, deleted, or expired by retention."""

    code = "object_not_found"


class JobNotReadyError(ServiceError):
    code = "job_not_ready"
    title = "Job not finished"
    http_status = 409


class JobNotRetryableError(ServiceError):
    code = "job_not_retryable"
    title = "Job cannot be retried"
    http_status = 409


class IdempotencyKeyError(ServiceError):
    code = "idempotency_key_reused"
    title = "Idempotency key reused"
    http_status = 422


class ExportNotReadyError(ServiceError):
    code = "export_not_ready"
    title = "Export not ready"
    http_status = 409


class RegionMoveRefusedError(ServiceError):
    code = "region_move_refused"
    title = "Region cannot change now"
    http_status = 409


class JobExpiredError(ServiceError):
    code = "job_expired"
    title = "Job expired"
    http_status = 410


class ExportExpiredError(ServiceError):
    code = "export_expired"
    title = "Export expired"
    http_status = 410


class ThrottledError(ServiceError):
    """Too many attempts; ``retry_after_s`` becomes the ``Retry-After`` header."""

    code = "rate_limit_exceeded"
    title = "Too many attempts"
    http_status = 429
    keep_changes = True

    def __init__(
        self,
        template: str,
        *,
        retry_after_s: int,
        params: Mapping[str, str | int] | None = None,
    ) -> None:
        super().__init__(template, params=params)
        self.retry_after_s = retry_after_s


class UrlFetchBusyError(ThrottledError):
    """Every URL-download slot of the process is taken (slow servers must not hold all
    of the web app's threads); the caller retries shortly."""

    title = "Too many downloads"

    def __init__(self, *, retry_after_s: int = 5) -> None:
        super().__init__(
            "Too many image downloads are running; try again in a few seconds.",
            retry_after_s=retry_after_s,
        )


class RateLimitedError(ThrottledError):
    """Over remove.bg's ``rate_limit_per_minute`` (429 with ``Retry-After``)."""

    title = "Rate limit exceeded"

    def __init__(self, *, rate: RateLimit, retry_after_s: int) -> None:
        super().__init__(
            "Too many requests: the limit is %(limit)s per minute.",
            retry_after_s=retry_after_s,
            params={"limit": rate.limit},
        )
        self.rate = rate
