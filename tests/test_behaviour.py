"""Payment behaviour of hand-built ledgers, against figures worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from factories import build, credit_memo, customer, day, invoice, payment
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from ledger_strategies import consistent_ledgers, shuffled

from arsync.ledger import Ledger
from arsync.records import CanonicalRecord, InvoiceStatus
from scoring import CurrencyTable, ScoringSettings
from scoring.behaviour import BEHAVIOUR_COLUMNS, paid_invoices, payment_behaviour
from scoring.settings import BehaviourSettings

USD_EUR = CurrencyTable("USD", {"EUR": Decimal("1.08")})
AS_OF = day("2026-06-30")
# Default windows as of 2026-06-30, by paid date:
#   long (12m)  = (2025-06-30, 2026-06-30]   (365 days back)
#   short (90d) = (2026-04-01, 2026-06-30]   (90 days back: 30 in June, 31 in May, 29 in April)
#   prior       = (2025-06-30, 2026-04-01]


def ledger_of(*records: CanonicalRecord) -> Ledger:
    ledger, quarantine = build(*records)
    assert list(quarantine) == []
    return ledger


def behaviour(
    *records: CanonicalRecord,
    as_of: dt.date = AS_OF,
    windows: BehaviourSettings | None = None,
) -> pd.DataFrame:
    scoring = ScoringSettings(behaviour=windows or BehaviourSettings())
    return payment_behaviour(ledger_of(*records), as_of, scoring, USD_EUR)


def hand_ledger() -> list[CanonicalRecord]:
    return [
        customer("C1"),
        customer("C2", currency="EUR"),
        customer("C3"),
        # A: issued 05-01, due 05-31, paid 06-10 -> 40 days to pay, 10 beyond terms. Short.
        invoice("A", "1000", "0", issued="2026-05-01", due="2026-05-31"),
        payment("PA", "1000", received="2026-06-10", applied={"A": "1000"}),
        # B: issued 04-10, due 05-10, paid 05-05 -> 25 days, 5 early (-5). Short.
        invoice("B", "3000", "0", issued="2026-04-10", due="2026-05-10"),
        payment("PB", "3000", received="2026-05-05", applied={"B": "3000"}),
        # G: paid in two parts; the last, on 06-25, pays it: 36 days, 6 beyond terms. Short.
        invoice("G", "600", "0", issued="2026-05-20", due="2026-06-19"),
        payment("PG1", "200", received="2026-06-05", applied={"G": "200"}),
        payment("PG2", "400", received="2026-06-25", applied={"G": "400"}),
        # C: issued 02-01, due 03-03, paid 03-22, 100 days before the as-of date: in the 12
        # months and the prior window, not in the 90 days. 49 days to pay, 19 beyond terms.
        invoice("C", "500", "0", issued="2026-02-01", due="2026-03-03"),
        payment("PC", "500", received="2026-03-22", applied={"C": "500"}),
        # D: settled by a credit memo dated 2025-10-03: 32 days, 2 beyond terms. Prior.
        invoice("D", "2000", "0", issued="2025-09-01", due="2025-10-01"),
        credit_memo("CMD", "2000", dated="2025-10-03", applied={"D": "2000"}),
        # E: paid 2025-05-01, before the 12 months: not counted.
        invoice("E", "100", "0", issued="2025-03-01", due="2025-03-31"),
        payment("PE", "100", received="2025-05-01", applied={"E": "100"}),
        # F: half paid on 06-01: not paid.
        invoice("F", "800", "400", issued="2026-05-15", due="2026-06-14"),
        payment("PF", "400", received="2026-06-01", applied={"F": "400"}),
        # H: paid on 2026-07-05, after the as-of date: open on 06-30, not paid.
        invoice("H", "700", "0", issued="2026-05-01", due="2026-05-31"),
        payment("PH", "700", received="2026-07-05", applied={"H": "700"}),
        # V: void, even though a credit memo was applied to it: never paid.
        invoice("V", "300", "0", issued="2026-05-01", due="2026-05-31", status=InvoiceStatus.VOID),
        credit_memo("CMV", "300", dated="2026-06-01", applied={"V": "300"}),
        # C2 pays an EUR and a USD invoice; EUR 1000.00 at 1.08 weighs USD 1080.00.
        # X: issued 06-01, due 06-11, paid 06-21 -> 20 days, 10 beyond terms.
        invoice("X", "1000", "0", issued="2026-06-01", due="2026-06-11", customer_id="C2",
                currency="EUR"),
        payment("PX", "1000", received="2026-06-21", applied={"X": "1000"}, customer_id="C2",
                currency="EUR"),
        # Y: issued 05-01, due 05-31, paid 06-20 -> 50 days, 20 beyond terms.
        invoice("Y", "1000", "0", issued="2026-05-01", due="2026-05-31", customer_id="C2"),
        payment("PY", "1000", received="2026-06-20", applied={"Y": "1000"}, customer_id="C2"),
    ]  # fmt: skip


def test_hand_built_ledger_pays_as_computed_by_hand() -> None:
    c1 = behaviour(*hand_ledger()).loc["C1"]

    # Paid in the 12 months: A, B, G (90 days) and C, D (prior).
    assert c1["paid_invoices_12m"] == 5
    assert c1["paid_invoices_90d"] == 3
    assert c1["avg_days_to_pay_12m"] == pytest.approx((40 + 25 + 36 + 49 + 32) / 5)  # 36.4
    # Weights 1000, 3000, 600, 500, 2000 (7100 in all):
    # (40000 + 75000 + 21600 + 24500 + 64000) / 7100 = 225100 / 7100 = 31.7042...
    assert c1["weighted_days_to_pay_12m"] == pytest.approx(225100 / 7100)
    assert c1["avg_days_beyond_terms_12m"] == pytest.approx((10 - 5 + 6 + 19 + 2) / 5)  # 6.4
    # (10000 - 15000 + 3600 + 9500 + 4000) / 7100 = 12100 / 7100 = 1.7042...
    assert c1["weighted_days_beyond_terms_12m"] == pytest.approx(12100 / 7100)
    assert c1["on_time_share_12m"] == pytest.approx(1 / 5)  # only B (-5)
    assert c1["avg_days_beyond_terms_90d"] == pytest.approx((10 - 5 + 6) / 3)  # 3.667
    assert c1["on_time_share_90d"] == pytest.approx(1 / 3)
    assert c1["avg_days_beyond_terms_prior"] == pytest.approx((19 + 2) / 2)  # 10.5
    assert c1["on_time_share_prior"] == 0
    # 3.667 - 10.5 = -6.833: C1 pays earlier lately.
    assert c1["days_beyond_terms_trend"] == pytest.approx(11 / 3 - 10.5)
    # PG2 on 06-25 is the last payment received by 06-30; PH (07-05) is later.
    assert c1["last_payment_date"] == pd.Timestamp("2026-06-25")


def test_grace_days_move_late_payers_on_time() -> None:
    def shares(grace: int) -> tuple[float, float, float]:
        windows = BehaviourSettings(on_time_grace_days=grace)
        row = behaviour(*hand_ledger(), windows=windows).loc["C1"]
        return row["on_time_share_12m"], row["on_time_share_90d"], row["on_time_share_prior"]

    # Days beyond terms: short A 10, B -5, G 6; prior C 19, D 2.
    assert shares(0) == pytest.approx((1 / 5, 1 / 3, 0))  # B
    assert shares(2) == pytest.approx((2 / 5, 1 / 3, 1 / 2))  # B, D
    assert shares(6) == pytest.approx((3 / 5, 2 / 3, 1 / 2))  # B, D, G
    assert shares(10) == pytest.approx((4 / 5, 1, 1 / 2))  # all but C
    assert shares(19) == pytest.approx((1, 1, 1))


def test_foreign_currency_invoices_weigh_in_the_reporting_currency() -> None:
    c2 = behaviour(*hand_ledger()).loc["C2"]

    # X: 20 days at USD 1080; Y: 50 days at USD 1000.
    assert c2["avg_days_to_pay_12m"] == pytest.approx(35)
    assert c2["weighted_days_to_pay_12m"] == pytest.approx((1080 * 20 + 1000 * 50) / 2080)  # 34.42
    assert c2["weighted_days_beyond_terms_12m"] == pytest.approx(
        (1080 * 10 + 1000 * 20) / 2080  # 14.81; unconverted weights would give 15
    )
    assert c2["on_time_share_12m"] == 0
    assert np.isnan(c2["avg_days_beyond_terms_prior"])  # nothing paid in the prior window
    assert np.isnan(c2["days_beyond_terms_trend"])


def test_customer_without_payments_has_a_row_of_zeros_and_nan() -> None:
    result = behaviour(*hand_ledger())
    c3 = result.loc["C3"]

    assert list(result.columns) == list(BEHAVIOUR_COLUMNS)
    assert list(result.index) == ["C1", "C2", "C3"]
    assert c3["paid_invoices_12m"] == 0
    assert c3["paid_invoices_90d"] == 0
    other = [c for c in BEHAVIOUR_COLUMNS if not c.startswith("paid_invoices")]
    assert c3[other].isna().all()
    assert result["paid_invoices_12m"].dtype == "int64"
    assert result["avg_days_to_pay_12m"].dtype == "float64"
    assert result["last_payment_date"].dtype == "datetime64[ns]"


def test_paid_invoices_lists_what_is_paid_and_when() -> None:
    paid = paid_invoices(ledger_of(*hand_ledger()), AS_OF).set_index("invoice_id")

    # E is paid too (any time); F is half paid, H paid too late, V void.
    assert sorted(paid.index) == ["A", "B", "C", "D", "E", "G", "X", "Y"]
    assert paid.loc["G", "paid_date"] == pd.Timestamp("2026-06-25")  # the last of two parts
    assert paid.loc["D", "paid_date"] == pd.Timestamp("2025-10-03")  # the credit memo
    assert paid.loc["C", "days_to_pay"] == 49
    assert paid.loc["B", "days_beyond_terms"] == -5

    recent = paid_invoices(ledger_of(*hand_ledger()), AS_OF, paid_after=day("2026-04-01"))
    assert sorted(recent["invoice_id"]) == ["A", "B", "G", "X", "Y"]


def test_a_later_as_of_date_sees_the_later_payment() -> None:
    c1 = behaviour(*hand_ledger(), as_of=day("2026-07-05")).loc["C1"]

    # H is paid on 07-05: 65 days to pay, 35 beyond terms. The 90 days are now
    # (2026-04-06, 2026-07-05]: A, B (05-05), G, H.
    assert c1["paid_invoices_12m"] == 6
    assert c1["paid_invoices_90d"] == 4
    assert c1["avg_days_beyond_terms_90d"] == pytest.approx((10 - 5 + 6 + 35) / 4)
    assert c1["last_payment_date"] == pd.Timestamp("2026-07-05")


def test_an_earlier_as_of_date_reopens_what_was_paid_later() -> None:
    c1 = behaviour(*hand_ledger(), as_of=day("2026-06-20")).loc["C1"]

    # On 06-20 G had 400 open (PG2 came on 06-25) and A was paid (06-10): short holds A, B.
    assert c1["paid_invoices_90d"] == 2
    assert c1["avg_days_beyond_terms_90d"] == pytest.approx((10 - 5) / 2)
    assert c1["last_payment_date"] == pd.Timestamp("2026-06-10")


@pytest.mark.parametrize(
    ("paid", "in_12m", "in_90d"),
    [
        ("2026-06-30", 1, 1),  # the as-of date itself
        ("2026-04-02", 1, 1),  # 89 days back
        ("2026-04-01", 1, 0),  # 90 days back: prior, not short
        ("2025-07-01", 1, 0),  # 364 days back
        ("2025-06-30", 0, 0),  # 365 days back: out
    ],
)
def test_window_bounds_are_open_at_the_start(paid: str, in_12m: int, in_90d: int) -> None:
    row = behaviour(
        customer("C1"),
        invoice("I1", "10", "0", issued="2025-01-01", due="2025-01-31"),
        payment("P1", "10", received=paid, applied={"I1": "10"}),
    ).loc["C1"]

    assert row["paid_invoices_12m"] == in_12m
    assert row["paid_invoices_90d"] == in_90d
    assert np.isnan(row["on_time_share_prior"]) == (in_12m == in_90d)


def test_window_lengths_come_from_the_settings() -> None:
    windows = BehaviourSettings(long_window_days=120, short_window_days=30)
    c1 = behaviour(*hand_ledger(), windows=windows).loc["C1"]

    # long (2026-03-02, 06-30]: A, B, G, C; short (05-31, 06-30]: A, G; prior: B, C.
    assert c1["paid_invoices_12m"] == 4
    assert c1["paid_invoices_90d"] == 2
    assert c1["avg_days_beyond_terms_90d"] == pytest.approx((10 + 6) / 2)
    assert c1["avg_days_beyond_terms_prior"] == pytest.approx((-5 + 19) / 2)
    assert c1["days_beyond_terms_trend"] == pytest.approx(8 - 7)


def test_last_payment_date_counts_payments_only() -> None:
    row = behaviour(
        customer("C1"),
        invoice("I1", "10", issued="2026-01-01", due="2026-01-31"),
        # Unapplied cash still counts as a payment received.
        payment("P1", "5", received="2026-03-01"),
        credit_memo("CM1", "5", dated="2026-05-01", applied={"I1": "5"}),
    ).loc["C1"]

    assert row["last_payment_date"] == pd.Timestamp("2026-03-01")
    assert row["paid_invoices_12m"] == 0


def test_empty_ledger_gives_an_empty_frame() -> None:
    result = payment_behaviour(Ledger.empty(), AS_OF, ScoringSettings(), USD_EUR)

    assert result.empty
    assert list(result.columns) == list(BEHAVIOUR_COLUMNS)


as_of_dates = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 3, 31))


@settings(max_examples=examples(60), deadline=None)
@given(records=consistent_ledgers(), as_of=as_of_dates, seed=st.integers(0, 2**32 - 1))
def test_behaviour_does_not_depend_on_row_order(
    records: list[CanonicalRecord], as_of: dt.date, seed: int
) -> None:
    ledger = ledger_of(*records)

    pd.testing.assert_frame_equal(
        payment_behaviour(ledger, as_of, ScoringSettings(), USD_EUR),
        payment_behaviour(shuffled(ledger, seed), as_of, ScoringSettings(), USD_EUR),
    )


@settings(max_examples=examples(60), deadline=None)
@given(records=consistent_ledgers(), as_of=as_of_dates, grace=st.integers(0, 30))
def test_shares_are_shares_and_counts_nest(
    records: list[CanonicalRecord], as_of: dt.date, grace: int
) -> None:
    windows = BehaviourSettings(on_time_grace_days=grace)
    result = behaviour(*records, as_of=as_of, windows=windows)

    for column in ("on_time_share_12m", "on_time_share_90d", "on_time_share_prior"):
        shares = result[column].dropna()
        assert ((shares >= 0) & (shares <= 1)).all()
    assert (result["paid_invoices_90d"] <= result["paid_invoices_12m"]).all()
    # NaN exactly where the window is empty.
    assert (result["avg_days_to_pay_12m"].isna() == (result["paid_invoices_12m"] == 0)).all()
    assert (result["on_time_share_90d"].isna() == (result["paid_invoices_90d"] == 0)).all()
    # A weighted mean lies between the smallest and the largest value it averages.
    paid = paid_invoices(ledger_of(*records), as_of)
    if not paid.empty:
        assert (
            result["weighted_days_to_pay_12m"]
            .dropna()
            .between(paid["days_to_pay"].min(), paid["days_to_pay"].max())
            .all()
        )


def test_days_late_percentile_is_not_netted_by_an_early_payment() -> None:
    """The issue's customer: 9 of its last 10 invoices paid 2 to 19 days late, one 60 days
    early; its mean days beyond terms is under 3, yet it is late nine times in ten."""
    records: list[CanonicalRecord] = [customer("C1")]
    late_by = [2, 3, 4, 5, 6, 7, 8, 12, 19, -60]
    for number, days in enumerate(late_by, start=1):
        due = dt.date(2026, 1, 1) + dt.timedelta(days=10 * number)
        paid = due + dt.timedelta(days=days)
        issued = due - dt.timedelta(days=30)
        records += [
            invoice(f"I{number}", "100", "0", issued=str(issued), due=str(due)),
            payment(f"P{number}", "100", received=str(paid), applied={f"I{number}": "100"}),
        ]

    row = behaviour(*records).loc["C1"]

    assert row["avg_days_beyond_terms_12m"] == pytest.approx(0.6)  # (66 - 60) / 10
    assert row["on_time_share_12m"] == pytest.approx(0.1)
    # max(days, 0) = 0, 2, 3, 4, 5, 6, 7, 8, 12, 19: the 75th percentile (linear) is 7.75.
    assert row["days_late_p75_12m"] == pytest.approx(7.75)


def test_disputed_share_counts_the_years_invoices_open_or_paid() -> None:
    row = behaviour(
        customer("C1"),
        invoice("D1", "100", "0", issued="2026-03-01", due="2026-03-31", disputed=True),
        payment("PD1", "100", received="2026-04-05", applied={"D1": "100"}),
        invoice("D2", "100", issued="2026-05-01", due="2026-05-31"),
        invoice("D3", "100", issued="2026-05-15", due="2026-06-14"),
        invoice("D4", "100", issued="2026-06-01", due="2026-07-01", disputed=True),
        invoice("OLD", "100", "0", issued="2025-01-01", due="2025-01-31", disputed=True),
    ).loc["C1"]

    assert row["disputed_share_12m"] == pytest.approx(2 / 4)  # OLD is outside the window
