"""Hypothesis strategies for consistent ledgers, and a row shuffler, for property tests.

Consistent means what a real ERP keeps true: every application is dated on or after its
invoice's issue date, an invoice's open balance is its total less everything applied to it,
and a void invoice has nothing applied.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
from factories import credit_memo, customer, invoice, payment
from hypothesis import strategies as st

from arsync.ledger import Ledger
from arsync.records import CanonicalRecord, InvoiceStatus

CENT = Decimal("0.01")
money = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("99999.99"), places=2)
issue_dates = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2026, 12, 31))


@st.composite
def consistent_ledgers(draw: st.DrawFn, max_invoices: int = 12) -> list[CanonicalRecord]:
    """Two customers (USD and EUR) with invoices paid in 0, 1 or 2 parts, in full or half."""
    records: list[CanonicalRecord] = [customer("C1"), customer("C2", currency="EUR")]
    for number in range(draw(st.integers(0, max_invoices))):
        customer_id = draw(st.sampled_from(["C1", "C2"]))
        currency = "USD" if customer_id == "C1" else "EUR"
        total = draw(money)
        issued = draw(issue_dates)
        due = issued + dt.timedelta(days=draw(st.integers(0, 90)))
        void = draw(st.integers(0, 9)) == 0
        share = (
            Decimal(0) if void else draw(st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(1)]))
        )
        applied = (total * share).quantize(CENT)
        parts = [applied] if applied else []
        if applied >= 2 * CENT and draw(st.booleans()):
            first = (applied / 2).quantize(CENT)
            parts = [first, applied - first]
        when = issued
        for part_number, amount in enumerate(parts):
            when += dt.timedelta(days=draw(st.integers(0, 150)))
            document_id = f"D{number}-{part_number}"
            links = {f"I{number}": str(amount)}
            if draw(st.integers(0, 4)) == 0:
                records.append(
                    credit_memo(
                        document_id,
                        str(amount),
                        dated=when.isoformat(),
                        applied=links,
                        customer_id=customer_id,
                        currency=currency,
                    )
                )
            else:
                extra = draw(st.sampled_from([Decimal(0), Decimal("10.00")]))  # unapplied cash
                records.append(
                    payment(
                        document_id,
                        str(amount + extra),
                        received=when.isoformat(),
                        applied=links,
                        customer_id=customer_id,
                        currency=currency,
                    )
                )
        records.append(
            invoice(
                f"I{number}",
                str(total),
                str(total - applied),
                issued=issued.isoformat(),
                due=due.isoformat(),
                customer_id=customer_id,
                currency=currency,
                status=(
                    InvoiceStatus.VOID
                    if void
                    else InvoiceStatus.PAID
                    if applied == total
                    else InvoiceStatus.OPEN
                ),
            )
        )
    return records


def shuffled(ledger: Ledger, seed: int) -> Ledger:
    """The same ledger with the rows of every frame in another order (labels kept)."""
    rng = np.random.default_rng(seed)

    def mix(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.iloc[rng.permutation(len(frame))]

    return Ledger(
        customers=mix(ledger.customers),
        invoices=mix(ledger.invoices),
        payments=mix(ledger.payments),
        credit_memos=mix(ledger.credit_memos),
        applications=mix(ledger.applications),
    )
