"""OpenAPI docs at ``/docs``: Swagger UI served from the app itself.

The CSP admits no third-party origin and no inline script, so the page, its start-up
script and Swagger UI's files (from the ``swagger-ui-bundle`` package) all come from
here. The schema itself is FastAPI's ``/openapi.json`` (OpenAPI 3.1).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

router = APIRouter(include_in_schema=False)

_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>ClearCutout API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

# validatorUrl null: Swagger UI would otherwise send the schema to an online validator.
_INIT = """window.ui = SwaggerUIBundle({
  url: "/docs/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
});
"""


def _assets_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


@router.get("/docs")
def docs_page() -> HTMLResponse:
    """The interactive API documentation."""
    return HTMLResponse(_PAGE)


@router.get("/docs/openapi.json")
def docs_schema(request: Request) -> JSONResponse:
    """``/openapi.json`` labelled 3.0 for the bundled Swagger UI (4.x renders 3.0 only;
    FastAPI's schema is 3.1, whose differences it displays well enough)."""
    schema = dict(request.app.openapi())
    schema["openapi"] = "3.0.3"
    return JSONResponse(schema)


@router.get("/docs/init.js")
def docs_init() -> Response:
    return Response(_INIT, media_type="text/javascript")


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404)
    return FileResponse(
        _assets_dir() / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )
