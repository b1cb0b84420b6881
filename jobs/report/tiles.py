"""The KPI tiles at the top of the report's page: each figure and its change since the day the
trends compare with, coloured worse or better.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.report.build import Report
from jobs.report.text import DASH, format_money, format_number, format_share, missing, signed
from jobs.wording import plural
from scoring.health import AT_RISK_TIERS


@dataclass(frozen=True)
class Tile:
    """A KPI tile: its figure, a note, and the change since the base day ("worse" or "better"
    colours it; a change that is neither, such as the open balance, stays plain)."""

    label: str
    value: str
    note: str = ""
    change: str = ""
    tone: str = ""
    name: str = ""


def _change(
    report: Report, name: str, now: float, places: int, unit: str = "", *, worse: str = ""
) -> tuple[str, str]:
    """'+1,234.00 since 2026-10-21' and its tone; nothing without a base figure."""
    then = report.base(name)
    if then is None or missing(now) or report.base_day is None:
        return "", ""
    delta = now - then
    text = f"{signed(delta, places, unit)} since {report.base_day}"
    if round(delta, places) == 0 or not worse:
        return text, ""
    up_is_worse = worse == "up"
    return text, "worse" if (delta > 0) == up_is_worse else "better"


def tiles(report: Report) -> list[Tile]:
    """The KPI tiles at the top of the page, in reading order."""
    places, currency = report.money_places, report.reporting_currency
    accounts = int(report.kpi("customers"))

    def money_tile(label: str, name: str, note: str, worse: str = "") -> Tile:
        value = report.kpi(name)
        change, tone = _change(report, name, value, places, worse=worse)
        return Tile(label, format_money(value, places), note, change, tone, name)

    def days_tile(label: str, name: str, note: str, worse: str = "up") -> Tile:
        value = report.kpi(name)
        change, tone = _change(report, name, value, 1, "days", worse=worse)
        return Tile(label, format_number(value), note, change, tone, name)

    share = report.kpi("overdue_share")
    share_change, share_tone = ("", "")
    base_share = report.base("overdue_share")
    if base_share is not None and not missing(share) and report.base_day is not None:
        points = (share - base_share) * 100
        share_change = f"{signed(points, 1, 'points')} since {report.base_day}"
        share_tone = "" if round(points, 1) == 0 else ("worse" if points > 0 else "better")
    with_overdue = int(report.kpi("customers_with_overdue"))
    overdue_change, overdue_tone = _change(
        report, "accounts_with_overdue", float(with_overdue), 0, worse="up"
    )
    return [
        money_tile("Open receivables", "open_balance", currency),
        money_tile("Overdue", "overdue_balance", currency, "up"),
        Tile(
            "Overdue share",
            format_share(share),
            "of open receivables",
            share_change,
            share_tone,
            "overdue_share",
        ),
        money_tile(
            "Money at risk",
            "money_at_risk",
            f"{currency}, open with {' or '.join(AT_RISK_TIERS)} risk accounts",
            "up",
        ),
        days_tile("DSO", "dso", "days sales outstanding"),
        days_tile("Countback DSO", "dso_countback", "days"),
        days_tile("ADD", "add", "average days delinquent"),
        Tile(
            "CEI",
            format_number(report.kpi("cei")),
            "collection effectiveness, %",
            *_change(report, "cei", report.kpi("cei"), 1, "points", worse="down"),
            "cei",
        ),
        Tile(
            "Accounts with overdue",
            f"{with_overdue:,}",
            f"of {plural(accounts, 'account')}",
            overdue_change,
            overdue_tone,
            "customers_with_overdue",
        ),
        *_dispute_and_promise_tiles(report),
    ]


def _dispute_and_promise_tiles(report: Report) -> list[Tile]:
    places, currency = report.money_places, report.reporting_currency
    invoices = int(report.kpi("disputed_invoices"))
    note = f"{currency}, {plural(invoices, 'disputed invoice')}"
    if report.crm_disputes is not None:
        note += (
            f"; {plural(report.crm_disputes, 'account')} with a dispute open in the CRM "
            f"on {report.crm_day}"
        )
    result = [
        Tile(
            "Disputed",
            format_money(report.kpi("disputed_balance"), places),
            note,
            name="disputed_balance",
        )
    ]
    if report.promises is None:
        note = f"pending, kept, broken: {report.crm_note or 'not recorded'}"
        return [*result, Tile("Promises to pay", DASH, note, name="promises")]
    labels = {"pending": "Promises pending", "kept": "Promises kept", "broken": "Promises broken"}
    for status, label in labels.items():
        row = report.promises[report.promises["promise_status"] == status].iloc[0]
        count = int(row["accounts"])
        result.append(
            Tile(
                label,
                format_money(row["promised"], places),
                f"{currency} promised by {plural(count, 'account')}, "
                f"as the CRM held them on {report.crm_day}",
                name=f"promises_{status}",
            )
        )
    return result
