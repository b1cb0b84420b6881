"""`arsync report`: the collectors' worklist, the portfolio KPIs and the worst movers, as CSV
and as one self-contained HTML page with charts.

`build_report` is pure (a ledger and a date in, a `Report` out, no clock, no files);
`render_html` turns a report into the page; `write_report` writes the files; `run_report` is the
job: pull and validate through `jobs.pipeline`, build, write, and log each step.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import structlog

from arsync.csv_safety import safe_frame
from arsync.ledger import Ledger
from arsync.money import exponent
from jobs import late_risk
from jobs.charts import Bar, Line, column_chart, compact_number, line_chart, row_chart
from jobs.late_risk import LateRisk, judge_late_risk, risk_as_of
from jobs.pipeline import LoadedLedger, load_ledger
from jobs.progress import Reporter, Silent
from jobs.reconciliation import BalanceCheck, out_of_line
from jobs.report_history import History, read_history
from jobs.report_options import DEFAULT_COMPARE_DAYS
from jobs.report_text import DASH, plural, reword, signed
from jobs.settings import RunSettings
from scoring import score_accounts
from scoring.aging import open_invoices
from scoring.cash_forecast import weekly_receipts
from scoring.currency import CurrencyTable
from scoring.health import AT_RISK_TIERS, TIERS
from scoring.kpis import money_at_risk, money_sum, portfolio_kpis
from scoring.trends import (
    breakdown,
    currency_breakdown,
    daily_totals,
    nearest_day,
    owner_labels,
    promise_summary,
    thin_days,
    tier_migration,
)

if TYPE_CHECKING:
    from jinja2 import Environment

log = structlog.get_logger(__name__)

WORKLIST_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "customer_name",
    "priority_rank",
    "priority_weight",
    "overdue_balance",
    "open_balance",
    "max_days_overdue",
    "risk_tier",
    "health_score",
    "segment",
    "collection_stage",
    "next_action",
    "next_action_label",
    "next_action_date",
    "reason_1",
    "reason_2",
    "reason_3",
    "flags",
)
MOVER_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "customer_name",
    "score_then",
    "score_now",
    "change",
    "tier_then",
    "tier_now",
    "top_reason_now",
)
SCORE_BANDS: tuple[str, ...] = (*(f"{low}-{low + 9}" for low in range(0, 90, 10)), "90-100")
WORST_MOVERS = 10  # the largest drops kept
HTML_WORKLIST_ROWS = 50
MAX_TREND_POINTS = 60  # trend days kept (evenly spread): each costs a KPI computation
TREND_COLUMNS: tuple[str, ...] = (
    "snapshot_date",
    "source",
    "accounts",
    "open_balance",
    "overdue_balance",
    "money_at_risk",
    "accounts_with_overdue",
    "overdue_share",
    "dso",
    "dso_countback",
    "add",
    "cei",
)

TIER_COLORS = {"low": "#2f9e44", "medium": "#e0a800", "high": "#e8590c", "critical": "#c92a2a"}
_AGING_PALETTE = ("#2f9e44", "#94c11f", "#f2c94c", "#f2994a", "#e8590c", "#c92a2a", "#862e2e")
_NOTHING = DASH
_TREND_COLORS = {"open": "#3e7cb1", "overdue": "#e8590c", "at_risk": "#c92a2a", "dso": "#3e7cb1"}


@dataclass(frozen=True)
class Report:
    """Everything the report shows, computed as of `as_of`; money in the reporting currency.

    - `portfolio`: one row, `scoring.kpis.PORTFOLIO_COLUMNS` plus money at risk (the open
      balance of high and critical accounts), the disputed balance and invoices.
    - `aging`: one row per aging bucket, in the settings' order: key, label, amount.
    - `worklist`: the accounts with a priority rank, by rank; `WORKLIST_COLUMNS`.
    - `worst_movers`: the largest score drops since `compared_with`; `MOVER_COLUMNS`.
    - `score_bands`, `tiers`, `segments`: accounts per 10-point score band, per risk tier
      (low to critical) and per segment (in the order of the segment rules).
    - `tier_balances`: per risk tier (low to critical): accounts and open balance.
    - `trend`: the portfolio per snapshot day, oldest first (`TREND_COLUMNS`); the as-of date
      is the last row, from this report (`source` "report") when no snapshot has that day.
    - `base_day`: the snapshot day nearest `compare_days` before the as-of date, which the
      tiles' changes are against; None without one.
    - `migration`: accounts per (tier on `migration_from`, tier on `migration_to`), the
      snapshot nearest `compare_days` before the latest and the latest; None without two days.
    - `currencies`: open invoices per document currency.
    - `owners`: the portfolio per Account owner, and `promises`: per promise status, accounts
      and money promised, both from the latest snapshot (`crm_day`, on or before the as-of
      date) as its run read them from the CRM; `crm_disputes`: that day's accounts with a
      dispute open in the CRM. Each None when that snapshot holds none of it, so "none
      recorded" is not shown as "none made"; `crm_note` says why. The report reads no CRM.
    """

    as_of: dt.date
    compared_with: dt.date
    reporting_currency: str
    portfolio: pd.DataFrame
    aging: pd.DataFrame
    worklist: pd.DataFrame
    worst_movers: pd.DataFrame
    score_bands: pd.Series
    tiers: pd.Series
    segments: pd.Series
    tier_thresholds: tuple[int, int, int]  # the lowest score of low, medium, high
    data_as_of: dt.datetime | None = None
    quarantined: int = 0
    # Per file or stream: rows read, in the ledger, quarantined, merged.
    accounting: dict[str, dict[str, int]] = field(default_factory=dict)
    tier_balances: pd.DataFrame = field(default_factory=pd.DataFrame)
    trend: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TREND_COLUMNS))
    base_day: dt.date | None = None
    migration: pd.DataFrame | None = None
    migration_from: dt.date | None = None
    migration_to: dt.date | None = None
    currencies: pd.DataFrame = field(default_factory=pd.DataFrame)
    owners: pd.DataFrame | None = None
    promises: pd.DataFrame | None = None
    history_note: str | None = None
    crm_day: dt.date | None = None
    crm_disputes: int | None = None
    crm_note: str | None = None
    # The check against the ERP's own balances (jobs.reconciliation), as the report's load ran it.
    balances: BalanceCheck = field(default_factory=BalanceCheck)
    # The late-payment model's backtest and gate (`LateRisk.summary`); None: model off.
    model: dict[str, Any] | None = None
    # Expected receipts per week ahead (`scoring.cash_forecast.weekly_receipts`): week_start,
    # amount (reporting currency, major units).
    cash_forecast: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def money_places(self) -> int:
        return exponent(self.reporting_currency)

    def kpi(self, name: str) -> float:
        return float(self.portfolio[name].iloc[0])

    def base(self, name: str) -> float | None:
        """A figure of the trend on `base_day`; None without one, or when it is NaN."""
        if self.base_day is None:
            return None
        rows = self.trend[self.trend["snapshot_date"] == self.base_day]
        if rows.empty or _missing(rows[name].iloc[0]):
            return None
        return float(rows[name].iloc[0])


def build_report(
    ledger: Ledger,
    as_of: dt.date,
    settings: RunSettings,
    *,
    compare_days: int = DEFAULT_COMPARE_DAYS,
    data_as_of: dt.datetime | None = None,
    quarantined: int = 0,
    accounting: dict[str, dict[str, int]] | None = None,
    history: History | None = None,
    balances: BalanceCheck | None = None,
    late_risk: LateRisk | None = None,
) -> Report:
    """Score the ledger as of `as_of` and as of `compare_days` earlier, and summarise.

    Scoring rebuilds the balances as of any date, so the worst movers need no history store:
    the same ledger, scored as of the earlier date. The trends do: `history` holds the daily
    snapshots that runs recorded. The snapshots keep no sales, so the DSO of each trend day
    is computed from this ledger as of that day. The promises, the CRM's disputes and the
    breakdown by owner come from the latest snapshot too: what its run read from the CRM.
    `late_risk` is the model's verdict as of `as_of`: when the gate passed, both days are
    scored with the model (each trained on what was known that day), as a run scores them.
    """
    if compare_days < 1:
        raise ValueError(f"compare_days must be at least 1, not {compare_days}")
    scoring, currencies = settings.scoring, settings.currencies
    compared_with = as_of - dt.timedelta(days=compare_days)
    gated = late_risk.gated_risk if late_risk is not None else None
    earlier = risk_as_of(ledger, compared_with, scoring) if gated is not None else None
    now = score_accounts(ledger, as_of, scoring, currencies, late_risk=gated)
    then = score_accounts(ledger, compared_with, scoring, currencies, late_risk=earlier)
    places = exponent(currencies.reporting)
    aging = pd.DataFrame(
        {
            "key": [b.key for b in scoring.aging_buckets],
            "label": [b.label for b in scoring.aging_buckets],
            "amount": [money_sum(now[f"aging_{b.key}"], places) for b in scoring.aging_buckets],
        }
    )
    portfolio = portfolio_kpis(ledger, as_of, scoring, currencies)
    portfolio["money_at_risk"] = money_at_risk(now["open_balance"], now["risk_tier"], places)
    portfolio["disputed_balance"] = money_sum(now["disputed_balance"], places)
    portfolio["disputed_invoices"] = np.int64(now["disputed_invoice_count"].fillna(0).sum())
    history = history or History(note="no score history was read")
    crm = crm_figures(history, places)
    portfolio["accounts_with_crm_dispute"] = (
        np.nan if crm.disputes is None else np.int64(crm.disputes)
    )
    trend, base_day = _trend(
        ledger, as_of, settings, history, portfolio=portfolio, compare_days=compare_days
    )
    migration = None
    if history.then_day is not None and history.now_day is not None:
        migration = tier_migration(history.then_tiers, history.now_tiers)
    segment_names = list(dict.fromkeys(rule.segment for rule in scoring.segments))
    tiers = scoring.health.tiers
    return Report(
        as_of=as_of,
        compared_with=compared_with,
        reporting_currency=currencies.reporting,
        portfolio=portfolio,
        aging=aging,
        worklist=worklist(now),
        worst_movers=worst_movers(now, then),
        score_bands=score_bands(now["health_score"]),
        tiers=_counts(now["risk_tier"], list(TIERS), "risk_tier"),
        segments=_counts(now["segment"], segment_names, "segment"),
        tier_thresholds=(tiers.low, tiers.medium, tiers.high),
        data_as_of=data_as_of,
        quarantined=quarantined,
        accounting=accounting or {},
        tier_balances=_tier_balances(now, places),
        trend=trend,
        base_day=base_day,
        migration=migration,
        migration_from=history.then_day if migration is not None else None,
        migration_to=history.now_day if migration is not None else None,
        currencies=currency_breakdown(open_invoices(ledger, as_of), currencies),
        owners=crm.owners,
        promises=crm.promises,
        history_note=history.note,
        crm_day=crm.day,
        crm_disputes=crm.disputes,
        crm_note=crm.note,
        balances=balances or BalanceCheck(),
        model=late_risk.summary() if late_risk is not None else None,
        cash_forecast=_cash_forecast(ledger, as_of, now, currencies),
    )


def _cash_forecast(
    ledger: Ledger, as_of: dt.date, scores: pd.DataFrame, currencies: CurrencyTable
) -> pd.DataFrame:
    """The portfolio's expected receipts per week, from each customer's habit as scored."""
    items = open_invoices(ledger, as_of)
    items = items.assign(minor=currencies.to_reporting(items["open_minor"], items["currency"]))
    weeks = weekly_receipts(items, scores.set_index("customer_id"), as_of)
    return pd.DataFrame(
        {"week_start": weeks["week_start"], "amount": currencies.to_major(weeks["minor"])}
    )


@dataclass(frozen=True)
class CrmFigures:
    """What the latest snapshot's run read from the CRM, summed (see `Report`)."""

    day: dt.date | None = None
    promises: pd.DataFrame | None = None
    owners: pd.DataFrame | None = None
    disputes: int | None = None
    note: str | None = None


def crm_figures(history: History, places: int) -> CrmFigures:
    """Promises, owners and CRM disputes of the latest snapshot, each only where its run
    recorded them (a NULL column is "not read", never "none")."""
    day, latest = history.now_day, history.latest
    if day is None or latest.empty:
        reason = history.note or "no score snapshot on or before the as-of date"
        return CrmFigures(note=f"not recorded: {reason}")
    promises_read = bool(latest["promise_status"].notna().any())
    owners_read = bool(latest["owner_id"].notna().any() | latest["owner_name"].notna().any())
    disputes_read = bool(latest["crm_dispute_open"].notna().any())
    if not (promises_read or owners_read or disputes_read):
        return CrmFigures(
            note=(
                f"the latest snapshot ({day}) holds no CRM data: its run read no Salesforce "
                "org, or ran before arsync kept promises and owners with its scores"
            )
        )
    missing = [
        what for what, read in (("promises", promises_read), ("owners", owners_read)) if not read
    ]
    disputes = latest["crm_dispute_open"].map(lambda v: v is True or v == 1)
    return CrmFigures(
        day=day,
        promises=promise_summary(latest, places) if promises_read else None,
        owners=(
            breakdown(latest, owner_labels(latest), places, name="owner") if owners_read else None
        ),
        disputes=int(disputes.sum()) if disputes_read else None,
        note=(
            f"the snapshot of {day} holds no {' and no '.join(missing)}: its run read none "
            "from the CRM (the mapping has no source for them)"
            if missing
            else None
        ),
    )


def _trend(
    ledger: Ledger,
    as_of: dt.date,
    settings: RunSettings,
    history: History,
    *,
    portfolio: pd.DataFrame,
    compare_days: int,
) -> tuple[pd.DataFrame, dt.date | None]:
    """The trend rows (`TREND_COLUMNS`) and the day the tiles compare with.

    Balances and tiers come from the snapshots; DSO, countback DSO, ADD and CEI from the
    ledger as of each day, since the snapshots keep no sales. At most `MAX_TREND_POINTS`
    days are kept, always the first, the latest and the comparison day.
    """
    places = exponent(settings.currencies.reporting)
    daily = daily_totals(history.totals, places)
    daily["snapshot_date"] = pd.to_datetime(daily["snapshot_date"]).dt.date
    daily = daily[daily["snapshot_date"] <= as_of].assign(source="snapshot")
    base_day = nearest_day(
        daily["snapshot_date"], as_of - dt.timedelta(days=compare_days), before=as_of
    )
    if as_of not in set(daily["snapshot_date"]):
        own = {
            "snapshot_date": as_of,
            "source": "report",
            "accounts": int(portfolio["customers"].iloc[0]),
            "open_balance": float(portfolio["open_balance"].iloc[0]),
            "overdue_balance": float(portfolio["overdue_balance"].iloc[0]),
            "money_at_risk": float(portfolio["money_at_risk"].iloc[0]),
            "accounts_with_overdue": int(portfolio["customers_with_overdue"].iloc[0]),
            "overdue_share": float(portfolio["overdue_share"].iloc[0]),
        }
        daily = pd.concat([daily, pd.DataFrame([own])], ignore_index=True)
    keep = [day for day in (base_day, as_of) if day is not None]
    days = thin_days(list(daily["snapshot_date"]), MAX_TREND_POINTS, keep)
    daily = daily[daily["snapshot_date"].isin(days)].reset_index(drop=True)
    kpis = {
        day: (
            portfolio
            if day == as_of
            else portfolio_kpis(ledger, day, settings.scoring, settings.currencies)
        )
        for day in days
    }
    for name in ("dso", "dso_countback", "add", "cei"):
        daily[name] = [float(kpis[day][name].iloc[0]) for day in daily["snapshot_date"]]
    return daily[list(TREND_COLUMNS)], base_day


def _tier_balances(scores: pd.DataFrame, places: int) -> pd.DataFrame:
    """Accounts and open balance per risk tier, low to critical (any other tier after)."""
    names = list(TIERS) + sorted(str(t) for t in set(scores["risk_tier"]) if t not in TIERS)
    rows = []
    for name in names:
        chosen = scores["risk_tier"] == name
        rows.append(
            {
                "risk_tier": name,
                "accounts": int(chosen.sum()),
                "open_balance": money_sum(scores["open_balance"][chosen], places),
            }
        )
    return pd.DataFrame(rows, columns=["risk_tier", "accounts", "open_balance"])


def worklist(scores: pd.DataFrame) -> pd.DataFrame:
    """The accounts with a priority rank, best to work first at the top, by their priority
    weight (overdue money times an age weight and a tier multiplier: a ranking figure, which can
    exceed what is open, so never called money at risk)."""
    ranked = scores[scores["priority_rank"].notna()]
    ranked = ranked.sort_values(["priority_rank", "customer_id"], ignore_index=True)
    return ranked[list(WORKLIST_COLUMNS)]


def worst_movers(now: pd.DataFrame, then: pd.DataFrame, limit: int = WORST_MOVERS) -> pd.DataFrame:
    """The `limit` largest score drops from `then` to `now` (rises and no change left out).

    The largest drop comes first; equal drops go by customer id.
    """
    current = now[["customer_id", "customer_name", "health_score", "risk_tier", "reason_1"]]
    current = current.rename(
        columns={
            "health_score": "score_now",
            "risk_tier": "tier_now",
            "reason_1": "top_reason_now",
        }
    )
    earlier = then[["customer_id", "health_score", "risk_tier"]].rename(
        columns={"health_score": "score_then", "risk_tier": "tier_then"}
    )
    movers = current.merge(earlier, on="customer_id", how="inner", validate="one_to_one")
    movers["change"] = movers["score_now"] - movers["score_then"]
    drops = movers[movers["change"] < 0].sort_values(["change", "customer_id"])
    return drops.head(limit).reset_index(drop=True)[list(MOVER_COLUMNS)]


def score_bands(scores: pd.Series) -> pd.Series:
    """Accounts per 10-point band: 0-9, 10-19, ..., 80-89 and 90-100 (100 joins the last)."""
    values = scores.to_numpy(dtype="int64")
    bands = np.clip(values // 10, 0, len(SCORE_BANDS) - 1)
    counts = np.bincount(bands, minlength=len(SCORE_BANDS))
    return pd.Series(
        counts.astype("int64"), index=pd.Index(SCORE_BANDS, name="band"), name="accounts"
    )


def _counts(values: pd.Series, order: list[str], name: str) -> pd.Series:
    """Accounts per value, every name of `order` first (zeros kept), any other after it."""
    counts = values.value_counts()
    names = order + sorted(str(v) for v in counts.index if v not in order)
    result = counts.reindex(names, fill_value=0).astype("int64")
    result.index.name = name
    result.name = "accounts"
    return result


# --- formatting -------------------------------------------------------------------------------


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def format_money(value: object, places: int = 2) -> str:
    """1234567.8 -> '1,234,567.80'; NaN or empty -> a dash."""
    return _NOTHING if _missing(value) else f"{float(str(value)):,.{places}f}"


def format_number(value: object, places: int = 1) -> str:
    """12.345 -> '12.3'; NaN or empty -> a dash."""
    return _NOTHING if _missing(value) else f"{float(str(value)):,.{places}f}"


def format_share(value: object) -> str:
    """A share in [0, 1] as a percentage: 0.4 -> '40.0%'."""
    return _NOTHING if _missing(value) else f"{float(str(value)) * 100:.1f}%"


def _timestamp(value: dt.datetime | None) -> str | None:
    """2026-11-20 23:00 UTC; None stays None."""
    if value is None:
        return None
    zone = value.tzname() or ""
    return f"{value:%Y-%m-%d %H:%M} {zone}".rstrip()


def format_text(value: object) -> str:
    """Empty, None or NaN -> ''; a date -> its ISO form; anything else as str."""
    if _missing(value):
        return ""
    if isinstance(value, dt.date | pd.Timestamp):
        return value.isoformat()[:10]
    return str(value)


# --- HTML ---------------------------------------------------------------------------------------


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
    if then is None or _missing(now) or report.base_day is None:
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
    if base_share is not None and not _missing(share) and report.base_day is not None:
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
        return tuple(None if _missing(v) else float(v) for v in trend[name])

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
        loader=PackageLoader("jobs", "templates"),
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
        "data_as_of": _timestamp(report.data_as_of),
        "reconciliation": _reconciliation(report.balances),
        "model": report.model,
        "model_rows": _model_rows(report.model) if report.model else [],
        "model_customer_rows": _model_rows(report.model, "customer_tiers") if report.model else [],
        "calibration_chart": Markup(chart) if chart else None,  # noqa: S704
    }
    return _environment().get_template("report.html.j2").render(context)


# --- files and the job ------------------------------------------------------------------------


def portfolio_row(report: Report) -> pd.DataFrame:
    """portfolio_kpis.csv: the as-of date, the reporting currency, the portfolio KPIs, the open
    receivables per aging bucket (`aging_<key>`) and per risk tier (`tier_<tier>_open`,
    `tier_<tier>_accounts`), the snapshot day the trends compare with, and, when the latest
    snapshot recorded them, the promises (`promises_<status>_accounts`, `_promised`) and the
    day they are from (`crm_snapshot_date`)."""
    kpis = report.portfolio.copy()
    kpis.insert(0, "reporting_currency", report.reporting_currency)
    kpis.insert(0, "as_of_date", report.as_of.isoformat())
    for row in report.aging.to_dict("records"):
        kpis[f"aging_{row['key']}"] = float(row["amount"])
    for row in report.tier_balances.to_dict("records"):
        kpis[f"tier_{row['risk_tier']}_open"] = float(row["open_balance"])
        kpis[f"tier_{row['risk_tier']}_accounts"] = int(row["accounts"])
    kpis["compared_snapshot_date"] = report.base_day.isoformat() if report.base_day else ""
    kpis["crm_snapshot_date"] = report.crm_day.isoformat() if report.crm_day else ""
    if report.promises is not None:
        for row in report.promises.to_dict("records"):
            status = row["promise_status"]
            kpis[f"promises_{status}_accounts"] = int(row["accounts"])
            kpis[f"promises_{status}_promised"] = float(row["promised"])
    return kpis


def owner_rows(report: Report) -> pd.DataFrame:
    """owners.csv: the breakdown per Account owner, the snapshot day on every row."""
    if report.owners is None or report.crm_day is None:
        return pd.DataFrame(columns=["snapshot_date", "owner"])
    rows = report.owners.copy()
    rows.insert(0, "snapshot_date", report.crm_day.isoformat())
    return rows


def migration_rows(report: Report) -> pd.DataFrame:
    """tier_migration.csv: one row per (from tier, to tier), the two days on every row."""
    columns = ["from_date", "to_date", "from_tier", "to_tier", "accounts"]
    if report.migration is None or report.migration_from is None or report.migration_to is None:
        return pd.DataFrame(columns=columns)
    long = pd.DataFrame(
        [
            {"from_tier": str(a), "to_tier": str(b), "accounts": int(report.migration.loc[a, b])}
            for a in report.migration.index
            for b in report.migration.columns
        ]
    )
    long.insert(0, "to_date", report.migration_to.isoformat())
    long.insert(0, "from_date", report.migration_from.isoformat())
    return long[columns]


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """The CSV files and report.html in `out_dir`.

    worklist.csv, portfolio_kpis.csv (one row: `portfolio_row`), worst_movers.csv,
    trends.csv (the trend days), tier_migration.csv, currencies.csv (open per document
    currency), owners.csv (`owner_rows`; only when the latest snapshot recorded owners) and
    report.html.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "worklist": out_dir / "worklist.csv",
        "portfolio_kpis": out_dir / "portfolio_kpis.csv",
        "worst_movers": out_dir / "worst_movers.csv",
        "trends": out_dir / "trends.csv",
        "tier_migration": out_dir / "tier_migration.csv",
        "currencies": out_dir / "currencies.csv",
    }
    if report.owners is not None:
        paths["owners"] = out_dir / "owners.csv"
    paths["report"] = out_dir / "report.html"
    # safe_frame: names and other ERP text must not run as formulas in a spreadsheet.
    safe_frame(report.worklist).to_csv(paths["worklist"], index=False)
    safe_frame(portfolio_row(report)).to_csv(paths["portfolio_kpis"], index=False)
    safe_frame(report.worst_movers).to_csv(paths["worst_movers"], index=False)
    trend = report.trend.assign(
        snapshot_date=[d.isoformat() for d in report.trend["snapshot_date"]]
    )
    safe_frame(trend).to_csv(paths["trends"], index=False)
    safe_frame(migration_rows(report)).to_csv(paths["tier_migration"], index=False)
    safe_frame(report.currencies).to_csv(paths["currencies"], index=False)
    if report.owners is not None:
        safe_frame(owner_rows(report)).to_csv(paths["owners"], index=False)
    paths["report"].write_text(render_html(report), encoding="utf-8")
    return paths


@dataclass(frozen=True)
class ReportResult:
    loaded: LoadedLedger
    report: Report
    outputs: dict[str, Path]


def run_report(
    settings: RunSettings,
    *,
    out_dir: Path | None = None,
    as_of: dt.date | None = None,
    compare_days: int = DEFAULT_COMPARE_DAYS,
    progress: Reporter | None = None,
    today: dt.date | None = None,
    history: bool = True,
) -> ReportResult:
    """Pull and validate as a sync run does, read the score history from the state store
    (unless `history` is False), build the report, write it to `out_dir`.

    `out_dir` defaults to the output folder of the settings.
    """
    progress = progress or Silent()
    started = time.perf_counter()
    loaded = load_ledger(settings, as_of, progress, today, started_event="report.started")
    with progress.step("Reading the score history"):
        past = (
            read_history(settings.app.state.url, loaded.as_of, migration_days=compare_days)
            if history
            else History(note="the score history was not read (--no-history)")
        )
    judged = None
    if late_risk.wanted(settings.scoring):
        with progress.step("Testing the late-payment model"):
            judged = judge_late_risk(loaded.ledger, loaded.as_of, settings.scoring)
    with progress.step("Scoring and summarising"):
        report = build_report(
            loaded.ledger,
            loaded.as_of,
            settings,
            compare_days=compare_days,
            data_as_of=loaded.data_as_of,
            quarantined=len(loaded.quarantine),
            accounting={s: c.as_dict() for s, c in loaded.accounting.items()},
            history=past,
            balances=loaded.balances,
            late_risk=judged,
        )
    log.info(
        "report.built",
        customers=int(report.kpi("customers")),
        worklist=len(report.worklist),
        worst_movers=len(report.worst_movers),
        compared_with=report.compared_with.isoformat(),
        trend_days=len(report.trend),
        compared_snapshot=report.base_day.isoformat() if report.base_day else None,
    )
    outputs = write_report(report, out_dir or settings.app.output.dir)
    log.info(
        "report.written",
        status=loaded.exit_code.name.lower(),
        exit_code=int(loaded.exit_code),
        seconds=round(time.perf_counter() - started, 3),
        **{f"{name}_file": str(path) for name, path in outputs.items()},
    )
    return ReportResult(loaded, report, outputs)
