"""The report's charts: aging, risk tiers, score bands, cash forecast, trends, the worst movers
and the model's calibration, each an inline SVG drawn by `jobs.report.charts`.
"""

from __future__ import annotations

from typing import Any

from jobs.report.build import Report
from jobs.report.charts import Bar, Line, column_chart, compact_number, line_chart, row_chart
from jobs.report.text import missing, signed

TIER_COLORS = {"low": "#2f9e44", "medium": "#e0a800", "high": "#e8590c", "critical": "#c92a2a"}
_AGING_PALETTE = ("#2f9e44", "#94c11f", "#f2c94c", "#f2994a", "#e8590c", "#c92a2a", "#862e2e")
_TREND_COLORS = {"open": "#3e7cb1", "overdue": "#e8590c", "at_risk": "#c92a2a", "dso": "#3e7cb1"}


def aging_chart(report: Report) -> str:
    """Columns per aging bucket, green (current) to dark red (oldest)."""
    labels = [str(label) for label in report.aging["label"].tolist()]
    amounts = [float(amount) for amount in report.aging["amount"].tolist()]
    last = len(_AGING_PALETTE) - 1
    colors = [_AGING_PALETTE[round(i * last / max(len(labels) - 1, 1))] for i in range(len(labels))]
    bars = [
        Bar(label, max(amount, 0.0), compact_number(amount), color)
        for label, amount, color in zip(labels, amounts, colors, strict=True)
    ]
    currency = report.reporting_currency
    return column_chart(
        bars,
        title=f"Open receivables by aging bucket ({currency})",
        x_title="Days past due",
        y_title=f"Open ({currency})",
        name="aging",
    )


def tier_chart(report: Report) -> str:
    """Open balance per risk tier, each tier in its colour; the high and critical bars
    together are the money at risk."""
    bars = [
        Bar(
            str(row["risk_tier"]),
            max(float(row["open_balance"]), 0.0),
            f"{compact_number(float(row['open_balance']))} · {int(row['accounts'])}",
            TIER_COLORS.get(str(row["risk_tier"]), "#52606d"),
        )
        for row in report.tier_balances.to_dict("records")
    ]
    currency = report.reporting_currency
    return column_chart(
        bars,
        title=f"Open receivables by risk tier ({currency})",
        x_title="Risk tier",
        y_title=f"Open ({currency})",
        name="tiers",
    )


def cash_chart(report: Report) -> str | None:
    """Expected receipts per week ahead, the portfolio's cash forecast; None without weeks."""
    if report.cash_forecast.empty:
        return None
    bars = [
        Bar(
            f"{row['week_start']:%m-%d}",
            max(float(row["amount"]), 0.0),
            compact_number(float(row["amount"])),
        )
        for row in report.cash_forecast.to_dict("records")
    ]
    currency = report.reporting_currency
    return column_chart(
        bars,
        title=f"Expected receipts per week ({currency})",
        x_title="Week starting",
        y_title=f"Expected ({currency})",
        gap=0.1,
        name="cash",
    )


def calibration_chart(model: dict[str, Any]) -> str | None:
    """Per tenth of the probability, the model's mean probability beside the share paid late,
    out of time: a calibrated model's two lines lie on each other. None without points."""
    points = {round(point["low"] * 10): point for point in model.get("calibration", [])}
    if not points:
        return None
    labels = [f"{10 * i}-{10 * (i + 1)}%" for i in range(10)]

    def series(name: str) -> list[float | None]:
        return [
            None if i not in points or points[i][name] is None else 100 * points[i][name]
            for i in range(10)
        ]

    return line_chart(
        labels,
        [
            Line("Predicted", tuple(series("probability")), "#52606d", dashed=True),
            Line("Paid late", tuple(series("late_share")), "#c92a2a"),
        ],
        title="Calibration of the late-payment model, out of time",
        y_title="Share of invoices (%)",
        x_title="Predicted probability of late payment",
        axis_format=lambda value: f"{value:g}",
        name="calibration",
    )


def score_chart(report: Report) -> str:
    bands = [str(band) for band in report.score_bands.index]
    counts = [int(count) for count in report.score_bands.tolist()]
    bars = [Bar(band, float(count), str(count)) for band, count in zip(bands, counts, strict=True)]
    return column_chart(
        bars,
        title="Accounts per health score band",
        axis_format=lambda value: f"{value:g}",
        gap=0.06,
        x_title="Health score (100 = best)",
        y_title="Accounts",
        name="scores",
    )


def trend_charts(report: Report) -> tuple[str, str] | None:
    """Balances and DSO over the snapshot days; None with fewer than two days."""
    trend = report.trend
    if len(trend) < 2:
        return None
    days = [day.isoformat() for day in trend["snapshot_date"]]
    positions = [float(day.toordinal()) for day in trend["snapshot_date"]]

    def values(name: str) -> tuple[float | None, ...]:
        return tuple(None if missing(v) else float(v) for v in trend[name])

    currency = report.reporting_currency
    money = line_chart(
        days,
        [
            Line("Open", values("open_balance"), _TREND_COLORS["open"]),
            Line("Overdue", values("overdue_balance"), _TREND_COLORS["overdue"]),
            Line("Money at risk", values("money_at_risk"), _TREND_COLORS["at_risk"], dashed=True),
        ],
        title=f"Open, overdue and money at risk per snapshot day ({currency})",
        y_title=f"Amount ({currency})",
        x_title="Snapshot day",
        name="trend-money",
        x_positions=positions,
    )
    dso = line_chart(
        days,
        [
            Line("DSO", values("dso"), _TREND_COLORS["dso"]),
            Line("Countback DSO", values("dso_countback"), _TREND_COLORS["overdue"], dashed=True),
        ],
        title="DSO per snapshot day (days)",
        y_title="Days",
        x_title="Snapshot day",
        axis_format=lambda value: f"{value:g}",
        name="trend-dso",
        x_positions=positions,
    )
    return money, dso


def movers_chart(report: Report) -> str | None:
    """Horizontal bars of the worst drops; None when no score fell."""
    if report.worst_movers.empty:
        return None
    bars = [
        Bar(
            str(row["customer_name"]),
            float(-int(row["change"])),
            f"{signed(int(row['change']), 0)} ({int(row['score_then'])} → {int(row['score_now'])})",
            TIER_COLORS.get(str(row["tier_now"]), TIER_COLORS["critical"]),
        )
        for row in report.worst_movers.to_dict("records")
    ]
    return row_chart(
        bars, title=f"Largest health score drops since {report.compared_with}", name="movers"
    )
