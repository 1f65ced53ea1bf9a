"""Debian's Chromium, headless, as every browser test drives it (through Playwright)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import missing_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def launch_chromium(playwright: Any) -> Any:
    """A Chromium browser; a missing binary fails in CI and skips elsewhere."""
    if not CHROMIUM.exists():
        missing_service("Debian Chromium (/usr/bin/chromium) is not installed")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
