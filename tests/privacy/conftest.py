"""The web fixtures (app on a migrated SQLite database) for the privacy tests."""

from tests.web.conftest import client, web_settings

__all__ = ["client", "web_settings"]
