"""Aging and balances of hand-built ledgers, against figures worked out by hand."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pandas as pd
import pytest
from factories import build, credit_memo, customer, day, invoice, payment
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples

from arsync.records import CanonicalRecord, InvoiceStatus
from scoring import CurrencyTable, ScoringSettings, score_accounts

USD_EUR = CurrencyTable("USD", {"EUR": Decimal("1.08")})
AS_OF = day("2026-06-30")


def score(*records: CanonicalRecord, as_of: dt.date = AS_OF) -> pd.DataFrame:
    ledger, quarantine = build(*records)
    assert list(quarantine) == []
    return score_accounts(ledger, as_of, ScoringSettings(), USD_EUR).set_index("customer_id")


def hand_ledger() -> list[CanonicalRecord]:
    return [
        customer("C1"),
        customer("C2", currency="EUR"),
        customer("C3"),
        # 150 days past due, untouched.
        invoice("I1", "1000", issued="2026-01-01", due="2026-01-31"),
        # 500 billed, 300 paid on 2026-05-20: only the 200 left ages, 60 days past due.
        invoice("I2", "500", "200", issued="2026-04-01", due="2026-05-01"),
        # Not due until 2026-07-10.
        invoice("I3", "750", issued="2026-06-10", due="2026-07-10"),
        # Paid in full, but on 2026-07-05: on 2026-06-30 it was still open, 16 days late.
        invoice("I4", "400", "0", issued="2026-05-15", due="2026-06-14"),
        # Void: never counts.
        invoice("I5", "300", "0", issued="2026-03-01", due="2026-03-31", status=InvoiceStatus.VOID),
        # Issued after the as-of date: not yet on the books.
        invoice("I6", "999", issued="2026-07-02", due="2026-08-01"),
        # Due on the as-of date itself: still current.
        invoice("I7", "100", issued="2026-05-31", due="2026-06-30"),
        payment("P1", "350", received="2026-05-20", applied={"I2": "300"}),
        payment("P2", "400", received="2026-07-05", applied={"I4": "400"}),
        credit_memo("CM1", "120", dated="2026-06-01"),
        # EUR 99.99, 10 days late, at 1.08 = USD 107.9892 -> 107.99.
        invoice(
            "I8", "99.99", issued="2026-05-21", due="2026-06-20", customer_id="C2", currency="EUR"
        ),
    ]


def test_hand_built_ledger_ages_as_computed_by_hand() -> None:
    c1 = score(*hand_ledger()).loc["C1"]

    assert c1["open_balance"] == 2450.00  # 1000 + 200 + 750 + 400 + 100
    assert c1["overdue_balance"] == 1600.00  # 1000 + 200 + 400
    assert c1["aging_current"] == 850.00  # 750 + 100
    assert c1["aging_d1_30"] == 400.00
    assert c1["aging_d31_60"] == 200.00
    assert c1["aging_d61_90"] == 0
    assert c1["aging_d91_120"] == 0
    assert c1["aging_over_120"] == 1000.00
    assert c1["unapplied_credit"] == 170.00  # 50 left of P1 + CM1; P2 not yet received
    assert c1["net_balance"] == 2280.00
    assert c1["open_invoice_count"] == 5
    assert c1["overdue_invoice_count"] == 3
    assert c1["max_days_overdue"] == 150
    assert c1["overdue_status"] == "Over 120 days overdue"


def test_foreign_currency_is_converted_once_per_invoice() -> None:
    c2 = score(*hand_ledger()).loc["C2"]

    assert c2["open_balance"] == 107.99
    assert c2["aging_d1_30"] == 107.99
    assert c2["overdue_status"] == "1-30 days overdue"
    assert c2["reporting_currency"] == "USD"


def test_customer_with_nothing_open_is_current_with_zeros() -> None:
    c3 = score(*hand_ledger()).loc["C3"]

    assert c3["open_balance"] == 0
    assert c3["overdue_status"] == "Current"
    assert c3["max_days_overdue"] == 0
    assert c3["open_invoice_count"] == 0


def test_a_later_as_of_date_sees_the_payment() -> None:
    c1 = score(*hand_ledger(), as_of=day("2026-07-06")).loc["C1"]

    assert c1["aging_d1_30"] == 100.00  # I4 was paid on 2026-07-05; I7 is now 6 days late
    assert c1["aging_current"] == 750.00 + 999  # I3, and I6 which is now issued
    assert c1["open_balance"] == 1000 + 200 + 750 + 100 + 999
    assert c1["unapplied_credit"] == 170.00  # P2 arrived, but all of it went to I4


@pytest.mark.parametrize(
    ("due", "bucket"),
    [
        ("2026-06-30", "aging_current"),  # 0 days
        ("2026-06-29", "aging_d1_30"),  # 1 day
        ("2026-05-31", "aging_d1_30"),  # 30 days
        ("2026-05-30", "aging_d31_60"),  # 31 days
        ("2026-03-02", "aging_d91_120"),  # 120 days
        ("2026-03-01", "aging_over_120"),  # 121 days
    ],
)
def test_bucket_boundaries_are_inclusive_upper_bounds(due: str, bucket: str) -> None:
    row = score(customer("C1"), invoice("I1", "10", issued="2026-01-01", due=due)).loc["C1"]

    assert row[bucket] == 10
    others = [c for c in row.index if c.startswith("aging_") and c != bucket]
    assert all(row[c] == 0 for c in others)


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)
dates = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2026, 12, 31))


@st.composite
def ledgers(draw: st.DrawFn) -> list[CanonicalRecord]:
    records: list[CanonicalRecord] = [customer("C1"), customer("C2", currency="EUR")]
    for number in range(draw(st.integers(0, 12))):
        customer_id = draw(st.sampled_from(["C1", "C2"]))
        total = draw(money)
        open_share = draw(st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(1)]))
        issued = draw(dates)
        records.append(
            invoice(
                f"I{number}",
                str(total),
                str((total * open_share).quantize(Decimal("0.01"))),
                issued=issued.isoformat(),
                due=(issued + dt.timedelta(days=draw(st.integers(0, 90)))).isoformat(),
                customer_id=customer_id,
                currency="USD" if customer_id == "C1" else "EUR",
            )
        )
    return records


@settings(max_examples=examples(60), deadline=None)
@given(records=ledgers(), as_of=dates)
def test_money_is_conserved_across_buckets(records: list[CanonicalRecord], as_of: dt.date) -> None:
    scores = score(*records, as_of=as_of)
    buckets = [c for c in scores.columns if c.startswith("aging_")]

    cents = (scores[buckets].sum(axis=1) * 100).round().astype("int64")
    assert cents.tolist() == (scores["open_balance"] * 100).round().astype("int64").tolist()
    overdue = (scores["open_balance"] - scores["aging_current"]).round(2)
    assert overdue.tolist() == scores["overdue_balance"].tolist()


@settings(max_examples=examples(30), deadline=None)
@given(records=ledgers(), as_of=dates, seed=st.integers(0, 2**32))
def test_scores_do_not_depend_on_record_order(
    records: list[CanonicalRecord], as_of: dt.date, seed: int
) -> None:
    shuffled = records[:]
    random.Random(seed).shuffle(shuffled)

    pd.testing.assert_frame_equal(score(*records, as_of=as_of), score(*shuffled, as_of=as_of))
