"""What a person reads when an image fails, in their language.

The engine and the storage explain a failure in one English line with specifics (byte
counts, pixel sizes), which the API returns as is and a job keeps. A page shows that
line in English; in any other language it shows the translated sentence for the error's
stable code (``clearcutout.errors``), so no English sentence appears in a German page
("Fehlgeschlagen: The image is truncated …").
"""

from __future__ import annotations

from typing import Final

from clearcutout.service.infra.i18n import gettext_for

#: One sentence per code a person can meet on the upload page, in the history or on an
#: error page (msgids; the catalogue test walks them).
ERROR_MESSAGES: Final[dict[str, str]] = {
    "failed_to_read_image": "The image could not be read: the file is empty or cut short. "
    "Try the original file again.",
    "invalid_file_type": "This file is not a photo we can process. "
    "Choose a JPEG, PNG, WebP, HEIC or AVIF image.",
    "resolution_too_high": "The image has more pixels than this server accepts. "
    "Make it smaller and try again.",
    "file_too_large": "The file is larger than this server accepts.",
    "aspect_ratio_too_high": "The image is too long and thin to process. "
    "Crop it closer to the subject and try again.",
    "metadata_too_large": "The image carries too much embedded metadata. "
    "Save the photo again without it and try again.",
    "too_many_scans": "This JPEG was saved in too many passes. "
    "Save it again as an ordinary JPEG and try again.",
    "invalid_signature": "The request's signature is not valid.",
    "server_busy": "The server is busy. Try again in a moment.",
    "database_unavailable": "The service is briefly unavailable. Try again later.",
    "unknown_foreground": "No subject was found in this photo.",
    "missing_source": "No image was sent.",
    "multiple_sources": "Send one image at a time.",
    "unknown_parameter": "The request had a setting this server does not know.",
    "invalid_input": "The photo or its settings could not be used.",
    "unknown_model": "This cutout model does not exist on this server.",
    "model_error": "The cutout model cannot be used right now. Try again later.",
    "model_unavailable": "The cutout model cannot be used right now. Try again later.",
    "model_checksum_mismatch": "The cutout model cannot be used right now. Try again later.",
    "inference_failed": "The cutout could not be made. Try again.",
    "storage_unavailable": "The image could not be stored right now. Try again later.",
    "unauthenticated": "Your session has ended. Sign in again.",
    "forbidden": "You are not allowed to do this.",
    "csrf_failed": "This page has expired. Reload it and try again.",
    "rate_limit_exceeded": "Too many requests. Wait a moment and try again.",
    "job_not_found": "This image no longer exists.",
    "job_expired": "This image was deleted when its retention period ended.",
    "not_found": "Not found.",
    "error": "Something went wrong. Try again later.",
}
#: For a code not in the table (an option's ``invalid_<name>``, …).
FALLBACK: Final = "The photo could not be processed with these settings."


def error_message(code: str | None, detail: str | None, lang: str) -> str:
    """``detail`` in English; elsewhere the translated sentence for ``code``."""
    if lang == "en" and detail:
        return detail
    msgid = ERROR_MESSAGES.get(code or "", FALLBACK)
    return gettext_for(lang).gettext(msgid)


def error_messages(lang: str) -> dict[str, str]:
    """The whole table in ``lang`` (for a page's script), the fallback as ``""``."""
    _ = gettext_for(lang).gettext
    return {"": _(FALLBACK), **{code: _(msgid) for code, msgid in ERROR_MESSAGES.items()}}
