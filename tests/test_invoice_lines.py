"""Invoice lines for the CRM's invoice records: they add up to the Account's figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from factories import build, customer, day, invoice, payment
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from ledger_strategies import consistent_ledgers

from arsync.records import CanonicalRecord
from scoring import CurrencyTable, ScoringSettings, score_accounts
from scoring.invoices import LINE_COLUMNS, invoice_lines

USD_EUR = CurrencyTable("USD", {"EUR": Decimal("1.08")})
AS_OF = day("2026-06-30")


def test_open_paid_and_void_invoices_as_of_a_date() -> None:
    ledger, _ = build(
        customer("C1"),
        invoice("I1", "100.00", issued="2026-05-01", due="2026-05-31", number="N-1"),
        invoice("I2", "50.00", "0", issued="2026-05-01", due="2026-05-31"),
        invoice("I3", "70.00", issued="2026-05-01", due="2026-07-31", status="void"),
        invoice("I4", "80.00", issued="2026-06-01", due="2026-06-10", disputed=True,
                dispute_reason="wrong price"),
        invoice("I5", "90.00", issued="2026-07-05", due="2026-08-05"),  # not issued yet
        payment("P1", "50.00", received="2026-06-15", applied={"I2": "50.00"}),
    )  # fmt: skip

    lines = invoice_lines(ledger, AS_OF).set_index("invoice_id")

    assert list(invoice_lines(ledger, AS_OF).columns) == LINE_COLUMNS
    assert set(lines.index) == {"I1", "I2", "I3", "I4"}
    assert lines.loc["I1", ["status", "open_amount", "days_overdue", "number"]].tolist() == [
        "open",
        100.0,
        30,
        "N-1",
    ]
    assert lines.loc["I2", ["status", "open_amount", "days_overdue"]].tolist() == ["paid", 0, 0]
    assert lines.loc["I3", "status"] == "void"
    assert lines.loc["I4", ["disputed", "dispute_reason"]].tolist() == [True, "wrong price"]
    assert lines.loc["I1", "due_date"] == dt.date(2026, 5, 31)


def test_a_payment_after_the_as_of_date_leaves_the_invoice_open_then() -> None:
    ledger, _ = build(
        customer("C1"),
        invoice("I1", "100.00", "0", issued="2026-05-01", due="2026-05-31"),
        payment("P1", "100.00", received="2026-07-02", applied={"I1": "100.00"}),
    )

    assert invoice_lines(ledger, AS_OF).loc[0, "status"] == "open"
    assert invoice_lines(ledger, day("2026-07-02")).loc[0, "status"] == "paid"


@settings(max_examples=examples(80), deadline=None)
@given(records=consistent_ledgers(), as_of=st.dates(dt.date(2025, 6, 1), dt.date(2027, 1, 31)))
def test_open_lines_add_up_to_each_accounts_open_balance(
    records: list[CanonicalRecord], as_of: dt.date
) -> None:
    """Money is conserved: the invoice records of an Account sum to its open balance."""
    ledger, quarantine = build(*records)
    assert list(quarantine) == []
    lines = invoice_lines(ledger, as_of)
    scores = score_accounts(ledger, as_of, ScoringSettings(), USD_EUR).set_index("customer_id")

    open_lines = lines[lines["status"] == "open"]
    assert (open_lines["open_amount"] > 0).all()
    assert (lines.loc[lines["status"] != "open", "open_amount"] == 0).all()
    for customer_id, row in scores.iterrows():
        mine = open_lines[open_lines["customer_id"] == customer_id]
        assert len(mine) == row["open_invoice_count"]
        rate = Decimal("1.08") if customer_id == "C2" else Decimal(1)
        total = sum((Decimal(str(a)) * rate).quantize(Decimal("0.01")) for a in mine["open_amount"])
        assert total == Decimal(str(row["open_balance"])).quantize(Decimal("0.01"))
