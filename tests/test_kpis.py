"""Receivables KPIs of hand-built ledgers, against figures worked out by hand.

The worked example of docs/kpis.md is `hand_ledger` below, customer C1.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from factories import build, customer, day, invoice, payment
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from ledger_strategies import consistent_ledgers, shuffled

from arsync.ledger import Ledger
from arsync.records import CanonicalRecord, InvoiceStatus
from scoring import CurrencyTable, ScoringSettings
from scoring.aging import open_invoices
from scoring.kpis import (
    KPI_COLUMNS,
    PORTFOLIO_COLUMNS,
    customer_kpis,
    dso_countback,
    portfolio_kpis,
)
from scoring.settings import KpiSettings

USD_EUR = CurrencyTable("USD", {"EUR": Decimal("1.08")})
AS_OF = day("2026-06-30")
# As of 2026-06-30 with the default settings:
#   DSO and CEI period: (2026-04-01, 2026-06-30], 90 days; the CEI's opening AR is as of 04-01.
#   Countback periods (pd.DateOffset months back from the as-of date):
#     1: (2026-05-30, 2026-06-30]  31 days
#     2: (2026-04-30, 2026-05-30]  30 days
#     3: (2026-03-30, 2026-04-30]  31 days
#     4: (2026-02-28, 2026-03-30]  30 days  (June 30 less four months is February 28)
#     5: (2026-01-30, 2026-02-28]  29 days


def ledger_of(*records: CanonicalRecord) -> Ledger:
    ledger, quarantine = build(*records)
    assert list(quarantine) == []
    return ledger


def kpis(
    *records: CanonicalRecord, as_of: dt.date = AS_OF, kpi: KpiSettings | None = None
) -> pd.DataFrame:
    scoring = ScoringSettings(kpis=kpi or KpiSettings())
    return customer_kpis(ledger_of(*records), as_of, scoring, USD_EUR)


def hand_ledger() -> list[CanonicalRecord]:
    return [
        customer("C1"),
        customer("C2", currency="EUR"),
        customer("C3"),
        # I1: 6000, not due until 07-15: current. Period 1.
        invoice("I1", "6000", issued="2026-06-15", due="2026-07-15"),
        # I2: 3000, due 06-09: 21 days overdue. Period 2.
        invoice("I2", "3000", issued="2026-05-10", due="2026-06-09"),
        # I3: 4000, paid in full on 05-25 by a payment of 4500 (500 left unapplied, which the
        # KPIs do not net). Period 3.
        invoice("I3", "4000", "0", issued="2026-04-20", due="2026-05-20"),
        payment("P3", "4500", received="2026-05-25", applied={"I3": "4000"}),
        # I4: 2000 issued before the period, half paid on 04-20: 1000 overdue now, 2000 open
        # on 04-01. Period 4.
        invoice("I4", "2000", "1000", issued="2026-03-15", due="2026-04-14"),
        payment("P4", "1000", received="2026-04-20", applied={"I4": "1000"}),
        # I5: 1500, paid on 03-20: nothing open on 04-01 or now. Period 5.
        invoice("I5", "1500", "0", issued="2026-02-10", due="2026-03-12"),
        payment("P5", "1500", received="2026-03-20", applied={"I5": "1500"}),
        # Void, and issued after the as-of date: neither sales nor AR.
        invoice("V", "999", issued="2026-06-01", due="2026-07-01", status=InvoiceStatus.VOID),
        invoice("I6", "888", issued="2026-07-02", due="2026-08-01"),
        # C2: EUR 1000.00 = USD 1080.00, due 06-11: overdue. Period 1.
        invoice("J1", "1000", issued="2026-06-01", due="2026-06-11", customer_id="C2",
                currency="EUR"),
        # C3 has nothing at all.
    ]  # fmt: skip


def test_hand_built_ledger_gives_the_kpis_computed_by_hand() -> None:
    c1 = kpis(*hand_ledger()).loc["C1"]

    # Open AR: I1 6000 + I2 3000 + I4 1000 = 10000, of which current (I1) 6000.
    # Credit sales of the 90 days: I1 6000 + I2 3000 + I3 4000 = 13000.
    assert c1["credit_sales_period"] == 13000.00
    assert c1["dso"] == pytest.approx(10000 / 13000 * 90)  # 69.23
    assert c1["best_possible_dso"] == pytest.approx(6000 / 13000 * 90)  # 41.54
    assert c1["add"] == pytest.approx(4000 / 13000 * 90)  # 27.69
    # Countback: 10000 - 6000 (period 1, 31 days) = 4000; - 3000 (period 2, 30 days) = 1000;
    # 1000 of period 3's 4000 is a quarter of its 31 days: 31 + 30 + 7.75 = 68.75.
    assert c1["dso_countback"] == pytest.approx(68.75)
    # CEI: opening AR on 04-01 = I4's 2000 (its payment came on 04-20); sales 13000;
    # (2000 + 13000 - 10000) / (2000 + 13000 - 6000) = 5000 / 9000 = 55.56 %.
    # The 5000 collected is indeed P3's 4000 + P4's 1000.
    assert c1["cei"] == pytest.approx(5000 / 9000 * 100)


def test_foreign_currency_is_converted_per_invoice() -> None:
    c2 = kpis(*hand_ledger()).loc["C2"]

    assert c2["credit_sales_period"] == 1080.00
    assert c2["dso"] == pytest.approx(90)  # all of the period's sales are still open
    assert c2["best_possible_dso"] == 0  # and all of it overdue
    assert c2["add"] == pytest.approx(90)
    assert c2["dso_countback"] == pytest.approx(31)  # 1080 of period 1's 1080
    assert c2["cei"] == 0  # (0 + 1080 - 1080) / (0 + 1080 - 0): nothing collected


def test_customer_without_invoices_has_nan_ratios() -> None:
    result = kpis(*hand_ledger())
    c3 = result.loc["C3"]

    assert list(result.columns) == list(KPI_COLUMNS)
    assert list(result.index) == ["C1", "C2", "C3"]
    assert c3["credit_sales_period"] == 0
    assert np.isnan(c3["dso"])  # no sales
    assert np.isnan(c3["best_possible_dso"])
    assert np.isnan(c3["add"])
    assert c3["dso_countback"] == 0  # nothing open
    assert np.isnan(c3["cei"])  # nothing to collect


def test_portfolio_sums_before_it_divides() -> None:
    (row,) = portfolio_kpis(ledger_of(*hand_ledger()), AS_OF, ScoringSettings(), USD_EUR).to_dict(
        "records"
    )

    # Open 10000 + 1080 = 11080, current 6000, overdue 5080; sales 13000 + 1080 = 14080.
    assert list(row) == list(PORTFOLIO_COLUMNS)
    assert row["credit_sales_period"] == 14080.00
    assert row["dso"] == pytest.approx(11080 / 14080 * 90)  # 70.82
    assert row["best_possible_dso"] == pytest.approx(6000 / 14080 * 90)  # 38.35
    assert row["add"] == pytest.approx(5080 / 14080 * 90)  # 32.47
    # Period 1 now holds 6000 + 1080 = 7080: 11080 - 7080 = 4000, then as for C1: 68.75.
    assert row["dso_countback"] == pytest.approx(68.75)
    # (2000 + 14080 - 11080) / (2000 + 14080 - 6000) = 5000 / 10080 = 49.60 %.
    assert row["cei"] == pytest.approx(5000 / 10080 * 100)
    assert row["open_balance"] == 11080.00
    assert row["overdue_balance"] == 5080.00
    assert row["overdue_share"] == pytest.approx(5080 / 11080)
    assert row["customers"] == 3
    assert row["customers_with_overdue"] == 2


def test_countback_is_capped_when_the_months_do_not_cover_the_ar() -> None:
    c1 = kpis(*hand_ledger(), kpi=KpiSettings(countback_months=2)).loc["C1"]

    # Periods 1 and 2 sold 6000 + 3000 = 9000 < 10000 open: all of their 31 + 30 days.
    assert c1["dso_countback"] == pytest.approx(61)


@pytest.mark.parametrize(
    ("issued", "countback"),
    [
        # Sold in period 18, (2024-12-30, 2025-01-30]: periods 1-17 run from 2025-01-30 to
        # 2026-06-30, 516 days, and the 700 open is all of period 18's sales: + 31 days.
        ("2025-01-15", 516 + 31),
        # Sold before the 24 countback months: capped at their days, 2024-06-30 to
        # 2026-06-30 = 730.
        ("2024-01-15", 730),
    ],
)
def test_old_debt_without_recent_sales(issued: str, countback: float) -> None:
    row = kpis(customer("C1"), invoice("I1", "700", issued=issued, due=issued)).loc["C1"]

    assert np.isnan(row["dso"])  # no sales in the 90 days
    assert np.isnan(row["add"])
    assert row["dso_countback"] == pytest.approx(countback)
    # Opening 700, no sales, ending 700 of which 0 current: (700 - 700) / 700 = 0 %.
    assert row["cei"] == 0


@pytest.mark.parametrize(
    ("open_ar", "expected"),
    [
        (0, 0.0),  # nothing open
        (3000, 31 * 0.5),  # half of month 1
        (6000, 31.0),  # exactly month 1
        (7500, 31 + 30 * 0.5),  # month 1, then half of month 2
        (10000, 31 + 30 + 31 * 0.25),  # the fractional last month of the worked example
        (13000, 31 + 30 + 31),  # exactly all three
        (20000, 31 + 30 + 31),  # capped
    ],
)
def test_countback_walks_back_month_by_month(open_ar: int, expected: float) -> None:
    days = dso_countback(
        np.array([open_ar]), np.array([[6000, 3000, 4000]]), np.array([31, 30, 31])
    )

    assert days.tolist() == pytest.approx([expected])


def test_countback_steps_over_months_without_sales() -> None:
    # Months 1 and 2 sold nothing: 31 + 30 days, then 50 of month 3's 100 is 15.5 days.
    days = dso_countback(np.array([50]), np.array([[0, 0, 100]]), np.array([31, 30, 31]))

    assert days.tolist() == pytest.approx([76.5])


def test_periods_come_from_the_settings() -> None:
    periods = KpiSettings(dso_period_days=30, cei_period_days=60)
    c1 = kpis(*hand_ledger(), kpi=periods).loc["C1"]

    # Sales of (05-31, 06-30]: I1 6000.
    assert c1["credit_sales_period"] == 6000.00
    assert c1["dso"] == pytest.approx(10000 / 6000 * 30)  # 50
    assert c1["best_possible_dso"] == pytest.approx(30)
    # CEI over (05-01, 06-30]: opening AR on 05-01 = I3's 4000 (paid 05-25) + I4's 1000
    # (I2 came on 05-10); sales I1 + I2 = 9000;
    # (5000 + 9000 - 10000) / (5000 + 9000 - 6000) = 4000 / 8000 = 50 %.
    assert c1["cei"] == pytest.approx(50)


@settings(max_examples=examples(40), deadline=None)
@given(records=consistent_ledgers(), as_of=st.dates(dt.date(2025, 1, 1), dt.date(2027, 3, 31)))
def test_open_ar_agrees_with_the_aging(records: list[CanonicalRecord], as_of: dt.date) -> None:
    ledger = ledger_of(*records)
    items = open_invoices(ledger, as_of)
    minor = USD_EUR.to_reporting(items["open_minor"], items["currency"])
    overdue = minor[items["days_overdue"] > 0]
    (row,) = portfolio_kpis(ledger, as_of, ScoringSettings(), USD_EUR).to_dict("records")

    assert round(row["open_balance"] * 100) == minor.sum()
    assert round(row["overdue_balance"] * 100) == overdue.sum()
    customers_overdue = items.loc[items["days_overdue"] > 0, "customer_id"].nunique()
    assert row["customers_with_overdue"] == customers_overdue


def test_empty_ledger() -> None:
    ledger = Ledger.empty()

    assert customer_kpis(ledger, AS_OF, ScoringSettings(), USD_EUR).empty
    (row,) = portfolio_kpis(ledger, AS_OF, ScoringSettings(), USD_EUR).to_dict("records")
    assert row["customers"] == 0
    assert row["open_balance"] == 0
    assert np.isnan(row["dso"])
    assert np.isnan(row["overdue_share"])


as_of_dates = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 3, 31))


@settings(max_examples=examples(60), deadline=None)
@given(records=consistent_ledgers(), as_of=as_of_dates, seed=st.integers(0, 2**32 - 1))
def test_kpis_do_not_depend_on_row_order(
    records: list[CanonicalRecord], as_of: dt.date, seed: int
) -> None:
    ledger = ledger_of(*records)
    mixed = shuffled(ledger, seed)

    for kpi_function in (customer_kpis, portfolio_kpis):
        pd.testing.assert_frame_equal(
            kpi_function(ledger, as_of, ScoringSettings(), USD_EUR),
            kpi_function(mixed, as_of, ScoringSettings(), USD_EUR),
        )


@settings(max_examples=examples(100), deadline=None)
@given(
    records=consistent_ledgers(),
    as_of=as_of_dates,
    cei_days=st.sampled_from([30, 90, 365]),
    months=st.integers(1, 24),
)
def test_kpis_stay_in_range_on_consistent_ledgers(
    records: list[CanonicalRecord], as_of: dt.date, cei_days: int, months: int
) -> None:
    scoring = ScoringSettings(kpis=KpiSettings(cei_period_days=cei_days, countback_months=months))
    ledger = ledger_of(*records)
    frames = [
        customer_kpis(ledger, as_of, scoring, USD_EUR),
        portfolio_kpis(ledger, as_of, scoring, USD_EUR),
    ]

    for frame in frames:
        cei = frame["cei"].dropna()
        assert ((cei >= 0) & (cei <= 100)).all()
        assert (frame["add"].dropna() >= 0).all()  # best possible DSO <= DSO
        assert (frame["best_possible_dso"].dropna() >= 0).all()
        assert frame["dso"].isna().tolist() == (frame["credit_sales_period"] == 0).tolist()
        countback = frame["dso_countback"]
        cap = (pd.Timestamp(as_of) - (pd.Timestamp(as_of) - pd.DateOffset(months=months))).days
        assert ((countback >= 0) & (countback <= cap)).all()
