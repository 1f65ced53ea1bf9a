"""``Accept`` header negotiation (RFC 9110 §12.5.1): which of the media types a route can
answer with the client prefers.

remove.bg answers ``/v1.0/removebg`` with the image unless the client asks for JSON.
Clients send broad headers — axios's default is ``application/json, text/plain, */*``,
and remove.bg's own Node sample writes that answer to ``no-bg.png`` — so a mention of
``application/json`` is not a request for JSON: JSON is chosen only when the client
rates it strictly above every image type, with q-values honoured and a tie going to the
image.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaRange:
    """One element of an ``Accept`` header: ``type/subtype`` and its quality."""

    type: str
    subtype: str
    quality: float

    def specificity(self, media_type: str) -> int:
        """How specifically this range names ``media_type``: 2 exact, 1 ``type/*``,
        0 ``*/*``, -1 not at all."""
        kind, _, sub = media_type.partition("/")
        if self.type == "*" and self.subtype == "*":
            return 0
        if self.type != kind:
            return -1
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == sub else -1


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an ``Accept`` header; malformed elements are skipped."""
    ranges: list[MediaRange] = []
    for element in (header or "").split(","):
        media, *params = element.split(";")
        kind, slash, sub = media.strip().lower().partition("/")
        if not slash or not kind or not sub:
            continue
        ranges.append(MediaRange(kind, sub, _quality(params)))
    return ranges


def quality_of(ranges: list[MediaRange], media_type: str) -> float:
    """The quality the client gives ``media_type``: that of the most specific range that
    matches it (RFC 9110 §12.5.1), 0 when none does. No header at all accepts anything."""
    if not ranges:
        return 1.0
    best = max(ranges, key=lambda r: r.specificity(media_type))
    return best.quality if best.specificity(media_type) >= 0 else 0.0


def prefers_json(header: str | None, image_type: str) -> bool:
    """Whether the client prefers ``application/json`` to the image (``image_type``).

    Only an ``application/json`` range named outright counts for JSON (``*/*`` means "the
    image is fine"); JSON wins only with a strictly higher quality than the image's."""
    ranges = parse_accept(header)
    named = [r for r in ranges if r.specificity("application/json") == 2]
    if not named:
        return False
    return quality_of(ranges, "application/json") > quality_of(ranges, image_type)
