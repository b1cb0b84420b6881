"""Promises to pay and disputes from the CRM, through scoring, against the shipped settings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
from factories import build, customer, day, invoice, payment
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples

from arsync.records import CanonicalRecord
from scoring import CurrencyTable, ScoringSettings, score_accounts
from scoring.health import TIERS

USD = CurrencyTable("USD", {"EUR": Decimal("1.08")})
AS_OF = day("2026-06-30")
SHIPPED = ScoringSettings()


def overdue(id: str, total: str, days: int) -> CanonicalRecord:
    due = AS_OF - dt.timedelta(days=days)
    return invoice(id, total, issued=(due - dt.timedelta(days=30)).isoformat(), due=due.isoformat())


def score(*records: CanonicalRecord, crm: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    ledger, quarantine = build(*records)
    assert list(quarantine) == []
    frame = (
        pd.DataFrame([{"customer_id": key, **values} for key, values in crm.items()])
        if crm
        else None
    )
    return score_accounts(ledger, AS_OF, SHIPPED, USD, crm=frame).set_index("customer_id")


LATE = (customer("C1"), overdue("I1", "1000", 20))


def test_without_crm_input_there_is_no_promise_and_nothing_changes() -> None:
    plain = score(*LATE).loc["C1"]
    empty = score(*LATE, crm={"C1": {}}).loc["C1"]

    assert plain["promise_status"] == "none"
    assert not plain["crm_dispute_open"]
    assert (plain["health_score"], plain["next_action"]) == (
        empty["health_score"],
        empty["next_action"],
    )


def test_a_pending_promise_holds_the_action_until_its_date_and_takes_the_money_off_risk() -> None:
    plain = score(*LATE).loc["C1"]
    row = score(
        *LATE, crm={"C1": {"promise_amount": 1000.0, "promise_date": dt.date(2026, 7, 3)}}
    ).loc["C1"]

    assert plain["next_action"] == "dunning_2"
    assert plain["priority_weight"] > 0
    assert row["promise_status"] == "pending"
    assert row["next_action"] == "await_promise"
    assert row["next_action_label"] == "Payment promised by 2026-07-03: check that it arrived"
    assert row["next_action_date"] == dt.date(2026, 7, 7)  # the date, 3 days' grace, then a day
    assert row["priority_weight"] == 0.0
    assert pd.isna(row["priority_rank"])
    assert row["health_score"] == plain["health_score"]  # a promise is not yet a payment


def test_a_partial_promise_takes_only_its_share_off_the_priority_weight() -> None:
    plain = score(*LATE).loc["C1"]
    row = score(
        *LATE, crm={"C1": {"promise_amount": 250.0, "promise_date": dt.date(2026, 7, 3)}}
    ).loc["C1"]

    assert row["priority_weight"] == round(plain["priority_weight"] * 0.75, 2)


def test_a_promise_still_within_its_grace_days_is_pending() -> None:
    row = score(
        *LATE, crm={"C1": {"promise_amount": 1000.0, "promise_date": dt.date(2026, 6, 27)}}
    ).loc["C1"]

    assert row["promise_status"] == "pending"


def test_a_broken_promise_costs_points_and_a_tier_and_is_the_first_reason() -> None:
    plain = score(*LATE).loc["C1"]
    row = score(
        *LATE,
        crm={
            "C1": {
                "promise_amount": 1000.0,
                "promise_date": dt.date(2026, 6, 20),
                "promise_made_on": dt.date(2026, 6, 10),
            }
        },
    ).loc["C1"]

    assert row["promise_status"] == "broken"
    assert row["health_score"] == plain["health_score"] - 15
    assert TIERS.index(row["risk_tier"]) >= TIERS.index(plain["risk_tier"]) + 1
    assert row["reason_1"] == "BROKEN_PROMISE: promised 1,000.00 by 2026-06-20; 0.00 received"
    assert row["reason_2"] == plain["reason_1"]
    assert row["reason_3"] == plain["reason_2"]
    assert row["reason_codes"].split(",")[0] == "BROKEN_PROMISE"
    assert row["next_action"] == plain["next_action"]  # chase again, now


def test_a_payment_since_the_promise_keeps_it() -> None:
    records = (
        customer("C1"),
        overdue("I1", "1000", 20),
        overdue("I2", "500", 20),
        payment("P1", "960", received="2026-06-18", applied={"I1": "960"}),
    )
    row = score(
        *records,
        crm={
            "C1": {
                "promise_amount": 1000.0,
                "promise_date": dt.date(2026, 6, 20),
                "promise_made_on": dt.date(2026, 6, 15),
            }
        },
    ).loc["C1"]

    assert row["promise_status"] == "kept"  # 960 is 96% of 1,000: kept_share is 95%
    assert row["promise_paid"] == 960.0
    assert not str(row["reason_1"]).startswith("BROKEN_PROMISE")


def test_a_payment_before_the_promise_was_given_does_not_count() -> None:
    records = (
        customer("C1"),
        overdue("I1", "1000", 20),
        overdue("I2", "500", 20),
        payment("P1", "1000", received="2026-06-01", applied={"I1": "1000"}),
    )
    row = score(
        *records,
        crm={
            "C1": {
                "promise_amount": 500.0,
                "promise_date": dt.date(2026, 6, 20),
                "promise_made_on": dt.date(2026, 6, 10),
            }
        },
    ).loc["C1"]

    assert (row["promise_status"], row["promise_paid"]) == ("broken", 0.0)


def test_nothing_overdue_any_more_keeps_a_promise_whatever_was_paid() -> None:
    records = (customer("C1"), invoice("I1", "1000", "0", issued="2026-05-01", due="2026-05-31"))
    row = score(
        *records, crm={"C1": {"promise_amount": 5000.0, "promise_date": dt.date(2026, 6, 1)}}
    ).loc["C1"]

    assert row["promise_status"] == "kept"


def test_a_dispute_opened_in_the_crm_comes_before_dunning() -> None:
    row = score(*LATE, crm={"C1": {"crm_dispute_open": True}}).loc["C1"]

    assert row["crm_dispute_open"]
    assert row["segment"] == "new"  # the segment rules put `new` first; the action does not wait
    assert row["next_action"] == "resolve_dispute"


@settings(max_examples=examples(60), deadline=None)
@given(
    days_late=st.integers(1, 200),
    amount=st.integers(1, 5000),
    promised_days_ago=st.integers(4, 120),
)
def test_a_broken_promise_never_improves_the_score_or_the_tier(
    days_late: int, amount: int, promised_days_ago: int
) -> None:
    records = (customer("C1"), overdue("I1", "1000", days_late))
    plain = score(*records).loc["C1"]
    promised = AS_OF - dt.timedelta(days=promised_days_ago)
    row = score(
        *records, crm={"C1": {"promise_amount": float(amount), "promise_date": promised}}
    ).loc["C1"]

    assert row["promise_status"] == "broken"
    assert row["health_score"] == max(plain["health_score"] - 15, 0)
    assert TIERS.index(row["risk_tier"]) >= min(TIERS.index(plain["risk_tier"]) + 1, 3)


def test_promises_of_several_customers_are_judged_each_on_its_own() -> None:
    """One broken promise among customers without any must not trip over their empty dates."""
    records = (*LATE, customer("C2"), overdue("I2", "300", 40), customer("C3"))
    rows = score(
        *records,
        crm={
            "C1": {"promise_amount": 100.0, "promise_date": dt.date(2026, 6, 1)},
            "C3": {"crm_dispute_open": True},
        },
    )

    assert rows["promise_status"].to_dict() == {"C1": "broken", "C2": "none", "C3": "none"}
    assert rows.loc["C1", "reason_1"].startswith("BROKEN_PROMISE")
    assert not str(rows.loc["C2", "reason_1"]).startswith("BROKEN_PROMISE")
