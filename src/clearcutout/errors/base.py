"""The roots of the error tree: :class:`ClearCutoutError` and :class:`ServiceError`, and
the rate-limit window some refusals carry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class ClearCutoutError(Exception):
    """Root of every error raised on purpose by ClearCutout."""

    code: str = "error"
    title: str = "Error"
    http_status: int = 500
    # A fault of something we depend on (storage, database) that passes by itself: a job
    # waits and tries again later, a client is told when (``Retry-After``).
    transient: bool = False
    retry_after_s: int = 5

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ServiceError(ClearCutoutError):
    """A refusal the service layer explains to a person; ``keep_changes`` asks the
    boundary to commit anyway.

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


@dataclass(frozen=True)
class RateLimit:
    """A caller's rate-limit window, as the ``X-RateLimit-*`` headers report it."""

    limit: int
    remaining: int
    reset: int  # Unix time when the window has room again
