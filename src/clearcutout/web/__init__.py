"""The web app: FastAPI routes (parse → call service → render), middleware, templates."""

from clearcutout.web.app import create_app

__all__ = ["create_app"]
