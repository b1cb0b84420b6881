"""Small inline-SVG charts for the report: plain strings, no dependencies, no network.

Every text that reaches the SVG (labels, values, titles) goes through `html.escape`, so a
customer called `<script>` stays text. The charts scale with the page (a `viewBox`, width 100%)
and print as vectors. Sizes are in SVG user units (pixels at 100%).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

FONT_SIZE = 12
LINE_HEIGHT = 14
CHAR_WIDTH = 0.58 * FONT_SIZE  # a generous average for a sans-serif face
INK = "#1f2933"
MUTED = "#52606d"
GRID = "#d9e2ec"


@dataclass(frozen=True)
class Bar:
    """One bar: its length (`value`, zero or more), its label, and the text shown at its end."""

    label: str
    value: float
    text: str
    color: str = "#3e7cb1"

    def __post_init__(self) -> None:
        if not math.isfinite(self.value) or self.value < 0:
            raise ValueError(f"bar {self.label!r}: value must be finite and >= 0, not {self.value}")


def escape(text: object) -> str:
    """Text safe for SVG/HTML content and double- or single-quoted attributes."""
    return html.escape(str(text), quote=True)


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Axis ticks from 0 in a round step (1, 2, 2.5 or 5 times a power of ten) up to `maximum`.

    The last tick is at or above `maximum`; at most about `count` steps. With nothing to show
    (`maximum` <= 0) the axis runs 0 to 1.
    """
    if not math.isfinite(maximum) or maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    steps = math.ceil(maximum / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


def compact_number(value: float) -> str:
    """1234567 -> '1.2M', 25000 -> '25k', 12.5 -> '12.5': short enough for an axis."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def wrap_label(text: str, max_chars: int) -> list[str]:
    """Words in lines of at most `max_chars` (a longer word gets a line to itself)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= max_chars:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def truncate(text: str, max_chars: int) -> str:
    """The text, cut to `max_chars` with an ellipsis when longer."""
    return text if len(text) <= max_chars else text[: max(max_chars - 1, 1)].rstrip() + "…"


def _svg_open(width: float, height: float, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" aria-label="{escape(title)}" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" '
        f'font-size="{FONT_SIZE}" fill="{INK}"><title>{escape(title)}</title>'
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", fill: str = INK) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{escape(fill)}">'
        f"{escape(text)}</text>"
    )


def _rect(x: float, y: float, width: float, height: float, bar: Bar) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'fill="{escape(bar.color)}"><title>{escape(bar.label)}: {escape(bar.text)}</title></rect>'
    )


def column_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    axis_format: Callable[[float], str] = compact_number,
    width: int = 640,
    height: int = 260,
    gap: float = 0.25,
) -> str:
    """Vertical bars side by side over a value axis; labels below, wrapped to fit each slot.

    `gap` is the share of each slot left empty (a histogram wants little, categories more).
    """
    if not bars:
        raise ValueError("a chart needs at least one bar")
    left, right, top = 56.0, 8.0, 20.0
    slot = (width - left - right) / len(bars)
    labels = [wrap_label(b.label, max(int(slot / CHAR_WIDTH), 4)) for b in bars]
    bottom = 10.0 + LINE_HEIGHT * max(len(lines) for lines in labels)
    plot_height = height - top - bottom
    ticks = nice_ticks(max(b.value for b in bars))
    scale = plot_height / ticks[-1]
    base = top + plot_height

    parts = [_svg_open(width, height, title)]
    for tick in ticks:
        y = base - tick * scale
        parts.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{width - right:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(left - 6, y + 4, axis_format(tick), anchor="end", fill=MUTED))
    bar_width = slot * (1 - gap)
    for index, (bar, lines) in enumerate(zip(bars, labels, strict=True)):
        x = left + index * slot + (slot - bar_width) / 2
        bar_height = bar.value * scale
        parts.append(_rect(x, base - bar_height, bar_width, bar_height, bar))
        centre = x + bar_width / 2
        parts.append(_text(centre, base - bar_height - 4, bar.text, anchor="middle"))
        for line_number, line in enumerate(lines):
            y = base + LINE_HEIGHT * (line_number + 1)
            parts.append(_text(centre, y, line, anchor="middle", fill=MUTED))
    parts.append(
        f'<line x1="{left:.1f}" y1="{base:.1f}" x2="{width - right:.1f}" y2="{base:.1f}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def row_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    width: int = 640,
    label_width: int = 220,
    text_width: int = 120,
    bar_height: int = 18,
) -> str:
    """Horizontal bars, one per row, top to bottom: label on the left, text at the bar's end.

    Labels longer than the label column are cut with an ellipsis; the bar's tooltip keeps the
    whole label.
    """
    if not bars:
        raise ValueError("a chart needs at least one bar")
    row = bar_height + 8
    top = 6.0
    height = top * 2 + row * len(bars)
    longest = max(b.value for b in bars)
    scale = (width - label_width - text_width) / longest if longest > 0 else 0.0
    max_chars = max(int((label_width - 10) / CHAR_WIDTH), 4)

    parts = [_svg_open(width, height, title)]
    for index, bar in enumerate(bars):
        y = top + index * row
        middle = y + bar_height / 2 + 4
        parts.append(_text(label_width - 8, middle, truncate(bar.label, max_chars), anchor="end"))
        length = bar.value * scale
        parts.append(_rect(label_width, y, length, bar_height, bar))
        parts.append(_text(label_width + length + 6, middle, bar.text))
    parts.append(
        f'<line x1="{label_width}" y1="{top - 2:.1f}" x2="{label_width}" '
        f'y2="{height - top + 2:.1f}" stroke="{MUTED}" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
