"""Flags of hand-built ledgers and hand-made feature frames, against figures worked out by hand."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from factories import build, customer, day, invoice, payment
from ledger_strategies import shuffled

from arsync.ledger import Ledger
from arsync.records import CanonicalRecord, InvoiceStatus
from scoring import CurrencyTable, ScoringSettings, score_accounts
from scoring.flags import FLAGS, customer_flags
from scoring.settings import FlagSettings

USD_EUR = CurrencyTable("USD", {"EUR": Decimal("1.08")})
AS_OF = day("2026-06-30")
# Default windows as of 2026-06-30, by paid date:
#   long (12m)  = (2025-06-30, 2026-06-30]
#   short (90d) = (2026-04-01, 2026-06-30]
#   prior       = (2025-06-30, 2026-04-01]


def ledger_of(*records: CanonicalRecord) -> Ledger:
    ledger, quarantine = build(*records)
    assert list(quarantine) == []
    return ledger


def score(*records: CanonicalRecord, settings: ScoringSettings | None = None) -> pd.DataFrame:
    ledger = ledger_of(*records)
    result = score_accounts(ledger, AS_OF, settings or ScoringSettings(), USD_EUR)
    return result.set_index("customer_id")


def raised(row: pd.Series) -> list[str]:
    return [name for name in FLAGS if row[name]]


# --- hand-made frames for customer_flags ------------------------------------------------------

_QUIET: dict[str, Any] = {
    "paid_invoices_12m": 6,
    "paid_invoices_90d": 3,
    "avg_days_beyond_terms_prior": 0.0,
    "avg_days_beyond_terms_90d": 0.0,
    "open_balance": 0.0,
    "credit_limit": math.nan,
    "credit_utilisation": math.nan,
    "disputed_invoice_count": 0,
    "disputed_balance": 0.0,
    "is_check_payer": False,
    "invoice_delivery": "email",
}


def features(*rows: dict[str, Any]) -> pd.DataFrame:
    """One row per customer C1, C2, ...: a quiet, punctual customer unless told otherwise."""
    index = pd.Index([f"C{n}" for n in range(1, len(rows) + 1)], name="customer_id")
    return pd.DataFrame([{**_QUIET, **row} for row in rows], index=index)


def open_items(*items: tuple[str, str | None, str, float, int]) -> pd.DataFrame:
    """(customer_id, number, invoice_id, total_reporting, days_overdue) per open invoice."""
    columns = ["customer_id", "number", "invoice_id", "total_reporting", "days_overdue"]
    frame = pd.DataFrame(list(items), columns=columns)
    return frame.astype({"total_reporting": "float64", "days_overdue": "int64"})


def history(*totals: tuple[str, float]) -> pd.DataFrame:
    return pd.DataFrame(list(totals), columns=["customer_id", "total_reporting"]).astype(
        {"total_reporting": "float64"}
    )


def flags_of(
    frame: pd.DataFrame,
    items: pd.DataFrame | None = None,
    past: pd.DataFrame | None = None,
    settings: FlagSettings | None = None,
) -> pd.DataFrame:
    return customer_flags(
        frame,
        items if items is not None else open_items(),
        past if past is not None else history(),
        settings or FlagSettings(),
    )


# --- deterioration ----------------------------------------------------------------------------


def deteriorating_ledger() -> list[CanonicalRecord]:
    return [
        customer("C1"),
        # Prior window: paid 2 and 4 days beyond terms -> average 3 (punctual: <= 5).
        invoice("P1", "1000", "0", issued="2025-10-01", due="2025-10-31"),
        payment("PP1", "1000", received="2025-11-02", applied={"P1": "1000"}),
        invoice("P2", "1000", "0", issued="2025-12-01", due="2025-12-31"),
        payment("PP2", "1000", received="2026-01-04", applied={"P2": "1000"}),
        # Last 90 days: paid 20 and 26 days beyond terms -> average 23 (late: >= 15).
        invoice("R1", "1000", "0", issued="2026-04-10", due="2026-05-10"),
        payment("PR1", "1000", received="2026-05-30", applied={"R1": "1000"}),
        invoice("R2", "1000", "0", issued="2026-05-01", due="2026-05-31"),
        payment("PR2", "1000", received="2026-06-26", applied={"R2": "1000"}),
    ]


def test_punctual_payer_turning_late_is_flagged_with_both_averages() -> None:
    c1 = score(*deteriorating_ledger()).loc["C1"]

    assert c1["paid_invoices_12m"] == 4
    assert c1["paid_invoices_90d"] == 2
    assert raised(c1) == ["flag_deteriorating"]
    assert c1["flags"] == "was paying 3 days beyond terms, now 23 days beyond terms (last 90 days)"


def test_deterioration_needs_enough_paid_invoices_in_the_prior_window() -> None:
    # Without P2 the prior window holds one paid invoice (P1): too little to judge.
    records = [r for r in deteriorating_ledger() if r.id not in {"P2", "PP2"}]

    c1 = score(*records).loc["C1"]

    assert c1["paid_invoices_12m"] - c1["paid_invoices_90d"] == 1
    assert c1["avg_days_beyond_terms_90d"] == pytest.approx(23)
    assert not c1["flag_deteriorating"]
    assert c1["flags"] == ""


def test_deterioration_needs_enough_paid_invoices_in_the_last_90_days() -> None:
    # Without R2 the last 90 days hold one paid invoice (R1, 20 days late).
    records = [r for r in deteriorating_ledger() if r.id not in {"R2", "PR2"}]

    c1 = score(*records).loc["C1"]

    assert c1["paid_invoices_90d"] == 1
    assert not c1["flag_deteriorating"]


@pytest.mark.parametrize(
    ("prior", "recent", "prior_count", "recent_count", "expected"),
    [
        (5.0, 15.0, 2, 2, True),  # both bounds are inclusive
        (5.01, 15.0, 2, 2, False),  # not punctual before
        (5.0, 14.99, 2, 2, False),  # not late enough now
        (-10.0, 40.0, 2, 2, True),  # paying early before counts as punctual
        (0.0, 30.0, 1, 5, False),  # prior window too thin
        (0.0, 30.0, 5, 1, False),  # recent window too thin
        (math.nan, 30.0, 0, 3, False),  # nothing paid before
    ],
)
def test_deterioration_thresholds(
    prior: float, recent: float, prior_count: int, recent_count: int, expected: bool
) -> None:
    frame = features(
        {
            "paid_invoices_12m": prior_count + recent_count,
            "paid_invoices_90d": recent_count,
            "avg_days_beyond_terms_prior": prior,
            "avg_days_beyond_terms_90d": recent,
        }
    )

    assert bool(flags_of(frame).loc["C1", "flag_deteriorating"]) is expected


def test_deterioration_minimum_is_a_setting() -> None:
    frame = features(
        {
            "paid_invoices_12m": 6,
            "paid_invoices_90d": 3,
            "avg_days_beyond_terms_prior": 1.0,
            "avg_days_beyond_terms_90d": 20.0,
        }
    )

    assert flags_of(frame).loc["C1", "flag_deteriorating"]
    stricter = FlagSettings(deterioration_min_paid_invoices=4)
    assert not flags_of(frame, settings=stricter).loc["C1", "flag_deteriorating"]


# --- unusual invoice --------------------------------------------------------------------------


def usual_invoices(*totals: str) -> list[CanonicalRecord]:
    """Invoices paid and done with, issued within the 12 months: the customer's usual amounts."""
    return [
        invoice(f"U{n}", total, "0", issued=f"2026-0{n}-01", due=f"2026-0{n}-20")
        for n, total in enumerate(totals, start=1)
    ]


def test_unusual_open_invoice_is_named_with_its_amount_and_ratio() -> None:
    records = [
        customer("C1"),
        *usual_invoices("90", "95", "100", "105", "110"),
        invoice("X", "1000", issued="2026-06-10", due="2026-07-10", number="2026-000412"),
    ]
    # The 12 months hold 6 invoices: 90, 95, 100, 105, 110, 1000.
    # median = (100 + 105) / 2 = 102.5; |x - median| = 12.5, 7.5, 2.5, 2.5, 7.5, 897.5
    # MAD = median(2.5, 2.5, 7.5, 7.5, 12.5, 897.5) = 7.5; scale = 1.4826 * 7.5 = 11.1195
    # z(X) = 897.5 / 11.1195 = 80.7 > 5; ratio 1000 / 102.5 = 9.76
    c1 = score(*records).loc["C1"]

    assert raised(c1) == ["flag_unusual_invoice"]
    assert c1["flags"] == "invoice 2026-000412 for 1,000.00 is 9.8x the usual 102.50"


def test_unusual_invoice_without_a_number_is_named_by_its_id() -> None:
    records = [
        customer("C1"),
        *usual_invoices("90", "95", "100", "105", "110"),
        invoice("X", "1000", issued="2026-06-10", due="2026-07-10"),
    ]

    assert score(*records).loc["C1", "flags"].startswith("invoice X for 1,000.00")


def test_unusual_invoice_needs_enough_history() -> None:
    # 5 invoices in 12 months (90, 95, 100, 105 and X) < anomaly_min_invoices (6).
    records = [
        customer("C1"),
        *usual_invoices("90", "95", "100", "105"),
        invoice("X", "1000", issued="2026-06-10", due="2026-07-10"),
        # Issued before the 12 months: not history.
        invoice("OLD", "100", "0", issued="2025-06-30", due="2025-07-30"),
        # Void: not history.
        invoice("V", "100", "0", issued="2026-06-01", due="2026-07-01", status=InvoiceStatus.VOID),
    ]

    assert not score(*records).loc["C1", "flag_unusual_invoice"]
    looser = ScoringSettings(flags=FlagSettings(anomaly_min_invoices=5))
    assert score(*records, settings=looser).loc["C1", "flag_unusual_invoice"]


def test_unusual_invoice_is_never_raised_when_the_amounts_do_not_vary() -> None:
    # 100 x 5 and 1000: median 100, deviations 0 x 5 and 900: MAD 0, no scale to judge by.
    records = [
        customer("C1"),
        *usual_invoices("100", "100", "100", "100", "100"),
        invoice("X", "1000", issued="2026-06-10", due="2026-07-10"),
    ]

    assert not score(*records).loc["C1", "flag_unusual_invoice"]


@pytest.mark.parametrize(("robust_z", "expected"), [(2.4, True), (2.5, False), (3.0, False)])
def test_unusual_invoice_uses_the_mad_scaled_by_1_4826(robust_z: float, expected: bool) -> None:
    # History 90, 95, 100, 105, 110, 130: median 102.5, deviations 12.5, 7.5, 2.5, 2.5, 7.5,
    # 27.5 -> MAD 7.5. z(130) = 27.5 / (1.4826 * 7.5) = 2.473 (27.5 / 7.5 = 3.67 unscaled,
    # which a threshold of 3 would flag).
    past = history(*[("C1", t) for t in (90, 95, 100, 105, 110, 130)])
    items = open_items(("C1", "N-130", "I130", 130.0, 0))
    settings = FlagSettings(anomaly_robust_z=robust_z)

    result = flags_of(features({}), items, past, settings)

    assert bool(result.loc["C1", "flag_unusual_invoice"]) is expected


def test_unusual_invoice_names_the_furthest_of_several() -> None:
    past = history(*[("C1", t) for t in (90, 95, 100, 105, 110, 500, 2000)])
    # median 105; deviations 15, 10, 5, 0, 5, 395, 1895 -> MAD 10; z(500) = 26.6,
    # z(2000) = 127.8: the 2000 one is named. A small invoice far below is unusual too.
    items = open_items(
        ("C1", "N-500", "I500", 500.0, 0),
        ("C1", "N-2000", "I2000", 2000.0, 0),
        ("C1", "N-100", "I100", 100.0, 0),
    )

    text = flags_of(features({}), items, past).loc["C1", "flags"]

    assert text == "invoice N-2000 for 2,000.00 is 19.0x the usual 105.00"


def test_unusual_invoice_named_does_not_depend_on_row_order() -> None:
    """Two open invoices of the same unusual amount: one is named, the same one every time."""
    records = [
        customer("C1"),
        *usual_invoices("90", "95", "100", "105", "110"),
        invoice("X", "1000", issued="2026-06-01", due="2026-07-01", number="N-X"),
        invoice("Y", "1000", issued="2026-06-02", due="2026-07-02", number="N-Y"),
    ]
    ledger = ledger_of(*records)
    settings = ScoringSettings()
    texts = {
        score_accounts(shuffled(ledger, seed), AS_OF, settings, USD_EUR)["flags"].iloc[0]
        for seed in range(8)
    }
    texts.add(score(*reversed(records)).loc["C1", "flags"])

    assert len(texts) == 1, texts


# --- lingering invoice ------------------------------------------------------------------------


def test_lingering_invoice_names_the_oldest_and_counts_the_others() -> None:
    records = [
        customer("C1"),
        invoice("A", "100", issued="2026-01-16", due="2026-02-15", number="INV-A"),  # 135 days
        invoice("B", "100", issued="2026-03-01", due="2026-03-31"),  # 91 days
        invoice("C", "100", issued="2026-03-02", due="2026-04-01"),  # 90 days: lingers
        invoice("D", "100", issued="2026-03-03", due="2026-04-02"),  # 89 days: not yet
    ]

    c1 = score(*records).loc["C1"]

    assert raised(c1) == ["flag_lingering_invoice"]
    assert c1["flags"] == "invoice INV-A is 135 days past due (and 2 more over 90)"


def test_a_single_lingering_invoice_has_no_more() -> None:
    records = [
        customer("C1"),
        invoice("C", "100", issued="2026-03-02", due="2026-04-01"),  # 90 days, no number
        invoice("D", "100", issued="2026-03-03", due="2026-04-02"),  # 89 days
    ]

    assert score(*records).loc["C1", "flags"] == "invoice C is 90 days past due"


def test_lingering_threshold_is_a_setting() -> None:
    records = [customer("C1"), invoice("D", "100", issued="2026-03-03", due="2026-04-02")]
    settings = ScoringSettings(flags=FlagSettings(lingering_days_overdue=89))

    assert not score(*records).loc["C1", "flag_lingering_invoice"]
    c1 = score(*records, settings=settings).loc["C1"]
    assert c1["flags"] == "invoice D is 89 days past due"


def test_lingering_invoice_named_does_not_depend_on_row_order() -> None:
    """Two invoices equally far past due: one is named, the same one whatever the row order."""
    records = [
        customer("C1"),
        invoice("X", "100", issued="2026-01-01", due="2026-01-31", number="INV-X"),  # 150 days
        invoice("Y", "200", issued="2026-01-01", due="2026-01-31", number="INV-Y"),  # 150 days
    ]
    ledger = ledger_of(*records)
    settings = ScoringSettings()
    texts = {
        score_accounts(shuffled(ledger, seed), AS_OF, settings, USD_EUR)["flags"].iloc[0]
        for seed in range(8)
    }
    texts.add(score(*reversed(records)).loc["C1", "flags"])

    assert len(texts) == 1, texts


# --- credit limit, disputes, check payers, paper ----------------------------------------------


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("4000", "open balance 5,000.00 is 125% of the 4,000.00 credit limit"),
        ("5000", ""),  # at the limit: not over it
        (None, ""),  # no limit
    ],
)
def test_over_credit_limit(limit: str | None, expected: str) -> None:
    records = [
        customer("C1", credit_limit=None if limit is None else Decimal(limit)),
        invoice("A", "3000", issued="2026-06-01", due="2026-07-01"),
        invoice("B", "2000", issued="2026-06-10", due="2026-07-10"),
    ]

    c1 = score(*records).loc["C1"]

    assert c1["flags"] == expected
    assert bool(c1["flag_over_credit_limit"]) is bool(expected)


def test_open_disputes_are_counted_with_their_open_amount() -> None:
    records = [
        customer("C1"),
        customer("C2"),
        invoice("A", "1200", issued="2026-06-01", due="2026-07-01", disputed=True),
        # 2500 billed, 299.50 paid: 2200.50 open and disputed.
        invoice("B", "2500", "2200.50", issued="2026-06-02", due="2026-07-02", disputed=True),
        payment("PB", "299.50", received="2026-06-20", applied={"B": "299.50"}),
        # Disputed once but paid: nothing open to dispute.
        invoice("C", "700", "0", issued="2026-05-01", due="2026-05-31", disputed=True),
        payment("PC", "700", received="2026-06-01", applied={"C": "700"}),
        invoice("D", "500", issued="2026-06-01", due="2026-07-01", disputed=True, customer_id="C2"),
    ]

    result = score(*records)

    assert result.loc["C1", "flags"] == "2 disputed invoices, 3,400.50 open"
    assert result.loc["C2", "flags"] == "1 disputed invoice, 500.00 open"
    assert result["flag_open_dispute"].tolist() == [True, True]


def test_declared_check_payer_is_flagged_without_any_payment() -> None:
    c1 = score(customer("C1", payment_method="check")).loc["C1"]

    assert raised(c1) == ["flag_check_payer"]
    assert c1["flags"] == "pays by check, which is slow to post"


@pytest.mark.parametrize(
    ("methods", "expected"),
    [
        (["check", "check", "ach"], True),  # 2 of 3 > 50%
        (["check", "ach"], False),  # 1 of 2 = 50%: not more than half
        (["wire", "card", "ach"], False),
    ],
)
def test_customer_paying_mostly_by_check_is_a_check_payer(
    methods: list[str], expected: bool
) -> None:
    records: list[CanonicalRecord] = [customer("C1", payment_method="ach")]
    records += [
        payment(f"P{n}", "100", received=f"2026-0{n}-15", method=method)
        for n, method in enumerate(methods, start=1)
    ]

    c1 = score(*records).loc["C1"]

    assert bool(c1["is_check_payer"]) is expected
    assert bool(c1["flag_check_payer"]) is expected


def test_only_payments_of_the_long_window_show_the_habit() -> None:
    records = [
        customer("C1"),
        # The window is (2025-06-30, 2026-06-30]: checks on its first day and earlier are out,
        # a check received after the as-of date is not received yet.
        payment("P1", "100", received="2025-03-01", method="check"),
        payment("P2", "100", received="2025-06-30", method="check"),
        payment("P3", "100", received="2026-07-01", method="check"),
        # In the window: one check, one wire -> 50%, not more than half. Counting P2 or P3
        # would make it 2 of 3.
        payment("P4", "100", received="2025-07-01", method="check"),
        payment("P5", "100", received="2026-06-01", method="wire"),
    ]

    assert not score(*records).loc["C1", "flag_check_payer"]


def test_payments_of_unknown_method_still_count_in_the_check_share() -> None:
    """1 check out of 3 payments is not "more than half of the payments by check".

    The share is taken over payments whose method is known only, so one check among payments
    whose method the ERP left empty makes a check payer.
    """
    records = [
        customer("C1"),
        payment("P1", "100", received="2026-01-15", method="check"),
        payment("P2", "100", received="2026-02-15"),
        payment("P3", "100", received="2026-03-15"),
    ]

    c1 = score(*records).loc["C1"]

    assert not c1["is_check_payer"]
    assert not c1["flag_check_payer"]


def test_paper_invoicing_is_flagged() -> None:
    result = score(
        customer("C1", invoice_delivery="paper"),
        customer("C2", invoice_delivery="edi"),
        customer("C3"),
    )

    assert result.loc["C1", "flags"] == "invoices go out on paper"
    assert result["flag_paper_invoicing"].tolist() == [True, False, False]


# --- the joined text --------------------------------------------------------------------------


def test_reasons_are_joined_in_the_order_of_the_flags() -> None:
    frame = features(
        {
            "paid_invoices_12m": 5,
            "paid_invoices_90d": 2,
            "avg_days_beyond_terms_prior": 1.0,
            "avg_days_beyond_terms_90d": 24.0,
            "open_balance": 61500.0,
            "credit_limit": 50000.0,
            "credit_utilisation": 1.23,
            "disputed_invoice_count": 2,
            "disputed_balance": 3400.0,
            "is_check_payer": True,
            "invoice_delivery": "paper",
        },
        {},
        {"is_check_payer": True},
    )
    # C1's history: 4800, 4850, 4880, 4910, 4960, 5020, 48200: median 4910, deviations
    # 110, 60, 30, 0, 50, 110, 43290 -> MAD 60; z(48200) = 43290 / 88.96 = 487;
    # 48200 / 4910 = 9.82.
    past = history(*[("C1", t) for t in (4800, 4850, 4880, 4910, 4960, 5020, 48200)])
    items = open_items(
        ("C1", "2026-000412", "I412", 48200.0, 0),
        ("C1", "2026-000088", "I88", 1000.0, 131),
        ("C1", "2026-000090", "I90", 1000.0, 95),
        ("C1", "2026-000091", "I91", 1000.0, 90),
    )

    result = flags_of(frame, items, past)

    assert result.loc["C1", "flags"] == "; ".join(
        [
            "was paying 1 day beyond terms, now 24 days beyond terms (last 90 days)",
            "invoice 2026-000412 for 48,200.00 is 9.8x the usual 4,910.00",
            "invoice 2026-000088 is 131 days past due (and 2 more over 90)",
            "open balance 61,500.00 is 123% of the 50,000.00 credit limit",
            "2 disputed invoices, 3,400.00 open",
            "pays by check, which is slow to post",
            "invoices go out on paper",
        ]
    )
    assert result.loc["C1", list(FLAGS)].tolist() == [True] * len(FLAGS)
    assert result.loc["C2", "flags"] == ""
    assert result.loc["C2", list(FLAGS)].tolist() == [False] * len(FLAGS)
    assert result.loc["C3", "flags"] == "pays by check, which is slow to post"
    assert list(result.columns) == [*FLAGS, "flags"]
