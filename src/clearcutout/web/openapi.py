"""The OpenAPI document (``/openapi.json``, shown at ``/docs``): the two JSON APIs only,
as they really answer.

FastAPI's own document lists every route (HTML pages and forms included), offers no way
to authorise, and promises a 422 the app never sends (``web/errors.py`` answers a
malformed request with 400). This builds it from the API routes alone, declares the
``X-Api-Key`` scheme (and the browser session for the jobs API), and documents each
operation's error statuses with the one error body, ``{"errors": [...]}``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from clearcutout.web.security import SESSION_COOKIE

API_PREFIXES: Final = ("/api/", "/v1.0/")

_DESCRIPTION: Final = (
    "ClearCutout's jobs API (`/api/v1`) and its remove.bg-compatible API (`/v1.0`). "
    "Authenticate with an API key in the `X-Api-Key` header (created under Account → "
    "API keys); the jobs API also accepts the signed-in browser session. Every error is "
    '`{"errors": [{"code", "title", "detail"}]}`.'
)

ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["code", "title", "detail"],
                "properties": {
                    "code": {"type": "string", "description": "Stable, machine-readable."},
                    "title": {"type": "string"},
                    "detail": {"type": "string", "description": "One line for a person."},
                },
            },
        }
    },
}

_ERRORS: Final[dict[int, str]] = {
    400: "Invalid input: a parameter, the body or the image is unusable.",
    401: "Not authenticated: no valid API key or session.",
    402: "Insufficient credits: this month's credits are spent.",
    403: "Forbidden: the key lacks the scope, or (remove.bg API) the key is missing or wrong.",
    404: "Not found, or not yours.",
    409: "Not ready yet.",
    410: "Gone: retention deleted it.",
    413: "The upload is larger than the server's limit.",
    429: "Too many requests: wait `Retry-After` seconds.",
    503: "A model or the storage is unavailable; try again later.",
}

#: The statuses each operation can answer with (``clearcutout.errors`` gives each error its
#: status; the remove.bg API answers in remove.bg's, ``web/routes/removebg.py``).
_AUTHENTICATED: Final = (401, 403)
OPERATION_ERRORS: Final[dict[tuple[str, str], tuple[int, ...]]] = {
    ("get", "/api/v1/account"): _AUTHENTICATED,
    ("get", "/api/v1/account/export"): _AUTHENTICATED,
    # With billing on (README, "Billing") a job is charged (402) and the plan's rate limit
    # applies (429). Not listed: the 422 of an ``Idempotency-Key`` reused with another
    # body (``IdempotencyKeyError``), since the document promises no 422 anywhere
    # (tests/web/test_openapi.py) and the fuzzer sends no such key.
    ("post", "/api/v1/jobs"): (400, *_AUTHENTICATED, 402, 413, 429, 503),
    ("get", "/api/v1/jobs"): (400, *_AUTHENTICATED),
    ("get", "/api/v1/jobs/archive"): (400, *_AUTHENTICATED, 404),
    ("get", "/api/v1/jobs/{job_id}"): (*_AUTHENTICATED, 404),
    ("delete", "/api/v1/jobs/{job_id}"): (*_AUTHENTICATED, 404),
    # A failed job only (409 otherwise); with billing on it is charged again (402).
    ("post", "/api/v1/jobs/{job_id}/retry"): (*_AUTHENTICATED, 402, 404, 409),
    ("get", "/api/v1/jobs/{job_id}/result"): (400, *_AUTHENTICATED, 404, 409, 410),
    ("post", "/api/v1/jobs/{job_id}/result"): (400, *_AUTHENTICATED, 404, 409, 410, 413),
    ("get", "/api/v1/jobs/{job_id}/original"): (*_AUTHENTICATED, 404, 410),
    ("post", "/v1.0/removebg"): (400, 402, 403, 429),
    ("get", "/v1.0/account"): (403, 429),
}
_DEFAULT_ERRORS: Final = (400, *_AUTHENTICATED)

SECURITY_SCHEMES: Final[dict[str, Any]] = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "An API key (Account → API keys).",
    },
    "Session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The signed-in browser session (jobs API only; writes also need "
        "the CSRF header).",
    },
}


def required_body(content: dict[str, Any]) -> dict[str, Any]:
    """An operation's ``requestBody``: required, one schema per media type."""
    return {"requestBody": {"required": True, "content": content}}


def object_schema(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """One media type's schema of a request body: an object with these fields."""
    return {"schema": {"type": "object", "required": required, "properties": properties}}


def is_api_path(path: str) -> bool:
    """Whether ``path`` belongs in the API document (HTML pages and forms do not)."""
    return path.startswith(API_PREFIXES)


def _error_response(status: int, *, retry_after: bool) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        }
    return response


def _document_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)  # never sent: a malformed request is answered 400
    for status in OPERATION_ERRORS.get((method, path), _DEFAULT_ERRORS):
        documented = responses.setdefault(str(status), {})
        documented.update(_error_response(status, retry_after=status == 429))
    remove_bg = path.startswith("/v1.0/")
    operation["security"] = [{"ApiKey": []}] if remove_bg else [{"ApiKey": []}, {"Session": []}]


def _references(value: object) -> set[str]:
    """The component schemas ``value`` refers to (``$ref``), directly."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        found = {ref.rsplit("/", 1)[-1]} if isinstance(ref, str) else set()
        return found.union(*(_references(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(item) for item in value))
    return set()


def _used_schemas(schema: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    """The component schemas the paths reach, following references between schemas."""
    used: set[str] = set()
    pending = _references(schema["paths"])
    while pending:
        name = pending.pop()
        if name not in used and name in schemas:
            used.add(name)
            pending |= _references(schemas[name])
    return used


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document for ``app``'s API routes (cached on the app, as FastAPI does)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=_DESCRIPTION,
        routes=app.routes,
    )
    schema["paths"] = {
        path: item for path, item in schema.get("paths", {}).items() if is_api_path(path)
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _document_operation(path, method, operation)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Errors"] = ERROR_SCHEMA
    # The HTML forms' bodies and the 422 bodies went with their routes.
    used = _used_schemas(schema, schemas)
    components["schemas"] = {name: value for name, value in schemas.items() if name in used}
    components["securitySchemes"] = SECURITY_SCHEMES
    app.openapi_schema = schema
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`build_openapi`'s document as ``/openapi.json`` (and ``/docs``)."""

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
