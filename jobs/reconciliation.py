"""The run's check against the ERP's own balances: ask the source, compare, log, and say
which customers may not be written and whether the run may write at all.

A customer out of tolerance keeps whatever its Account shows and is reported `unreconciled`
with both figures; a portfolio out of its limit stops a real run before any write (exit 3),
because then the two sides do not describe the same ledger.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import structlog

from arsync.errors import FatalError
from arsync.ledger import Ledger
from arsync.mapping import CrmMapping
from arsync.reconcile import MISSING, UNRECONCILED, Reconciliation, reconcile
from connector.erp.base import Source
from jobs.outcomes import outcome_frame, unwritten_row
from jobs.settings import ReconciliationSettings
from jobs.wording import plural

log = structlog.get_logger(__name__)
STATUS = "unreconciled"  # the outcome of an Account held back by the check


class UnreconciledPortfolioError(FatalError):
    """The portfolio's balance differs from the ERP's past its limit: nothing was written."""

    def __init__(self, check: Reconciliation) -> None:
        self.check = check
        super().__init__(
            "the open balance does not reconcile with the ERP's, so nothing was written: "
            + "; ".join(check.portfolio_breaks())
            + ". out/reconciliation.csv lists each customer's two figures"
        )


@dataclass(frozen=True)
class BalanceCheck:
    """The comparison, or why there was none (`skipped`, in words)."""

    result: Reconciliation | None = None
    skipped: str | None = None

    def held(self, ledger: Ledger, mapping: CrmMapping) -> frozenset[str]:
        """The customers not to write: each unreconciled one and, when the mapping writes
        roll-ups, every ancestor whose roll-up sums it."""
        if self.result is None:
            return frozenset()
        held = set(self.result.unreconciled_ids())
        if held and any(spec.source.startswith("rollup_") for spec in mapping.fields.values()):
            held |= _ancestors(ledger.customers, held)
        return frozenset(held)

    def counts(self) -> dict[str, int]:
        if self.result is None:
            return {}
        return {f"reconcile_{name}": count for name, count in self.result.counts().items()}

    def summary(self) -> str:
        """The check in one sentence, as the console and the report both show it."""
        if self.result is None:
            return f"Balances not checked against the ERP: {self.skipped}."
        counts = self.result.counts()
        parts = [f"{plural(counts['reconciled'], 'customer')} agree"]
        if counts[UNRECONCILED]:
            parts.append(f"{counts[UNRECONCILED]:,} do not and are not written")
        if counts[MISSING]:
            missing = plural(counts[MISSING], "ERP balance")
            parts.append(f"{missing} without a customer in the ledger")
        if counts["not_comparable"]:
            parts.append(f"{counts['not_comparable']:,} in another currency than the ERP's figure")
        if counts["unchecked"]:
            parts.append(f"{counts['unchecked']:,} not covered by it")
        return f"Reconciled with {self.result.figure}: " + ", ".join(parts) + "."

    @property
    def problems(self) -> int:
        """Customers out of tolerance and ERP balances the ledger has no customer for."""
        if self.result is None:
            return 0
        counts = self.result.counts()
        return counts[UNRECONCILED] + counts[MISSING]


def check_balances(
    source: Source,
    ledger: Ledger,
    as_of: dt.date,
    data_as_of: dt.datetime | None,
    settings: ReconciliationSettings,
) -> BalanceCheck:
    """Compare the ledger with the balances the source reports, once its pull is over."""
    if not settings.enabled:
        return _skipped(source, "reconciliation.enabled is false")
    if data_as_of is not None and as_of < data_as_of.date():
        return _skipped(
            source,
            f"the run is as of {as_of.isoformat()}, before the ERP data "
            f"({data_as_of.date().isoformat()}), whose balances are of that later day",
        )
    control = source.control_balances()
    if control is None:
        return _skipped(source, "the source reports no balances of its own")
    result = reconcile(
        ledger,
        as_of,
        control,
        tolerance=settings.tolerance,
        max_portfolio_share=settings.max_portfolio_share,
    )
    for row in result.customers[
        result.customers["status"].isin([UNRECONCILED, MISSING])
    ].itertuples():
        log.warning(
            "reconcile.customer_unreconciled"
            if row.status == UNRECONCILED
            else "reconcile.customer_missing",
            customer_id=row.customer_id,
            currency=row.currency,
            arsync_balance=str(row.arsync_balance),
            erp_balance=str(row.erp_balance),
            difference=str(row.difference),
            figure=result.figure,
        )
    log.info(
        "reconcile.finished",
        source=source.name,
        figure=result.figure,
        basis=result.basis.value,
        portfolio_reconciled=result.portfolio_reconciled,
        **result.counts(),
    )
    return BalanceCheck(result)


def enforce_portfolio(check: BalanceCheck, *, dry_run: bool) -> None:
    """Stop a real run whose portfolio does not reconcile; a dry run warns and plans."""
    result = check.result
    if result is None or result.portfolio_reconciled:
        return
    for line in result.portfolio_breaks():
        log.warning("reconcile.portfolio_unreconciled", dry_run=dry_run, message=line)
    if not dry_run:
        raise UnreconciledPortfolioError(result)


def held_outcomes(check: BalanceCheck, held: frozenset[str]) -> pd.DataFrame:
    """One outcome row per customer held back, with both figures in its message."""
    result = check.result
    if result is None or not held:
        return outcome_frame()
    rows = []
    figures = result.customers[result.customers["status"] == UNRECONCILED]
    by_customer = {str(r.customer_id): r for r in figures.itertuples()}
    for customer in sorted(held):
        row = by_customer.get(customer)
        if row is None:
            message = "not written: a customer below it in the hierarchy does not reconcile"
        else:
            message = (
                f"not written: arsync's balance {row.arsync_balance:,} {row.currency} differs "
                f"from {result.figure} {row.erp_balance:,} by {row.difference:,}"
            )
        rows.append(unwritten_row(customer, STATUS, message, error_code="unreconciled"))
    return outcome_frame(rows)


def out_of_line(result: Reconciliation | None) -> list[dict[str, object]]:
    """The rows the state store keeps: customers unreconciled or missing, with the figure."""
    if result is None:
        return []
    rows = result.customers[result.customers["status"].isin([UNRECONCILED, MISSING])]
    return [
        {**{str(name): value for name, value in row.items()}, "figure": result.figure}
        for row in rows.to_dict("records")
    ]


def _skipped(source: Source, reason: str) -> BalanceCheck:
    log.info("reconcile.skipped", source=source.name, reason=reason)
    return BalanceCheck(skipped=reason)


def _ancestors(customers: pd.DataFrame, of: set[str]) -> set[str]:
    parents = dict(
        zip(
            customers["customer_id"].astype(object),
            customers["parent_id"].astype(object),
            strict=True,
        )
    )
    found: set[str] = set()
    for customer in of:
        parent = parents.get(customer)
        while isinstance(parent, str) and parent not in found and parent not in of:
            found.add(parent)
            parent = parents.get(parent)
    return found
