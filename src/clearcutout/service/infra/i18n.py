"""Translations (gettext catalogues compiled from the shipped ``.po`` files at load time).

English is the source language; ``locales/<lang>/LC_MESSAGES/messages.po`` holds the
others. Compiling in memory with Babel means a fresh clone or an installed wheel needs
no build step.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "de")
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "de": "Deutsch"}


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of ``lang`` (English, the source language, needs none)."""
    po_file = LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not po_file.exists():
        return gettext.NullTranslations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def gettext_for(lang: str) -> gettext.NullTranslations:
    return translations(lang if lang in SUPPORTED_LANGUAGES else "en")


def negotiate_language(accept_language: str | None, *, default: str = "en") -> str:
    """Best supported language from an ``Accept-Language`` header (RFC 9110 §12.5.4)."""
    if not accept_language:
        return default
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in SUPPORTED_LANGUAGES and quality > 0:
            choices.append((-quality, position, primary))
    return sorted(choices)[0][2] if choices else default


def normalise_language(value: str | None) -> str | None:
    """``value`` if it is a supported language code, else None."""
    return value if value in SUPPORTED_LANGUAGES else None
