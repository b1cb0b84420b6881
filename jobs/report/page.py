"""The report as one self-contained HTML page: the template's rows, the tiles and the charts,
rendered with Jinja2 from `templates/report.html.j2`.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from arsync.money import exponent
from jobs.reconciliation import BalanceCheck, out_of_line
from jobs.report.build import Report
from jobs.report.figures import (
    TIER_COLORS,
    aging_chart,
    calibration_chart,
    cash_chart,
    movers_chart,
    score_chart,
    tier_chart,
    trend_charts,
)
from jobs.report.text import format_money, format_share, format_text, reword, signed, timestamp
from jobs.report.tiles import tiles
from jobs.wording import plural
from scoring.health import AT_RISK_TIERS
from scoring.kpis import money_sum

if TYPE_CHECKING:
    from jinja2 import Environment

HTML_WORKLIST_ROWS = 50  # the worklist's first rows on the page; worklist.csv has them all


def _model_rows(model: dict[str, Any], key: str = "tiers") -> list[dict[str, str]]:
    """A backtest tier table (`tiers`: invoices, `customer_tiers`): per tier its examples,
    share, mean probability and late share."""
    return [
        {
            "tier": str(row["tier"]),
            "examples": f"{int(row['examples']):,}",
            **{name: format_share(row[name]) for name in ("share", "probability", "late_share")},
        }
        for row in model.get(key, [])
    ]


def _migration_rows(report: Report) -> list[dict[str, Any]]:
    """The migration matrix as rows of cells, each said worse, better or the same."""
    if report.migration is None:
        return []
    order = {str(tier): index for index, tier in enumerate(report.migration.columns)}
    return [
        {
            "tier": str(from_tier),
            "cells": [
                {
                    "to": str(to_tier),
                    "count": int(count),
                    "kind": (
                        "same"
                        if to_tier == from_tier
                        else "worse"
                        if order[str(to_tier)] > order[str(from_tier)]
                        else "better"
                    ),
                }
                for to_tier, count in row.items()
            ],
            "total": int(row.sum()),
        }
        for from_tier, row in report.migration.iterrows()
    ]


def _migration_summary(report: Report) -> str:
    rows = _migration_rows(report)
    moved = {"worse": 0, "better": 0, "same": 0}
    for row in rows:
        for cell in row["cells"]:
            moved[cell["kind"]] += cell["count"]
    total = sum(moved.values())
    return (
        f"Of {plural(total, 'account')} in both snapshots, {moved['worse']:,} moved to a worse "
        f"tier, {moved['better']:,} to a better one and {moved['same']:,} stayed."
    )


def _worklist_rows(report: Report) -> list[dict[str, Any]]:
    places = report.money_places
    rows = []
    for record in report.worklist.head(HTML_WORKLIST_ROWS).to_dict("records"):
        rows.append(
            {
                "rank": int(record["priority_rank"]),
                "customer_id": format_text(record["customer_id"]),
                "customer_name": format_text(record["customer_name"]),
                "priority_weight": format_money(record["priority_weight"], places),
                "overdue_balance": format_money(record["overdue_balance"], places),
                "open_balance": format_money(record["open_balance"], places),
                "max_days_overdue": f"{int(record['max_days_overdue']):,}",
                "risk_tier": format_text(record["risk_tier"]),
                "health_score": int(record["health_score"]),
                "segment": format_text(record["segment"]).replace("_", " "),
                "stage": format_text(record["collection_stage"]).replace("_", " "),
                "action": format_text(record["next_action_label"]),
                "action_date": format_text(record["next_action_date"]),
                "reasons": [
                    reword(format_text(record[f"reason_{n}"]))
                    for n in (1, 2, 3)
                    if format_text(record[f"reason_{n}"])
                ],
                "flags": reword(format_text(record["flags"])),
            }
        )
    return rows


def _mover_rows(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": format_text(record["customer_id"]),
            "customer_name": format_text(record["customer_name"]),
            "score_then": int(record["score_then"]),
            "score_now": int(record["score_now"]),
            "change": signed(int(record["change"]), 0),
            "tier_then": format_text(record["tier_then"]),
            "tier_now": format_text(record["tier_now"]),
            "reason": reword(format_text(record["top_reason_now"])),
        }
        for record in report.worst_movers.to_dict("records")
    ]


def _breakdown_rows(frame: pd.DataFrame | None, key: str, places: int) -> list[dict[str, str]]:
    if frame is None:
        return []
    return [
        {
            "name": format_text(row[key]),
            "accounts": f"{int(row['accounts']):,}",
            "accounts_with_overdue": f"{int(row['accounts_with_overdue']):,}",
            "open_balance": format_money(row["open_balance"], places),
            "overdue_balance": format_money(row["overdue_balance"], places),
            "money_at_risk": format_money(row["money_at_risk"], places),
        }
        for row in frame.to_dict("records")
    ]


def _owner_totals(report: Report) -> dict[str, str]:
    """The owner table's total row: every account of the snapshot, once."""
    if report.owners is None:
        return {}
    places = report.money_places
    owners = report.owners
    return {
        "accounts": f"{int(owners['accounts'].sum()):,}",
        "accounts_with_overdue": f"{int(owners['accounts_with_overdue'].sum()):,}",
        "open_balance": format_money(money_sum(owners["open_balance"], places), places),
        "overdue_balance": format_money(money_sum(owners["overdue_balance"], places), places),
        "money_at_risk": format_money(money_sum(owners["money_at_risk"], places), places),
    }


def _currency_rows(report: Report) -> list[dict[str, str]]:
    return [
        {
            "currency": format_text(row["currency"]),
            "accounts": f"{int(row['accounts']):,}",
            "open_invoices": f"{int(row['open_invoices']):,}",
            "document": format_money(row["open_balance_document"], exponent(str(row["currency"]))),
            "reporting": format_money(row["open_balance"], report.money_places),
            "share": format_share(row["share_of_open"]),
        }
        for row in report.currencies.to_dict("records")
    ]


@cache
def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined  # noqa: PLC0415 - reports only

    environment = Environment(
        loader=PackageLoader("jobs.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["plural"] = plural
    return environment


def _reconciliation(check: BalanceCheck) -> dict[str, Any]:
    """The check against the ERP's balances in words, and its customers out of line."""
    result = check.result
    line = check.summary()
    if result is None:
        return {"line": line, "rows": [], "breaks": [], "figure": None}
    rows = [
        {
            "customer_id": str(row["customer_id"]),
            "currency": str(row["currency"]),
            **{name: f"{row[name]:,}" for name in ("arsync_balance", "erp_balance", "difference")},
            "status": str(row["status"]).replace("_", " "),
        }
        for row in out_of_line(result)
    ]
    breaks = result.portfolio_breaks()
    return {"line": line, "rows": rows, "breaks": breaks, "figure": result.figure}


def render_html(report: Report) -> str:
    """The whole report as one HTML page: inline CSS and SVG, nothing fetched from anywhere."""
    from markupsafe import Markup  # noqa: PLC0415 - reports only

    movers = movers_chart(report)
    trends = trend_charts(report)
    chart = calibration_chart(report.model) if report.model else None
    cash = cash_chart(report)
    low, medium, high = report.tier_thresholds
    places = report.money_places
    context = {
        "report": report,
        "tiles": tiles(report),
        "aging_rows": [
            {"label": str(row["label"]), "amount": format_money(row["amount"], places)}
            for row in report.aging.to_dict("records")
        ],
        "aging_total": format_money(report.kpi("open_balance"), places),
        # Markup: the chart helpers escape every text they put in the SVG.
        "aging_chart": Markup(aging_chart(report)),  # noqa: S704
        "tier_chart": Markup(tier_chart(report)),  # noqa: S704
        "score_chart": Markup(score_chart(report)),  # noqa: S704
        "cash_chart": Markup(cash) if cash else None,  # noqa: S704
        "cash_total": format_money(
            float(report.cash_forecast["amount"].sum()) if len(report.cash_forecast) else 0.0,
            places,
        ),
        "movers_chart": Markup(movers) if movers else None,  # noqa: S704
        "trend_money_chart": Markup(trends[0]) if trends else None,  # noqa: S704
        "trend_dso_chart": Markup(trends[1]) if trends else None,  # noqa: S704
        "trend_days": len(report.trend),
        "trend_ends_with_report": bool(len(report.trend))
        and report.trend["source"].iloc[-1] == "report",
        "tiers": [(str(k), int(v)) for k, v in report.tiers.items()],
        "tier_balances": [
            {
                "tier": str(row["risk_tier"]),
                "accounts": f"{int(row['accounts']):,}",
                "open_balance": format_money(row["open_balance"], places),
            }
            for row in report.tier_balances.to_dict("records")
        ],
        "money_at_risk": format_money(report.kpi("money_at_risk"), places),
        "at_risk_tiers": " and ".join(AT_RISK_TIERS),
        "segments": [(str(k).replace("_", " "), int(v)) for k, v in report.segments.items()],
        "tier_note": f"low {low}+, medium {medium}+, high {high}+, critical below {high}",
        "tier_colors": TIER_COLORS,
        "migration_rows": _migration_rows(report),
        "migration_tiers": [] if report.migration is None else list(report.migration.columns),
        "migration_summary": _migration_summary(report) if report.migration is not None else "",
        "currency_rows": _currency_rows(report),
        "owner_rows": _breakdown_rows(report.owners, "owner", places),
        "owner_totals": _owner_totals(report),
        "worklist_rows": _worklist_rows(report),
        "worklist_total": len(report.worklist),
        "mover_rows": _mover_rows(report),
        "data_as_of": timestamp(report.data_as_of),
        "reconciliation": _reconciliation(report.balances),
        "model": report.model,
        "model_rows": _model_rows(report.model) if report.model else [],
        "model_customer_rows": _model_rows(report.model, "customer_tiers") if report.model else [],
        "calibration_chart": Markup(chart) if chart else None,  # noqa: S704
    }
    return _environment().get_template("report.html.j2").render(context)
