"""What `arsync report` shows, computed: `build_report` is pure (a ledger, a date and the score
history in, a `Report` out; no clock, no files). The page (`jobs.report.page`), the files
(`jobs.report.files`) and the job (`jobs.report.run`) take it from there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from arsync.ledger import Ledger
from arsync.money import exponent
from jobs.late_risk import LateRisk, risk_as_of
from jobs.reconciliation import BalanceCheck
from jobs.report.history import History
from jobs.report.options import DEFAULT_COMPARE_DAYS
from jobs.report.text import missing
from jobs.settings import RunSettings
from scoring import score_accounts
from scoring.aging import open_invoices
from scoring.cash_forecast import weekly_receipts
from scoring.currency import CurrencyTable
from scoring.health import TIERS
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
        if rows.empty or missing(rows[name].iloc[0]):
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
