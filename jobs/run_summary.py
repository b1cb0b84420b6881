"""What a person reads first after a run: accounts by tier and next action, the money, and what
would change; the per-field detail is the CLI's `--show`.

Tables and lines only, built from the run's frames: the CLI prints them, tests read them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from rich.table import Table
from rich.text import Text

from jobs.console_safety import plain
from jobs.wording import plural
from scoring.health import TIERS, at_risk


@dataclass(frozen=True)
class Money:
    """The portfolio's balances in the reporting currency."""

    currency: str
    open: float
    overdue: float
    at_risk: float  # open at a high or critical tier: never more than `open`

    def line(self) -> str:
        share = f" ({self.overdue / self.open:.0%} of it)" if self.open > 0 else ""
        return (
            f"Open {amount(self.open)} {self.currency}, overdue {amount(self.overdue)}{share}; "
            f"{amount(self.at_risk)} open at high or critical risk."
        )


def amount(value: float) -> str:
    """Money with thousands separators and cents."""
    return f"{value:,.2f}"


def portfolio_money(scores: pd.DataFrame) -> Money:
    """Open, overdue and at-risk money over every scored customer."""
    currency = str(scores["reporting_currency"].iloc[0]) if len(scores) else ""
    return Money(
        currency=currency,
        open=float(scores["open_balance"].sum()),
        overdue=float(scores["overdue_balance"].sum()),
        at_risk=float(scores.loc[at_risk(scores["risk_tier"]), "open_balance"].sum()),
    )


def tier_table(scores: pd.DataFrame, currency: str) -> Table:
    """Accounts, open and overdue money per risk tier, lowest risk first, with a total."""
    table = Table(title="Accounts by risk tier", title_justify="left")
    for column in ("Tier", "Accounts", f"Open {currency}", f"Overdue {currency}"):
        table.add_column(column, justify="left" if column == "Tier" else "right")
    groups = scores.groupby("risk_tier", observed=True)[["open_balance", "overdue_balance"]]
    sums, sizes = groups.sum(), groups.size()
    for tier in [*TIERS, *sorted(set(sizes.index) - set(TIERS))]:
        if tier in sizes.index:
            row = sums.loc[tier]
            table.add_row(
                plain(tier.capitalize()),
                f"{int(sizes[tier]):,}",
                amount(float(row["open_balance"])),
                amount(float(row["overdue_balance"])),
            )
    table.add_section()
    table.add_row(
        "Total",
        f"{len(scores):,}",
        amount(float(scores["open_balance"].sum())),
        amount(float(scores["overdue_balance"].sum())),
    )
    return table


def action_table(scores: pd.DataFrame, currency: str) -> Table:
    """Accounts and overdue money per next action, the most overdue money first."""
    table = Table(title="Next actions", title_justify="left")
    for column in ("Next action", "Accounts", f"Overdue {currency}", "Earliest date"):
        table.add_column(column, justify="left" if column == "Next action" else "right")
    frame = scores.assign(
        _date=pd.to_datetime(scores["next_action_date"], errors="coerce"),
        _label=scores["next_action_label"].fillna(scores["next_action"]),
    )
    groups = frame.groupby("_label", observed=True, dropna=False)
    summary = pd.DataFrame(
        {
            "accounts": groups.size(),
            "overdue": groups["overdue_balance"].sum(),
            "earliest": groups["_date"].min(),
        }
    ).sort_values(["overdue", "accounts"], ascending=False)
    for label, row in summary.iterrows():
        earliest = row["earliest"]
        table.add_row(
            plain(label),
            f"{int(row['accounts']):,}",
            amount(float(row["overdue"])),
            earliest.date().isoformat() if isinstance(earliest, pd.Timestamp) else "",
        )
    return table


def change_line(plan: pd.DataFrame, *, online: bool, dry_run: bool, scored: int) -> str:
    """What would change in Salesforce, in one sentence."""
    accounts = int(plan["customer_id"].nunique()) if len(plan) else 0
    if not online:
        return (
            f"Salesforce: not connected (no salesforce: section), so nothing was compared; "
            f"{plural(len(plan), 'field value')} planned for {plural(accounts, 'account')}."
        )
    verb = "would change" if dry_run else "changed"
    if not len(plan):
        held = plural(scored, "account")
        return f"Salesforce: nothing {verb}; all {held} already hold these values."
    fields = plan["field"].value_counts()
    busiest = ", ".join(f"{name} {n:,}" for name, n in fields.head(3).items())
    return (
        f"Salesforce: {plural(len(plan), 'field value')} on {plural(accounts, 'account')} "
        f"{verb} ({plural(scored - accounts, 'account')} unchanged); most often {busiest}."
    )


def ledger_line(counts: dict[str, int], quarantined: int) -> str:
    """The ledger's records, and whether anything was kept aside."""
    parts = ", ".join(
        plural(n, name.replace("_", " ").removesuffix("s"), name.replace("_", " "))
        for name, n in counts.items()
    )
    aside = (
        "none quarantined"
        if not quarantined
        else f"{plural(quarantined, 'record')} quarantined (listed below)"
    )
    return f"Ledger: {parts}; {aside}."


def cell(value: object) -> Text:
    """A plan value as a person reads it: numbers with thousands separators, "(empty)" when
    missing; text as plain text (ERP data, never markup)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return Text("(empty)")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, int | float):
        return Text(f"{value:,}")
    return plain(value)
