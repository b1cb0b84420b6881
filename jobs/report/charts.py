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
from itertools import pairwise

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


def _svg_open(width: float, height: float, title: str, name: str = "") -> str:
    data = f' data-chart="{escape(name)}"' if name else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"{data} '
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
    """A bar; `data-label` and `data-value` (the exact value) let a reader of the page, a test
    in a browser say, check the chart against the CSV files."""
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'fill="{escape(bar.color)}" data-label="{escape(bar.label)}" '
        f'data-value="{bar.value!r}"><title>{escape(bar.label)}: {escape(bar.text)}</title></rect>'
    )


def _axis_titles(
    width: float,
    height: float,
    *,
    left: float,
    top: float,
    base: float,
    x_title: str | None,
    y_title: str | None,
) -> list[str]:
    """The y axis title turned along the axis at the far left, the x title centred below."""
    parts = []
    if y_title:
        x, y = 12.0, (top + base) / 2
        parts.append(
            f'<text class="axis-title" x="{x:.1f}" y="{y:.1f}" text-anchor="middle" '
            f'fill="{MUTED}" transform="rotate(-90 {x:.1f} {y:.1f})">{escape(y_title)}</text>'
        )
    if x_title:
        parts.append(
            f'<text class="axis-title" x="{(left + width) / 2:.1f}" y="{height - 4:.1f}" '
            f'text-anchor="middle" fill="{MUTED}">{escape(x_title)}</text>'
        )
    return parts


def column_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    axis_format: Callable[[float], str] = compact_number,
    width: int = 640,
    height: int = 260,
    gap: float = 0.25,
    x_title: str | None = None,
    y_title: str | None = None,
    name: str = "",
) -> str:
    """Vertical bars side by side over a value axis; labels below, wrapped to fit each slot.

    `gap` is the share of each slot left empty (a histogram wants little, categories more);
    `x_title` and `y_title` name the axes; `name` is the SVG's `data-chart`.
    """
    if not bars:
        raise ValueError("a chart needs at least one bar")
    left, right, top = (72.0 if y_title else 56.0), 8.0, 20.0
    slot = (width - left - right) / len(bars)
    labels = [wrap_label(b.label, max(int(slot / CHAR_WIDTH), 4)) for b in bars]
    bottom = 10.0 + LINE_HEIGHT * max(len(lines) for lines in labels)
    bottom += LINE_HEIGHT + 6 if x_title else 0
    plot_height = height - top - bottom
    ticks = nice_ticks(max(b.value for b in bars))
    scale = plot_height / ticks[-1]
    base = top + plot_height

    parts = [_svg_open(width, height, title, name)]
    parts += _axis_titles(
        width, height, left=left, top=top, base=base, x_title=x_title, y_title=y_title
    )
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
    name: str = "",
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

    parts = [_svg_open(width, height, title, name)]
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


@dataclass(frozen=True)
class Line:
    """One series of a line chart: a value (or None, a gap) per point of the x axis."""

    name: str
    values: tuple[float | None, ...]
    color: str = "#3e7cb1"
    dashed: bool = False

    def __post_init__(self) -> None:
        for value in self.values:
            if value is not None and not math.isfinite(value):
                raise ValueError(f"line {self.name!r}: values must be finite, not {value}")


def line_chart(
    x_labels: Sequence[str],
    lines: Sequence[Line],
    *,
    title: str,
    y_title: str,
    x_title: str,
    axis_format: Callable[[float], str] = compact_number,
    width: int = 640,
    height: int = 280,
    name: str = "",
    x_positions: Sequence[float] | None = None,
) -> str:
    """Series over the same x axis (dates, oldest first), from a zero baseline, with a legend.

    `x_positions` (ascending; days since some epoch, say) place the points in proportion,
    so that uneven gaps between snapshot days look uneven; by default they are evenly spaced.
    Each point is a circle with `data-series`, `data-x` and `data-value` (the exact value), and
    a tooltip. X labels that would overlap the one before are left out (the last one stays).
    """
    if not x_labels or not lines:
        raise ValueError("a line chart needs at least one point and one line")
    for line in lines:
        if len(line.values) != len(x_labels):
            raise ValueError(
                f"line {line.name!r} has {len(line.values)} values, not {len(x_labels)}"
            )
    left, right, top = 72.0, 16.0, 20.0 + LINE_HEIGHT + 4
    bottom = 10.0 + LINE_HEIGHT + LINE_HEIGHT + 6
    base = height - bottom
    values = [v for line in lines for v in line.values if v is not None]
    ticks = nice_ticks(max(max(values, default=0.0), 0.0))
    scale = (base - top) / ticks[-1]
    low = min(min(values, default=0.0), 0.0)
    if low < 0:  # a negative value: the axis starts below zero, in the same steps
        step = ticks[1] - ticks[0]
        ticks = [round(-step * i, 10) for i in range(math.ceil(-low / step - 1e-9), 0, -1)] + ticks
        scale = (base - top) / (ticks[-1] - ticks[0])
    span = width - left - right
    count = len(x_labels)
    where = list(x_positions) if x_positions is not None else [float(i) for i in range(count)]
    if len(where) != count or any(b < a for a, b in pairwise(where)):
        raise ValueError("x_positions must be ascending, one per x label")
    extent = where[-1] - where[0]

    def x_at(index: int) -> float:
        return left + (span / 2 if extent == 0 else span * (where[index] - where[0]) / extent)

    def y_at(value: float) -> float:
        return base - (value - ticks[0]) * scale

    parts = [_svg_open(width, height, title, name)]
    parts += _axis_titles(
        width, height, left=left, top=top, base=base, x_title=x_title, y_title=y_title
    )
    for tick in ticks:
        y = y_at(tick)
        parts.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{width - right:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(left - 6, y + 4, axis_format(tick), anchor="end", fill=MUTED))
    for index in _label_indices([x_at(i) for i in range(count)], x_labels):
        anchor = (
            "middle"
            if count == 1
            else "start"
            if index == 0
            else "end"
            if index == count - 1
            else "middle"
        )
        parts.append(
            _text(x_at(index), base + LINE_HEIGHT + 2, x_labels[index], anchor=anchor, fill=MUTED)
        )
    legend_x = left
    for line in lines:
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        parts.append(
            f'<line x1="{legend_x:.1f}" y1="{top - 14:.1f}" x2="{legend_x + 18:.1f}" '
            f'y2="{top - 14:.1f}" stroke="{escape(line.color)}" stroke-width="3"{dash}/>'
        )
        parts.append(_text(legend_x + 22, top - 10, line.name))
        legend_x += 22 + CHAR_WIDTH * len(line.name) + 16
    for line in lines:
        parts += _series(line, x_labels, x_at, y_at, axis_format)
    parts.append(
        f'<line x1="{left:.1f}" y1="{y_at(0):.1f}" x2="{width - right:.1f}" y2="{y_at(0):.1f}" '
        f'stroke="{MUTED}" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _series(
    line: Line,
    x_labels: Sequence[str],
    x_at: Callable[[int], float],
    y_at: Callable[[float], float],
    axis_format: Callable[[float], str],
) -> list[str]:
    """A line's polylines (broken where a value is missing) and its points."""
    dash = ' stroke-dasharray="5 3"' if line.dashed else ""
    parts: list[str] = []
    segments: list[list[str]] = [[]]
    for index, value in enumerate(line.values):
        if value is None:
            segments.append([])
        else:
            segments[-1].append(f"{x_at(index):.1f},{y_at(value):.1f}")
    for points in segments:
        if len(points) > 1:
            parts.append(
                f'<polyline points="{" ".join(points)}" fill="none" '
                f'stroke="{escape(line.color)}" stroke-width="2"{dash}/>'
            )
    for index, value in enumerate(line.values):
        if value is None:
            continue
        label = f"{line.name}, {x_labels[index]}: {axis_format(value)}"
        parts.append(
            f'<circle cx="{x_at(index):.1f}" cy="{y_at(value):.1f}" r="3" '
            f'fill="{escape(line.color)}" data-series="{escape(line.name)}" '
            f'data-x="{escape(x_labels[index])}" data-value="{value!r}">'
            f"<title>{escape(label)}</title></circle>"
        )
    return parts


def _label_indices(xs: Sequence[float], labels: Sequence[str]) -> list[int]:
    """The labels to write along an axis: the first (anchored at its start), then each that
    clears the one before by a gap (centred), and the last (anchored at its end), which
    displaces those before it that it would touch."""
    last = len(xs) - 1

    def extent(index: int) -> tuple[float, float]:
        width = CHAR_WIDTH * len(labels[index])
        if last == 0:
            return xs[index] - width / 2, xs[index] + width / 2
        if index == 0:
            return xs[index], xs[index] + width
        if index == last:
            return xs[index] - width, xs[index]
        return xs[index] - width / 2, xs[index] + width / 2

    gap = 2 * CHAR_WIDTH
    chosen = [0]
    for index in range(1, last):
        if extent(index)[0] >= extent(chosen[-1])[1] + gap:
            chosen.append(index)
    if last > 0:
        while len(chosen) > 1 and extent(last)[0] < extent(chosen[-1])[1] + gap:
            chosen.pop()
        chosen.append(last)
    return chosen
