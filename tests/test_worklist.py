"""Collections stage, segment, next action and priority, against the shipped settings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from factories import build, customer, day, invoice, payment
from ledger_strategies import shuffled

from arsync.ledger import Ledger
from arsync.records import CanonicalRecord
from scoring import CurrencyTable, ScoringSettings, score_accounts
from scoring.worklist import ACTION_LABELS, collection_stage, next_action, priority, segment

USD_EUR = CurrencyTable("USD", {"EUR": Decimal("1.08")})
AS_OF = day("2026-06-30")
SHIPPED = ScoringSettings()


def ledger_of(*records: CanonicalRecord) -> Ledger:
    ledger, quarantine = build(*records)
    assert list(quarantine) == []
    return ledger


def score(*records: CanonicalRecord) -> pd.DataFrame:
    return score_accounts(ledger_of(*records), AS_OF, SHIPPED, USD_EUR).set_index("customer_id")


def days_before(days: int) -> str:
    return (AS_OF - dt.timedelta(days=days)).isoformat()


def overdue_invoice(id: str, total: str, days: int, **fields: Any) -> CanonicalRecord:
    """An untouched invoice `days` past due on the as-of date, issued 30 days before its due."""
    due = AS_OF - dt.timedelta(days=days)
    issued = due - dt.timedelta(days=30)
    return invoice(id, total, issued=issued.isoformat(), due=due.isoformat(), **fields)


def frame_of(defaults: dict[str, Any], *rows: dict[str, Any]) -> pd.DataFrame:
    index = pd.Index([f"C{n}" for n in range(1, len(rows) + 1)], name="customer_id")
    return pd.DataFrame([{**defaults, **row} for row in rows], index=index)


# --- collections stage ------------------------------------------------------------------------


def test_collection_stage_boundaries() -> None:
    days = [0, 1, 15, 16, 30, 31, 60, 61, 90, 91, 400]
    frame = frame_of(
        {"open_invoice_count": 1},
        *[{"max_days_overdue": d} for d in days],
        {"max_days_overdue": 0, "open_invoice_count": 0},
    )

    assert collection_stage(frame, SHIPPED).tolist() == [
        "pre_due",
        "dunning_1",
        "dunning_1",
        "dunning_2",
        "dunning_2",
        "dunning_3",
        "dunning_3",
        "escalation",
        "escalation",
        "final",
        "final",
        "none",
    ]


def test_collection_stage_of_the_oldest_open_invoice_through_scoring() -> None:
    days = [-10, 0, 1, 15, 16, 61, 91]
    records: list[CanonicalRecord] = []
    for n, d in enumerate(days, start=1):
        records += [customer(f"C{n}"), overdue_invoice(f"I{n}", "100", d, customer_id=f"C{n}")]
    # C8 also has a younger invoice; its oldest (16 days) sets the stage.
    records += [
        customer("C8"),
        overdue_invoice("I8a", "100", 3, customer_id="C8"),
        overdue_invoice("I8b", "100", 16, customer_id="C8"),
        # C9 has paid everything: nothing open.
        customer("C9"),
        invoice("I9", "100", "0", issued="2026-05-01", due="2026-05-31", customer_id="C9"),
        payment("P9", "100", received="2026-06-01", applied={"I9": "100"}, customer_id="C9"),
    ]

    result = score(*records)

    assert result["collection_stage"].tolist() == [
        "pre_due",  # due in 10 days
        "pre_due",  # due today
        "dunning_1",
        "dunning_1",
        "dunning_2",
        "escalation",
        "final",
        "dunning_2",
        "none",
    ]


# --- segment ----------------------------------------------------------------------------------

_STEADY: dict[str, Any] = {
    "is_new": False,
    "disputed_balance": 0.0,
    "credit_utilisation": float("nan"),
    "open_balance": 1000.0,
    "flag_deteriorating": False,
    "days_late_p75_12m": 0.0,
    "on_time_share_12m": 1.0,
    "crm_dispute_open": False,
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "prompt"),
        ({"is_new": True, "disputed_balance": 500.0}, "new"),  # new comes first
        ({"disputed_balance": 0.01, "days_late_p75_12m": 40.0}, "disputing"),
        ({"disputed_balance": 500.0, "credit_utilisation": 2.0}, "disputing"),
        ({"credit_utilisation": 1.0}, "high_exposure"),
        ({"credit_utilisation": 0.99}, "prompt"),
        ({"open_balance": 250_000.0}, "high_exposure"),
        ({"open_balance": 249_999.99}, "prompt"),
        ({"flag_deteriorating": True, "days_late_p75_12m": 20.0}, "deteriorating"),
        ({"days_late_p75_12m": 15.01}, "chronic_late"),
        ({"days_late_p75_12m": 15.0}, "slow_but_steady"),
        ({"days_late_p75_12m": 3.01}, "slow_but_steady"),
        ({"days_late_p75_12m": 3.0}, "prompt"),
        ({"on_time_share_12m": 0.79}, "slow_but_steady"),  # late one time in five
        ({"on_time_share_12m": 0.8}, "prompt"),
        ({"days_late_p75_12m": float("nan")}, "prompt"),  # no comparison holds
        ({"crm_dispute_open": True, "days_late_p75_12m": 40.0}, "disputing"),
    ],
)
def test_segment_is_the_first_shipped_rule_that_holds(
    changes: dict[str, Any], expected: str
) -> None:
    assert segment(frame_of(_STEADY, changes), SHIPPED).tolist() == [expected]


def chronic_late_history(customer_id: str) -> list[CanonicalRecord]:
    """Three invoices paid 40 days beyond terms in the last 90 days: chronic late."""
    records: list[CanonicalRecord] = []
    for n, paid in enumerate(["2026-05-10", "2026-05-20", "2026-05-30"], start=1):
        id = f"{customer_id}H{n}"
        due = dt.date.fromisoformat(paid) - dt.timedelta(days=40)
        issued = due - dt.timedelta(days=30)
        records += [
            invoice(
                id,
                "100",
                "0",
                issued=issued.isoformat(),
                due=due.isoformat(),
                customer_id=customer_id,
            ),
            payment(f"P{id}", "100", received=paid, applied={id: "100"}, customer_id=customer_id),
        ]
    return records


def test_segments_of_disputing_customers_through_scoring() -> None:
    result = score(
        # C1: new, with an open dispute: new.
        customer("C1"),
        overdue_invoice("D1", "500", 20, customer_id="C1", disputed=True),
        # C2: chronic late with an open dispute: disputing.
        customer("C2"),
        *chronic_late_history("C2"),
        overdue_invoice("D2", "500", 20, customer_id="C2", disputed=True),
        # C3: the same history without a dispute: chronic late.
        customer("C3"),
        *chronic_late_history("C3"),
        overdue_invoice("D3", "500", 20, customer_id="C3"),
    )

    assert result["is_new"].tolist() == [True, False, False]
    assert result.loc["C2", "avg_days_beyond_terms_12m"] == pytest.approx(40)
    assert result["segment"].tolist() == ["new", "disputing", "chronic_late"]


# --- next action ------------------------------------------------------------------------------

_PLAIN: dict[str, Any] = {
    "collection_stage": "pre_due",
    "segment": "slow_but_steady",
    "risk_tier": "low",
    "invoice_delivery": "email",
    "is_check_payer": False,
    "next_due_date": pd.Timestamp("2026-07-20"),
    "disputed_balance": 0.0,
    "crm_dispute_open": False,
}


@pytest.mark.parametrize(
    ("changes", "action", "due"),
    [
        ({"collection_stage": "none", "next_due_date": pd.NaT}, "none", None),
        (
            {
                "collection_stage": "none",
                "segment": "disputing",
                "disputed_balance": 500.0,
                "next_due_date": pd.NaT,
            },
            "none",
            None,
        ),
        (
            {
                "collection_stage": "final",
                "segment": "disputing",
                "disputed_balance": 500.0,
                "risk_tier": "critical",
            },
            "resolve_dispute",
            "2026-06-30",
        ),
        (
            {"collection_stage": "dunning_1", "crm_dispute_open": True},
            "resolve_dispute",
            "2026-06-30",
        ),
        ({"collection_stage": "final", "risk_tier": "high"}, "credit_hold", "2026-06-30"),
        ({"collection_stage": "final", "risk_tier": "critical"}, "credit_hold", "2026-06-30"),
        ({"collection_stage": "final", "risk_tier": "medium"}, "escalate_to_owner", "2026-06-30"),
        (
            {"collection_stage": "escalation", "segment": "chronic_late", "risk_tier": "critical"},
            "offer_payment_plan",
            "2026-06-30",
        ),
        ({"collection_stage": "escalation"}, "escalate_to_owner", "2026-07-01"),
        ({"collection_stage": "dunning_3"}, "call_ap_contact", "2026-07-01"),
        ({"collection_stage": "dunning_2", "segment": "prompt"}, "dunning_2", "2026-06-30"),
        ({"collection_stage": "dunning_1", "segment": "prompt"}, "dunning_1", "2026-07-05"),
        ({"collection_stage": "dunning_1"}, "dunning_1", "2026-06-30"),
        ({"segment": "prompt"}, "none", None),
        # Pre-due reminder: the next due date (07-20) less the lead time, 3 days by default,
        # 10 for paper invoices, 7 for check payers, the longer of both for both.
        ({}, "pre_due_reminder", "2026-07-17"),
        ({"segment": "new"}, "pre_due_reminder", "2026-07-17"),
        ({"invoice_delivery": "paper"}, "pre_due_reminder", "2026-07-10"),
        ({"is_check_payer": True}, "pre_due_reminder", "2026-07-13"),
        ({"invoice_delivery": "paper", "is_check_payer": True}, "pre_due_reminder", "2026-07-10"),
        # Never before the as-of date: 07-02 less 10 days is 06-22.
        (
            {"invoice_delivery": "paper", "next_due_date": pd.Timestamp("2026-07-02")},
            "pre_due_reminder",
            "2026-06-30",
        ),
        ({"next_due_date": pd.Timestamp("2026-06-30")}, "pre_due_reminder", "2026-06-30"),
    ],
)
def test_next_action_follows_the_shipped_playbook(
    changes: dict[str, Any], action: str, due: str | None
) -> None:
    frame = frame_of(_PLAIN, changes)
    frame["next_due_date"] = pd.to_datetime(frame["next_due_date"])

    row = next_action(frame, AS_OF, SHIPPED).loc["C1"]

    assert row["next_action"] == action
    assert row["next_action_label"] == ACTION_LABELS[row["next_action"]]
    if due is None:
        assert pd.isna(row["next_action_date"])
    else:
        assert row["next_action_date"] == day(due)


def test_next_actions_of_several_customers_at_once() -> None:
    frame = frame_of(
        _PLAIN,
        {"collection_stage": "none", "next_due_date": pd.NaT},
        {"invoice_delivery": "paper"},
        {"collection_stage": "dunning_1", "segment": "prompt"},
    )
    frame["next_due_date"] = pd.to_datetime(frame["next_due_date"])

    result = next_action(frame, AS_OF, SHIPPED)

    assert result["next_action"].tolist() == ["none", "pre_due_reminder", "dunning_1"]
    assert result["next_action_date"].tolist() == [None, day("2026-07-10"), day("2026-07-05")]


def test_pre_due_reminder_through_scoring_leads_for_paper_and_checks() -> None:
    def customer_with_upcoming_invoice(id: str, **fields: Any) -> list[CanonicalRecord]:
        # Three invoices paid 5 days beyond terms: slow but steady; one due 2026-07-20.
        records: list[CanonicalRecord] = [customer(id, **fields)]
        for n, paid in enumerate(["2026-05-10", "2026-05-20", "2026-05-30"], start=1):
            paid_day = dt.date.fromisoformat(paid)
            due = paid_day - dt.timedelta(days=5)
            records += [
                invoice(
                    f"{id}H{n}",
                    "100",
                    "0",
                    issued=(due - dt.timedelta(days=30)).isoformat(),
                    due=due.isoformat(),
                    customer_id=id,
                ),
                payment(
                    f"{id}P{n}",
                    "100",
                    received=paid,
                    applied={f"{id}H{n}": "100"},
                    customer_id=id,
                ),
            ]
        records.append(
            invoice(f"{id}U", "100", issued="2026-06-20", due="2026-07-20", customer_id=id)
        )
        return records

    result = score(
        *customer_with_upcoming_invoice("C1"),
        *customer_with_upcoming_invoice("C2", invoice_delivery="paper"),
        *customer_with_upcoming_invoice("C3", payment_method="check"),
        *customer_with_upcoming_invoice("C4", payment_method="check", invoice_delivery="paper"),
    )

    assert result["segment"].tolist() == ["slow_but_steady"] * 4
    assert result["collection_stage"].tolist() == ["pre_due"] * 4
    assert result["next_action"].tolist() == ["pre_due_reminder"] * 4
    assert result["next_action_date"].tolist() == [
        day("2026-07-17"),
        day("2026-07-10"),
        day("2026-07-13"),
        day("2026-07-10"),
    ]


def test_paid_up_customer_has_no_action_and_no_date() -> None:
    row = score(customer("C1")).loc["C1"]

    assert row["collection_stage"] == "none"
    assert row["next_action"] == "none"
    assert row["next_action_label"] == "No action needed"
    assert pd.isna(row["next_action_date"])


def test_final_stage_high_risk_customer_goes_on_credit_hold_through_scoring() -> None:
    # 100 days past due, new: neutral 15 + overdue 25 + aged 15 = 55 points: 45, high.
    row = score(customer("C1"), overdue_invoice("I1", "400", 100)).loc["C1"]

    assert (row["health_score"], row["risk_tier"]) == (45, "high")
    assert (row["collection_stage"], row["segment"]) == ("final", "new")
    assert row["next_action"] == "credit_hold"
    assert row["next_action_date"] == AS_OF


def test_new_customer_with_an_open_dispute_is_asked_to_resolve_it_first() -> None:
    """A disputed invoice must not be dunned, however new the customer.

    The segment rules put `new` before `disputing`, and the playbook keys "resolve the dispute
    first" on `segment: disputing`: a new customer whose only invoice is disputed and 20 days
    past due gets a second overdue reminder for it instead.
    """
    row = score(
        customer("C1"), overdue_invoice("D1", "500", 20, disputed=True, number="INV-D1")
    ).loc["C1"]

    assert row["segment"] == "new"
    assert row["flag_open_dispute"]
    assert row["next_action"] == "resolve_dispute"
    assert row["next_action_date"] == AS_OF


# --- priority ---------------------------------------------------------------------------------

_NOTHING_AT_RISK: dict[str, Any] = {
    "aging_current": 0.0,
    "aging_d1_30": 0.0,
    "aging_d31_60": 0.0,
    "aging_d61_90": 0.0,
    "aging_d91_120": 0.0,
    "aging_over_120": 0.0,
    "open_balance": 0.0,
    "risk_tier": "low",
}


def test_priority_weight_and_rank_by_hand() -> None:
    rows = {
        # 1000 x 0.5 (31-60) x 0.5 (low) = 250: ties with C1, ranks after it.
        "C3": {"aging_d31_60": 1000.0, "risk_tier": "low"},
        # 1000 x 0.25 (1-30) x 1 (medium) = 250; current money is not at risk.
        "C1": {"aging_d1_30": 1000.0, "aging_current": 9000.0, "risk_tier": "medium"},
        # 400 x 1 (over 120) x 2 (critical) = 800.
        "C2": {"aging_over_120": 400.0, "risk_tier": "critical"},
        # Nothing overdue: nothing at risk, no rank.
        "C4": {"aging_current": 5000.0, "risk_tier": "low"},
        # (200 x 0.75 + 100 x 1) x 1.5 (high) = 375.
        "C5": {"aging_d61_90": 200.0, "aging_d91_120": 100.0, "risk_tier": "high"},
    }
    frame = pd.DataFrame(
        [{**_NOTHING_AT_RISK, **row} for row in rows.values()],
        index=pd.Index(list(rows), name="customer_id"),
    )

    result = priority(frame, SHIPPED)

    assert result["priority_weight"].to_dict() == {
        "C3": 250.0,
        "C1": 250.0,
        "C2": 800.0,
        "C4": 0.0,
        "C5": 375.0,
    }
    ranks = pd.Series([4, 3, 1, pd.NA, 2], index=frame.index, dtype="Int64", name="priority_rank")
    pd.testing.assert_series_equal(result["priority_rank"], ranks)


def test_money_at_risk_is_the_open_balance_of_a_high_or_critical_account() -> None:
    rows = {
        "C1": {"open_balance": 900.0, "aging_over_120": 900.0, "risk_tier": "critical"},
        "C2": {"open_balance": 500.0, "aging_d1_30": 100.0, "risk_tier": "high"},
        "C3": {"open_balance": 700.0, "aging_over_120": 700.0, "risk_tier": "medium"},
        "C4": {"open_balance": 50.0, "risk_tier": "low"},
    }
    frame = pd.DataFrame(
        [{**_NOTHING_AT_RISK, **row} for row in rows.values()],
        index=pd.Index(list(rows), name="customer_id"),
    )

    result = priority(frame, SHIPPED)

    assert result["money_at_risk"].to_dict() == {"C1": 900.0, "C2": 500.0, "C3": 0.0, "C4": 0.0}
    assert result["priority_weight"]["C1"] == 1800.0  # 900 x 1 x 2: a weight, more than open


def test_priority_through_scoring_is_independent_of_row_order() -> None:
    records = [
        # C2 and C1: new (neutral 15) with 1000 20 days past due (overdue 25): 60, medium.
        # 1000 x 0.25 x 1 = 250 each: the tie goes to C1.
        customer("C2"),
        overdue_invoice("B", "1000", 20, customer_id="C2"),
        customer("C1"),
        overdue_invoice("A", "1000", 20),
        # C3: only current money: no rank.
        customer("C3"),
        overdue_invoice("C", "1000", -5, customer_id="C3"),
        # C4: 400, 100 days past due: 100 - 15 - 25 - 15 = 45, high: 400 x 1 x 1.5 = 600.
        customer("C4"),
        overdue_invoice("D", "400", 100, customer_id="C4"),
    ]
    ledger = ledger_of(*records)

    for seed in range(4):
        result = score_accounts(shuffled(ledger, seed), AS_OF, SHIPPED, USD_EUR)
        result = result.set_index("customer_id")
        assert result["risk_tier"].tolist() == ["medium", "medium", "low", "high"]
        assert result["priority_weight"].tolist() == [250.0, 250.0, 0.0, 600.0]
        ranks = pd.Series([2, 3, pd.NA, 1], index=result.index, dtype="Int64")
        pd.testing.assert_series_equal(result["priority_rank"], ranks, check_names=False)


def test_an_empty_ledger_scores_to_an_empty_frame() -> None:
    """An ERP with no customers left (all deleted) scores nothing, and does not crash on the
    text dtype an empty tier column keeps."""
    result = score_accounts(ledger_of(), AS_OF, SHIPPED, USD_EUR)

    assert len(result) == 0
    assert {"priority_weight", "money_at_risk", "priority_rank"} <= set(result.columns)
