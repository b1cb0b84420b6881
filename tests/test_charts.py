"""The inline-SVG chart helpers: axis steps, label fitting, escaping, well-formed XML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from jobs.report.charts import (
    Bar,
    Line,
    column_chart,
    compact_number,
    escape,
    line_chart,
    nice_ticks,
    row_chart,
    truncate,
    wrap_label,
)

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script> & Co \"quoted\" 'single'"


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (367_139.17, [0, 100_000, 200_000, 300_000, 400_000]),
        (27, [0, 10, 20, 30]),
        (10, [0, 2, 4, 6, 8, 10]),
        (1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (12, [0, 2.5, 5, 7.5, 10, 12.5]),
        (0, [0, 1]),
        (math.nan, [0, 1]),
    ],
)
def test_nice_ticks_start_at_zero_in_round_steps_and_cover_the_maximum(
    maximum: float, ticks: list[float]
) -> None:
    assert nice_ticks(maximum) == pytest.approx(ticks)


def test_compact_numbers_for_axes() -> None:
    assert [compact_number(v) for v in (0, 12.5, 999, 25_000, 1_234_567, 2e9)] == [
        "0",
        "12.5",
        "999",
        "25k",
        "1.23M",
        "2B",
    ]


def test_labels_wrap_on_words_and_long_names_are_cut() -> None:
    assert wrap_label("Over 120 days overdue", 10) == ["Over 120", "days", "overdue"]
    assert wrap_label("Current", 4) == ["Current"]
    assert wrap_label("", 5) == [""]
    assert truncate("Short", 10) == "Short"
    assert truncate("A rather long customer name", 10) == "A rather…"


def test_a_bar_must_be_finite_and_not_negative() -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        Bar("x", -1, "-1")
    with pytest.raises(ValueError, match="finite and >= 0"):
        Bar("x", math.inf, "inf")


def test_escape_covers_markup_and_both_quotes() -> None:
    assert escape(EVIL) == (
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co &quot;quoted&quot; &#x27;single&#x27;"
    )


def test_column_chart_is_well_formed_svg_with_every_text_escaped() -> None:
    bars = [Bar(EVIL, 10, "10"), Bar("Current", 0, "0"), Bar("1-30 days", 5.5, EVIL)]

    svg = column_chart(bars, title=EVIL)

    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to prove it is XML
    assert root.tag == f"{SVG}svg"
    assert "<script>" not in svg
    assert root.attrib["aria-label"] == EVIL
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert EVIL in texts  # the value text, intact once parsed
    assert "10" in texts
    rects = root.findall(f"{SVG}rect")
    assert len(rects) == 3
    heights = [float(r.attrib["height"]) for r in rects]
    assert heights[1] == 0
    assert heights[0] > heights[2] > 0
    assert heights[2] / heights[0] == pytest.approx(0.55, abs=0.01)


def test_row_chart_draws_one_bar_per_row_longest_for_the_largest_value() -> None:
    bars = [Bar(EVIL, 25, "-25 (100 → 75)"), Bar("Beta", 5, "-5 (80 → 75)")]

    svg = row_chart(bars, title="Drops")

    root = ET.fromstring(svg)  # noqa: S314 - our own output
    widths = [float(r.attrib["width"]) for r in root.iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(5 * widths[1])
    tooltips = ["".join(t.itertext()) for t in root.iter(f"{SVG}title")]
    assert f"{EVIL}: -25 (100 → 75)" in tooltips  # whole label in the tooltip
    assert "<script>" not in svg


def test_charts_need_a_bar() -> None:
    with pytest.raises(ValueError, match="at least one bar"):
        column_chart([], title="x")
    with pytest.raises(ValueError, match="at least one bar"):
        row_chart([], title="x")


def test_bars_carry_their_exact_value_and_the_axes_their_titles() -> None:
    svg = column_chart(
        [Bar("low", 1234.56, "1.23k"), Bar(EVIL, 0.1, "0.1")],
        title="t",
        x_title="Risk tier",
        y_title="Open (USD)",
        name="tiers",
    )

    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.get("data-chart") == "tiers"
    bars = [(r.get("data-label"), r.get("data-value")) for r in root.iter(f"{SVG}rect")]
    assert bars == [("low", "1234.56"), (EVIL, "0.1")]
    titles = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "axis-title"]
    assert titles == ["Open (USD)", "Risk tier"]


def test_line_chart_points_legend_and_gaps() -> None:
    svg = line_chart(
        ["2026-10-01", "2026-10-02", "2026-10-31"],
        [Line("Open", (100.0, None, 300.0)), Line(EVIL, (1.0, 2.0, 3.0), dashed=True)],
        title="trend",
        y_title="Amount (USD)",
        x_title="Snapshot day",
        name="trend-money",
        x_positions=[1.0, 2.0, 31.0],
    )

    root = ET.fromstring(svg)  # noqa: S314
    points = [
        (c.get("data-series"), c.get("data-x"), float(c.get("data-value", "nan")))
        for c in root.iter(f"{SVG}circle")
    ]
    assert points == [
        ("Open", "2026-10-01", 100.0),
        ("Open", "2026-10-31", 300.0),
        (EVIL, "2026-10-01", 1.0),
        (EVIL, "2026-10-02", 2.0),
        (EVIL, "2026-10-31", 3.0),
    ]
    # The gap breaks the Open line: its two points make no polyline; the other line has one.
    assert len(list(root.iter(f"{SVG}polyline"))) == 1
    # Positions in proportion: day 2 is 1/30 of the way, not half-way.
    xs = {c.get("data-x"): float(c.get("cx", "0")) for c in root.iter(f"{SVG}circle")}
    first, second, last = xs["2026-10-01"], xs["2026-10-02"], xs["2026-10-31"]
    assert (second - first) / (last - first) == pytest.approx(1 / 30, abs=0.01)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Open" in texts
    assert EVIL in texts  # escaped in the markup, the same text once parsed
    # 10-01 and 10-02 would overlap: the first and the last label only.
    assert [t for t in texts if t and t.startswith("2026-")] == ["2026-10-01", "2026-10-31"]


def test_line_chart_refuses_mismatched_series() -> None:
    with pytest.raises(ValueError, match="has 1 values, not 2"):
        line_chart(["a", "b"], [Line("x", (1.0,))], title="t", y_title="y", x_title="x")
    with pytest.raises(ValueError, match="ascending"):
        line_chart(
            ["a", "b"], [Line("x", (1.0, 2.0))], title="t", y_title="y", x_title="x",
            x_positions=[2.0, 1.0],
        )  # fmt: skip
    with pytest.raises(ValueError, match="finite"):
        Line("x", (math.inf,))
