"""Parent/child roll-up: hand-built hierarchies, and money conservation over random forests."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
from factories import build, customer, day, invoice, payment
from hypothesis import given
from hypothesis import strategies as st

from arsync.records import CanonicalRecord
from scoring import CurrencyTable, ScoringSettings, score_accounts
from scoring.health import TIERS
from scoring.rollup import rollup, rollup_money_columns, rollup_roots

USD = CurrencyTable("USD")
AS_OF = day("2026-06-30")
SETTINGS = ScoringSettings()
MONEY = rollup_money_columns(SETTINGS)


def score(*records: CanonicalRecord) -> pd.DataFrame:
    ledger, quarantine = build(*records)
    assert list(quarantine) == []
    return score_accounts(ledger, AS_OF, SETTINGS, USD).set_index("customer_id")


PAID_90_DAYS_LATE = (
    ("2025-09-01", "2025-10-01", "2025-12-30"),
    ("2025-10-01", "2025-10-31", "2026-01-29"),
    ("2025-11-01", "2025-12-01", "2026-03-01"),
)


def late_payer(customer_id: str) -> list[CanonicalRecord]:
    """Three invoices paid 90 days late, and 2,000.00 open 150 days past due: critical."""
    records: list[CanonicalRecord] = []
    for n, (issued, due, paid) in enumerate(PAID_90_DAYS_LATE, start=1):
        number = f"{customer_id}-P{n}"
        records.append(invoice(number, "100", "0", issued=issued, due=due, customer_id=customer_id))
        records.append(
            payment(
                f"{number}-pay",
                "100",
                received=paid,
                applied={number: "100"},
                customer_id=customer_id,
            )
        )
    records.append(
        invoice(
            f"{customer_id}-I",
            "2000",
            issued="2026-01-01",
            due="2026-01-31",
            customer_id=customer_id,
        )
    )
    return records


def family() -> list[CanonicalRecord]:
    return [
        customer("P"),
        customer("A", parent_id="P"),
        customer("B", parent_id="P"),
        customer("C", parent_id="P"),
        customer("Z"),  # unrelated
        invoice("P-1", "100.10", issued="2026-06-01", due="2026-07-01", customer_id="P"),
        invoice("A-1", "0.10", issued="2026-05-01", due="2026-06-10", customer_id="A"),  # 20 days
        invoice("A-2", "0.20", issued="2026-04-01", due="2026-05-15", customer_id="A"),  # 46 days
        payment("A-pay", "5.55", received="2026-06-01", customer_id="A"),  # unapplied
        *late_payer("B"),
        invoice("Z-1", "999", issued="2026-01-01", due="2026-01-31", customer_id="Z"),
    ]


def test_a_parent_sums_its_children_and_takes_the_worst_tier() -> None:
    frame = score(*family())
    assert frame.loc["B", "risk_tier"] == "critical"
    assert frame.loc["P", "risk_tier"] != "critical"
    parent = frame.loc["P"]

    assert parent["open_balance"] == 100.10  # its own figure is untouched
    assert parent["rollup_open_balance"] == 2100.40  # 100.10 + 0.30 + 2000
    assert parent["rollup_overdue_balance"] == 2000.30
    assert parent["rollup_unapplied_credit"] == 5.55
    assert parent["rollup_aging_current"] == 100.10
    assert parent["rollup_aging_d1_30"] == 0.10
    assert parent["rollup_aging_d31_60"] == 0.20
    assert parent["rollup_aging_over_120"] == 2000.00
    assert parent["rollup_max_days_overdue"] == 150
    assert parent["rollup_risk_tier"] == "critical"
    assert parent["rollup_customer_count"] == 4
    assert parent["rollup_worst_customer_id"] == "B"
    aging = sum(parent[f"rollup_aging_{b.key}"] for b in SETTINGS.aging_buckets)
    assert round(aging, 2) == parent["rollup_open_balance"]


def test_a_customer_without_children_rolls_up_to_itself() -> None:
    frame = score(*family())

    for customer_id in ("A", "B", "Z"):
        row = frame.loc[customer_id]
        for column in [*MONEY, "max_days_overdue", "risk_tier"]:
            assert row[f"rollup_{column}"] == row[column]
        assert row["rollup_customer_count"] == 1
        assert row["rollup_worst_customer_id"] == customer_id


def test_a_grandchild_rolls_up_two_levels() -> None:
    frame = score(
        customer("G"),
        customer("P", parent_id="G"),
        customer("C", parent_id="P"),
        invoice("G-1", "1.01", issued="2026-06-01", due="2026-07-01", customer_id="G"),
        invoice("P-1", "2.02", issued="2026-06-01", due="2026-07-01", customer_id="P"),
        *late_payer("C"),
    )

    assert frame.loc["P", "rollup_open_balance"] == 2002.02
    assert frame.loc["G", "rollup_open_balance"] == 2003.03
    assert frame.loc["G", "rollup_customer_count"] == 3
    assert frame.loc["G", "rollup_worst_customer_id"] == "C"
    assert frame.loc["G", "rollup_risk_tier"] == "critical"
    assert frame.loc["G", "rollup_max_days_overdue"] == 150


def plain_frame(
    parents: list[int], cents: list[int], tiers: list[int], scores: list[int], ids: list[str]
) -> pd.DataFrame:
    """A minimal scored frame: row i's parent is row parents[i] (-1: none)."""
    data: dict[str, object] = {
        "parent_id": [ids[p] if p >= 0 else None for p in parents],
        "risk_tier": [TIERS[t] for t in tiers],
        "health_score": scores,
        "max_days_overdue": [c % 200 for c in cents],
        "reporting_currency": "USD",
    }
    for j, column in enumerate(MONEY):
        data[column] = [round((c * (j + 1) % 10**9) / 100, 2) for c in cents]
    return pd.DataFrame(data, index=pd.Index(ids, name="customer_id"))


def test_a_cycle_does_not_hang_and_its_members_are_roots() -> None:
    # 0 <-> 1 form a cycle, 2 hangs below 0, 3 is alone.
    frame = plain_frame(
        [1, 0, 0, -1],
        [100, 200, 300, 400],
        [0, 0, 3, 1],
        [90, 80, 10, 60],
        ["X0", "X1", "X2", "X3"],
    )
    result = rollup(frame, SETTINGS)

    assert list(rollup_roots(frame)) == [True, True, False, True]
    assert list(result["rollup_open_balance"]) == [4.00, 2.00, 3.00, 4.00]
    assert list(result["rollup_customer_count"]) == [2, 1, 1, 1]
    assert result.loc["X0", "rollup_worst_customer_id"] == "X2"


def test_worst_customer_ties_go_to_the_lowest_score_then_the_id() -> None:
    frame = plain_frame(
        [-1, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [50, 40, 38, 38], ["R", "B", "D", "C"]
    )

    assert rollup(frame, SETTINGS).loc["R", "rollup_worst_customer_id"] == "C"


@st.composite
def forests(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    # Parents are drawn among earlier customers, then the rows are shuffled: a forest.
    parents = [draw(st.integers(-1, i - 1)) for i in range(n)]
    order = draw(st.permutations(range(n)))
    where = {old: new for new, old in enumerate(order)}
    shuffled = [-1] * n
    for old in range(n):
        shuffled[where[old]] = where[parents[old]] if parents[old] >= 0 else -1
    cents = draw(st.lists(st.integers(0, 10**11), min_size=n, max_size=n))
    tiers = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    scores = draw(st.lists(st.integers(0, 100), min_size=n, max_size=n))
    return plain_frame(shuffled, cents, tiers, scores, [f"C{i:03d}" for i in range(n)])


def minor(values: pd.Series) -> np.ndarray:
    return np.rint(values.to_numpy(dtype="float64") * 100).astype(np.int64)


@given(forests())
def test_money_is_conserved_and_each_rollup_is_own_plus_childrens(frame: pd.DataFrame) -> None:
    result = rollup(frame, SETTINGS)
    roots = rollup_roots(frame)
    assert roots.sum() >= 1

    for column in MONEY:
        up = minor(result[f"rollup_{column}"])
        own = minor(frame[column])
        assert up[roots].sum() == own.sum()  # exact, in cents
        children = (pd.Series(up, index=frame.index).groupby(frame["parent_id"]).sum()).reindex(
            frame.index, fill_value=0
        )
        assert (up == own + children.to_numpy()).all()
    assert result.loc[roots, "rollup_customer_count"].sum() == len(frame)


@given(forests())
def test_rollup_tier_is_never_better_than_the_own_tier(frame: pd.DataFrame) -> None:
    result = rollup(frame, SETTINGS)
    rank = {tier: i for i, tier in enumerate(TIERS)}

    assert (result["rollup_risk_tier"].map(rank) >= result["risk_tier"].map(rank)).all()
    worst = result.loc[result["rollup_worst_customer_id"], "risk_tier"].to_numpy()
    assert (worst == result["rollup_risk_tier"].to_numpy()).all()


def test_scored_parent_money_is_exact_to_the_cent() -> None:
    records: list[CanonicalRecord] = [customer("P")]
    for i in range(30):
        records.append(customer(f"K{i}", parent_id="P"))
        records.append(
            invoice(f"K{i}-1", "0.10", issued="2026-06-01", due="2026-07-01", customer_id=f"K{i}")
        )
    parent = score(*records).loc["P"]

    assert Decimal(str(parent["rollup_open_balance"])) == Decimal("3.00")
