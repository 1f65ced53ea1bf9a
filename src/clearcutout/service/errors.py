"""Errors of the service layer, part of the one tree rooted at ``ClearCutoutError``.

    ClearCutoutError
    ├── InputError (400)
    │   ├── ValidationError            a form or API field is invalid (``field`` names it)
    │   │   └── AgeRequirementError    under the minimum age: refused, nothing stored
    │   └── InvalidTokenError          an emailed link is unknown, used or expired
    ├── AuthenticationError (401)      wrong email or password, bad session or API key
    │   └── EmailNotVerifiedError (403) the address is not confirmed yet
    ├── PermissionDeniedError (403)    CSRF failure, missing API-key scope
    ├── NotFoundError (404)            no such object, or not the caller's
    └── ThrottledError (429)           too many attempts; ``retry_after_s``

``keep_changes`` marks errors whose transaction must still be committed (a failed login
is counted even though the request fails).
"""

from __future__ import annotations

from collections.abc import Mapping

from clearcutout.errors import ClearCutoutError, InputError


class ServiceError(ClearCutoutError):
    """Base of the service errors; ``keep_changes`` asks the boundary to commit anyway.

    ``template`` is the English message with ``%(name)s`` placeholders (the gettext msgid,
    so the web layer can show it translated), ``params`` fills them.
    """

    keep_changes: bool = False

    def __init__(
        self,
        template: str,
        *,
        params: Mapping[str, str | int] | None = None,
        code: str | None = None,
    ) -> None:
        self.template = template
        self.params: dict[str, str | int] = dict(params or {})
        super().__init__(template % self.params if self.params else template, code=code)


class ValidationError(InputError, ServiceError):
    code = "validation_failed"
    title = "Invalid value"

    def __init__(
        self,
        template: str,
        *,
        field: str | None = None,
        params: Mapping[str, str | int] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(template, params=params, code=code)
        self.field = field


class AgeRequirementError(ValidationError):
    code = "age_requirement"
    title = "Age requirement not met"


class InvalidTokenError(InputError, ServiceError):
    code = "invalid_token"
    title = "Invalid or expired link"


class AuthenticationError(ServiceError):
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


class NotFoundError(ServiceError):
    code = "not_found"
    title = "Not found"
    http_status = 404


class ThrottledError(ServiceError):
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
