"""Charts drawn on the server as inline SVG (the admin area's usage statistics): no
JavaScript library and no CDN, so the Content-Security-Policy stays ``'self'`` and no
third party learns who looks at them."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, PAD = 640, 200, 32


def bar_chart(
    labels: Sequence[str], values: Sequence[float], *, title: str, unit: str = ""
) -> Markup:
    """Vertical bars, one per label, scaled to the largest value; each bar has a
    ``<title>`` (a tooltip and what a screen reader announces)."""
    top = max(values, default=0) or 1
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / max(len(values), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="currentColor" stroke-width="1"/>',
        f'<text x="{PAD}" y="{PAD - 8}" font-size="11" fill="currentColor">'
        f"{escape(_number(top))}{escape(unit)}</text>",
    ]
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = inner_h * (value / top)
        x = PAD + n * step + step * 0.1
        y = HEIGHT - PAD - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{height:.1f}" '
            f'fill="currentColor" opacity="0.7"><title>{escape(label)}: '
            f"{escape(_number(value))}{escape(unit)}</title></rect>"
        )
    if labels:
        for n in (0, len(labels) - 1):
            x = PAD + n * step + step / 2
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" font-size="10" '
                f'text-anchor="middle" fill="currentColor">{escape(labels[n])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every value above is escaped)


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
