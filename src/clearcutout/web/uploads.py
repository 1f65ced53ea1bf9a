"""Request bodies of the image APIs (``/api/v1/jobs`` and ``/v1.0/removebg``): one
size-capped reader for multipart, JSON and form bodies, and the image sources a body
carries — a multipart file, base64 text or (remove.bg only) a URL to fetch.

Everything stays in memory. The body is refused as soon as it passes its cap, before it
is parsed, and file parts are never spooled to a temporary file: no plaintext image byte
reaches the disk (privacy policy: images are kept only as the retention settings say).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from clearcutout.engine.options import parse_text
from clearcutout.errors import (
    FileTooLargeError,
    ImageSourceError,
    InvalidBodyError,
    InvalidOptionError,
    MissingSourceError,
    MultipleSourcesError,
)

__all__ = [
    "ImageSource",
    "RequestBody",
    "UploadedFile",
    "background_source",
    "decode_base64",
    "image_source",
    "read_body",
]

#: Form fields and multipart framing, on top of the images themselves.
_OVERHEAD: Final = 256 * 1024
_MAX_FIELDS: Final = 64
#: File parts a multipart body may have: an image and a background, and room for a
#: repeated part to be reported as such rather than as a parser error.
_MAX_FILES: Final = 4
_MB: Final = 1024 * 1024
#: Arrays and objects a JSON body may open. Ours is one flat object (a base64 image has
#: none of ``[{``); the cap keeps the parser from recursing thousands of levels deep or
#: building millions of containers out of a body that is within the byte limit.
_MAX_JSON_CONTAINERS: Final = 64
#: Values (commas) a JSON body may have: a few dozen fields, never millions.
_MAX_JSON_VALUES: Final = 4 * _MAX_FIELDS


@dataclass(frozen=True)
class UploadedFile:
    data: bytes
    filename: str | None


@dataclass
class RequestBody:
    """A body's fields (strings from forms, any JSON value from JSON) and file parts.

    A field given twice keeps its first value; a file part given twice is refused.
    """

    fields: dict[str, object] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSource:
    """An image as the request gave it: bytes (a file or base64), or a URL to fetch."""

    data: bytes | None = None
    url: str | None = None
    filename: str | None = None


def _base64_size(limit: int) -> int:
    """The length of ``limit`` bytes as base64 text."""
    return limit * 4 // 3 + 4


def _too_large(upload_mb: float) -> FileTooLargeError:
    return FileTooLargeError(f"The upload is over the limit of {upload_mb:g} MB.")


class _InMemoryMultiPartParser(MultiPartParser):
    """Starlette's parser with file parts kept in memory (the body is capped already)."""

    spool_max_size = 1 << 40


async def _read_capped(request: Request, limit: int, upload_mb: float) -> bytes:
    """The raw body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(upload_mb)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(upload_mb)
    return bytes(body)


async def read_body(request: Request, *, upload_mb: float, images: int) -> RequestBody:
    """The fields and file parts of a multipart, JSON or form-urlencoded body.

    ``images`` is how many images a multipart body may carry (each as a file or as
    base64 text); JSON and form bodies carry one image at most, as base64.
    """
    image_limit = int(upload_mb * _MB)
    part_limit = _base64_size(image_limit)
    content_type = request.headers.get("content-type", "").lower()
    parsed = RequestBody()
    if content_type.startswith("multipart/form-data"):
        raw = await _read_capped(request, images * part_limit + _OVERHEAD, upload_mb)

        async def stream() -> AsyncGenerator[bytes, None]:
            yield raw

        parser = _InMemoryMultiPartParser(
            request.headers,
            stream(),
            max_files=_MAX_FILES,
            max_fields=_MAX_FIELDS,
            max_part_size=part_limit + 1024,
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise InvalidBodyError(f"The multipart body is malformed: {exc.message}") from exc
        for name, value in form.multi_items():
            if not isinstance(value, UploadFile):
                parsed.fields.setdefault(name, value)
                continue
            data = await value.read()
            await value.close()
            if len(data) > image_limit:
                raise _too_large(upload_mb)
            if name in parsed.files:
                raise MultipleSourcesError(f"Send one {name} per request.")
            parsed.files[name] = UploadedFile(data, value.filename)
        return parsed
    raw = await _read_capped(request, part_limit + _OVERHEAD, upload_mb)
    if content_type.startswith("application/json"):
        payload = _parse_json(raw)
        if not isinstance(payload, dict):
            raise InvalidBodyError("The request body must be a JSON object.")
        parsed.fields.update(payload)
        return parsed
    if content_type.startswith("application/x-www-form-urlencoded") or not raw:
        try:
            text = raw.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidBodyError("The form body is malformed.") from exc
        for name, text in pairs:
            parsed.fields.setdefault(name, text)
        return parsed
    raise InvalidBodyError(
        "Send multipart/form-data, application/json or application/x-www-form-urlencoded."
    )


def _parse_json(raw: bytes) -> object:
    """``raw`` as JSON, refused (400) before parsing when it nests or repeats more than a
    request of ours ever does. Counting brackets and commas in the raw bytes (strings
    included) over-counts only for strings that contain them, which base64 never does."""
    if not raw.strip():
        return {}
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > _MAX_JSON_CONTAINERS or raw.count(b",") > _MAX_JSON_VALUES:
        raise InvalidBodyError(
            "The JSON body nests or repeats too much: send one flat object of fields."
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidBodyError("The request body is not valid JSON.") from exc


# -- image sources --------------------------------------------------------------------------


def _given(value: object) -> bool:
    return value is not None and value != ""


def decode_base64(name: str, value: object, *, code: str) -> bytes:
    """Base64 text (whitespace and a ``data:`` URL prefix allowed) as bytes."""
    if not isinstance(value, str):
        raise ImageSourceError(f"{name} must be a base64 string.", code=code)
    text = value.strip()
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageSourceError(f"{name} is not valid base64.", code=code) from exc


def image_source(
    body: RequestBody, *, upload_mb: float, urls: bool, bad_base64_code: str
) -> ImageSource:
    """Exactly one of ``image_file`` (a file part), ``image_file_b64`` and, when ``urls``,
    ``image_url``; ``bad_base64_code`` is the API's code for unreadable base64."""
    names = ("image_file", "image_file_b64", *(("image_url",) if urls else ()))
    given = [name for name in names if name in body.files or _given(body.fields.get(name))]
    if not given:
        raise MissingSourceError(
            "No image given: send image_file (multipart)"
            + (", image_file_b64 or image_url." if urls else " or image_file_b64.")
        )
    if len(given) > 1:
        raise MultipleSourcesError(
            f"Give exactly one of {', '.join(names)}, not {' and '.join(given)}."
        )
    [name] = given
    filename = body.fields.get("filename")
    if name == "image_url":
        return ImageSource(url=parse_text(name, body.fields[name]))
    if name == "image_file_b64":
        data = decode_base64(name, body.fields[name], code=bad_base64_code)
        if len(data) > int(upload_mb * _MB):
            raise _too_large(upload_mb)
        return ImageSource(data=data, filename=filename if isinstance(filename, str) else None)
    if name not in body.files:
        raise MissingSourceError(
            "image_file must be a file part of a multipart/form-data body; in JSON or "
            "form-urlencoded bodies send image_file_b64."
        )
    upload = body.files[name]
    return ImageSource(data=upload.data, filename=upload.filename)


def background_source(body: RequestBody) -> ImageSource | None:
    """remove.bg's background photo (``bg_image_file`` or ``bg_image_url``), if any; at
    most one background source may be given, ``bg_color`` included."""
    names = ("bg_color", "bg_image_url", "bg_image_file")
    given = [name for name in names if name in body.files or _given(body.fields.get(name))]
    if len(given) > 1:
        raise InvalidOptionError(
            "Give at most one of bg_color, bg_image_url and bg_image_file.",
            code="multiple_bg_sources",
        )
    if "bg_image_file" in given:
        if "bg_image_file" not in body.files:
            raise InvalidOptionError(
                "bg_image_file must be a file part of a multipart/form-data body.",
                code="invalid_bg_image_url",
            )
        return ImageSource(data=body.files["bg_image_file"].data)
    if "bg_image_url" in given:
        return ImageSource(url=parse_text("bg_image_url", body.fields["bg_image_url"]))
    return None
