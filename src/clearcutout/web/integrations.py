"""Optional third-party integrations: their script tags, CSP origins and cookies.

Each is off unless configured (``Settings.integrations``). The Content-Security-Policy
admits exactly the origins of the configured ones, and the cookie page lists exactly
what they set. Umami is never loaded for a request that asks not to be tracked
(``DNT: 1`` or ``Sec-GPC: 1``); neither is the affiliate tracker, which sets cookies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from clearcutout.config import IntegrationSettings

TAWK_SCRIPT_ORIGIN = "https://embed.tawk.to"
# What each third-party cookie is for (msgids; the cookie page translates them).
COOKIE_PURPOSES: dict[str, str] = {
    "TawkConnectionTime": "Tracks when you first connected to chat.",
    "__tawkuuid": "Identifies your chat session to keep the conversation.",
    "twk_idm_key": "Routes your messages to the right support agent.",
    "endorsely_referral": "Remembers which partner referred you.",
}
ENDORSELY_SCRIPT = "https://assets.endorsely.com/endorsely.js"


@dataclass(frozen=True)
class ScriptTag:
    """One ``<script>`` element: ``src`` and ``data-*`` attributes, loaded async."""

    src: str
    data: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Integration:
    """What one enabled integration loads, talks to and stores in the browser."""

    key: str
    name: str
    purpose: str
    legal_basis: str
    privacy_url: str
    scripts: tuple[ScriptTag, ...]
    script_src: tuple[str, ...]
    connect_src: tuple[str, ...] = ()
    frame_src: tuple[str, ...] = ()
    # (cookie name, purpose msgid); empty for a cookieless integration.
    cookies: tuple[tuple[str, str], ...] = ()
    honours_do_not_track: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def enabled(settings: IntegrationSettings) -> tuple[Integration, ...]:
    """The configured integrations, in a fixed order."""
    found: list[Integration] = []
    if settings.umami_script_url and settings.umami_website_id:
        origin = _origin(settings.umami_script_url)
        found.append(
            Integration(
                key="umami",
                name="Umami Analytics",
                purpose="Cookieless, anonymous statistics of pages visited. Sets no cookies "
                "and is not loaded when your browser sends Do Not Track or Global Privacy "
                "Control.",
                legal_basis="Legitimate interest",
                privacy_url="https://umami.is/privacy",
                scripts=(
                    ScriptTag(
                        src=settings.umami_script_url,
                        data=(("website-id", settings.umami_website_id),),
                    ),
                ),
                script_src=(origin,),
                connect_src=(origin,),
                honours_do_not_track=True,
            )
        )
    if settings.tawk_property_id:
        found.append(
            Integration(
                key="tawk",
                name="Tawk.to",
                purpose="Support chat.",
                legal_basis="Legitimate interest",
                privacy_url="https://www.tawk.to/privacy-policy/",
                scripts=(
                    ScriptTag(
                        src="/static/integrations/tawk.js",
                        data=(
                            ("property", settings.tawk_property_id),
                            ("widget", settings.tawk_widget_id),
                        ),
                    ),
                ),
                script_src=(TAWK_SCRIPT_ORIGIN, "https://cdn.jsdelivr.net"),
                connect_src=("https://*.tawk.to", "wss://*.tawk.to"),
                frame_src=("https://*.tawk.to",),
                cookies=tuple(
                    (name, COOKIE_PURPOSES[name])
                    for name in ("TawkConnectionTime", "__tawkuuid", "twk_idm_key")
                ),
            )
        )
    if settings.endorsely_id:
        found.append(
            Integration(
                key="endorsely",
                name="Endorsely",
                purpose="Affiliate tracking: credits the partner who referred you. Not "
                "loaded when your browser sends Do Not Track or Global Privacy Control.",
                legal_basis="Legitimate interest",
                privacy_url="https://endorsely.com/privacy",
                scripts=(
                    ScriptTag(src=ENDORSELY_SCRIPT, data=(("endorsely", settings.endorsely_id),)),
                ),
                script_src=(_origin(ENDORSELY_SCRIPT),),
                connect_src=("https://*.endorsely.com",),
                cookies=(("endorsely_referral", COOKIE_PURPOSES["endorsely_referral"]),),
                honours_do_not_track=True,
            )
        )
    return tuple(found)


def asks_not_to_be_tracked(headers: Mapping[str, str]) -> bool:
    """``DNT: 1`` or ``Sec-GPC: 1`` (Global Privacy Control)."""
    return headers.get("dnt", "").strip() == "1" or headers.get("sec-gpc", "").strip() == "1"


def scripts_for(
    integrations: tuple[Integration, ...], headers: Mapping[str, str]
) -> list[ScriptTag]:
    """The script tags to put on a page for this request."""
    no_tracking = asks_not_to_be_tracked(headers)
    return [
        script
        for integration in integrations
        if not (no_tracking and integration.honours_do_not_track)
        for script in integration.scripts
    ]


def content_security_policy(integrations: tuple[Integration, ...]) -> str:
    """The CSP: same-origin only, plus exactly the configured integrations' origins."""

    def sources(extra: list[str]) -> str:
        return " ".join(["'self'", *dict.fromkeys(extra)])

    script = [origin for i in integrations for origin in i.script_src]
    connect = [origin for i in integrations for origin in i.connect_src]
    frame = [origin for i in integrations for origin in i.frame_src]
    directives = [
        "default-src 'self'",
        f"script-src {sources(script)}",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        f"connect-src {sources(connect)}",
    ]
    if frame:
        directives.append(f"frame-src {sources(frame)}")
    directives += [
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
    return "; ".join(directives)
