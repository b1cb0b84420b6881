"""The pure trend functions of `scoring.trends`: per-day totals, the day to compare with, tier
migration, breakdowns. Values are worked out by hand; hypothesis holds the invariants."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.currency import CurrencyTable
from scoring.health import TIERS
from scoring.kpis import money_at_risk
from scoring.trends import (
    DAILY_COLUMNS,
    NO_OWNER,
    PROMISE_STATUSES,
    breakdown,
    currency_breakdown,
    daily_totals,
    nearest_day,
    owner_labels,
    promise_summary,
    thin_days,
    tier_migration,
    tier_totals,
)

D1, D2 = pd.Timestamp("2026-10-01"), pd.Timestamp("2026-11-01")


def snapshots(*rows: tuple[pd.Timestamp, str, str, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=["snapshot_date", "customer_id", "risk_tier", "open_balance", "overdue_balance"],
    )


HISTORY = snapshots(
    (D1, "A", "low", 100.10, 0.0),
    (D1, "B", "high", 200.20, 50.0),
    (D1, "C", "critical", 300.30, 300.30),
    (D2, "A", "medium", 150.0, 10.0),
    (D2, "B", "critical", 0.0, 0.0),
    (D2, "D", "high", 1000.0, 999.99),
)


def test_daily_totals_sum_each_day_and_count_high_and_critical_as_at_risk() -> None:
    daily = daily_totals(tier_totals(HISTORY, 2), 2)

    assert list(daily.columns) == list(DAILY_COLUMNS)
    assert daily["snapshot_date"].tolist() == [D1, D2]
    assert daily["accounts"].tolist() == [3, 3]
    # D1: 100.10 + 200.20 + 300.30; at risk B (high) and C (critical): 500.50.
    # D2: 150 + 0 + 1000; at risk B (critical, 0) and D (high, 1000).
    assert daily["open_balance"].tolist() == [600.60, 1150.0]
    assert daily["overdue_balance"].tolist() == [350.30, 1009.99]
    assert daily["money_at_risk"].tolist() == [500.50, 1000.0]
    assert daily["accounts_with_overdue"].tolist() == [2, 2]
    assert daily["overdue_share"].tolist() == pytest.approx([350.30 / 600.60, 1009.99 / 1150])


def test_daily_totals_of_nothing_is_empty_and_of_nothing_open_has_no_share() -> None:
    assert daily_totals(tier_totals(HISTORY.iloc[0:0], 2), 2).empty
    paid_up = daily_totals(tier_totals(snapshots((D1, "A", "low", 0.0, 0.0)), 2), 2)
    assert paid_up["open_balance"].tolist() == [0.0]
    assert paid_up["overdue_share"].isna().all()


def test_nearest_day_is_strictly_before_and_prefers_the_earlier_of_a_tie() -> None:
    days = [dt.date(2026, 10, d) for d in (1, 11, 21, 31)]

    assert nearest_day(days, dt.date(2026, 10, 2), before=dt.date(2026, 10, 31)) == days[0]
    assert nearest_day(days, dt.date(2026, 10, 16), before=dt.date(2026, 11, 1)) == days[1]
    # The latest day itself is never the day to compare with.
    assert nearest_day(days, dt.date(2026, 11, 30), before=dt.date(2026, 10, 31)) == days[2]
    assert nearest_day(days, dt.date(2026, 9, 1), before=dt.date(2026, 10, 1)) is None
    assert nearest_day([], dt.date(2026, 9, 1), before=dt.date(2026, 10, 1)) is None


def test_thin_days_keeps_the_ends_and_the_days_asked_for() -> None:
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(100)]

    kept = thin_days(days, 5, keep=[days[37]])

    assert kept == [days[0], days[25], days[37], days[50], days[74], days[99]]
    assert thin_days(days[:3], 5) == days[:3]
    with pytest.raises(ValueError, match="at least 2"):
        thin_days(days, 1)


def test_tier_migration_counts_the_accounts_in_both_days() -> None:
    then = HISTORY[HISTORY["snapshot_date"] == D1]
    now = HISTORY[HISTORY["snapshot_date"] == D2]

    matrix = tier_migration(then, now)

    assert list(matrix.index) == list(TIERS)
    assert list(matrix.columns) == list(TIERS)
    # A low -> medium, B high -> critical; C (gone) and D (new) are in one day only.
    expected = pd.DataFrame(0, index=list(TIERS), columns=list(TIERS))
    expected.loc["low", "medium"] = 1
    expected.loc["high", "critical"] = 1
    assert matrix.to_numpy().tolist() == expected.to_numpy().tolist()
    assert (matrix.index.name, matrix.columns.name) == ("from_tier", "to_tier")


def test_breakdown_groups_by_key_largest_open_first() -> None:
    scores = HISTORY[HISTORY["snapshot_date"] == D1].reset_index(drop=True)
    owners = pd.Series(["Ann", "Bob", ""])

    table = breakdown(scores, owners, 2, name="owner")

    assert table["owner"].tolist() == ["(none)", "Bob", "Ann"]
    assert table["open_balance"].tolist() == [300.30, 200.20, 100.10]
    assert table["money_at_risk"].tolist() == [300.30, 200.20, 0.0]
    assert table["accounts_with_overdue"].tolist() == [1, 1, 0]


def test_currency_breakdown_in_the_document_and_the_reporting_currency() -> None:
    items = pd.DataFrame(
        {
            "currency": ["EUR", "EUR", "USD", "JPY"],
            "customer_id": ["A", "A", "B", "C"],
            "open_minor": [100_00, 50_50, 300_00, 10_000],
        }
    )
    table = currency_breakdown(
        items, CurrencyTable("USD", {"EUR": Decimal("1.1"), "JPY": Decimal("0.01")})
    )

    # EUR 150.50 x 1.1 = 165.55 USD; JPY 10,000 (no minor unit) x 0.01 = 100 USD.
    assert table["currency"].tolist() == ["USD", "EUR", "JPY"]
    assert table["open_balance_document"].tolist() == [300.0, 150.5, 10_000.0]
    assert table["open_balance"].tolist() == [300.0, 165.55, 100.0]
    assert table["accounts"].tolist() == [1, 1, 1]
    assert table["open_invoices"].tolist() == [1, 2, 1]
    assert table["share_of_open"].sum() == pytest.approx(1.0)


def test_promise_summary_per_status() -> None:
    scores = pd.DataFrame(
        {
            "promise_status": ["pending", "kept", "broken", "pending", "none", None, "kept"],
            "promise_amount": [100.10, 200.0, 300.0, None, None, 50.0, 0.20],
        }
    )

    summary = promise_summary(scores, 2).set_index("promise_status")

    # pending: 100.10 and one without an amount; kept: 200 + 0.20; "none" and None: no status.
    assert list(summary.index) == ["pending", "kept", "broken"]
    assert summary.loc["pending"].tolist() == [2, 100.10]
    assert summary.loc["kept"].tolist() == [2, 200.20]
    assert summary.loc["broken"].tolist() == [1, 300.0]


def test_promise_summary_keeps_every_status_with_zeros() -> None:
    summary = promise_summary(pd.DataFrame({"promise_status": [], "promise_amount": []}), 2)

    assert summary.values.tolist() == [["pending", 0, 0.0], ["kept", 0, 0.0], ["broken", 0, 0.0]]


def test_owners_by_name_then_by_id_and_the_breakdown_per_owner() -> None:
    day = HISTORY[HISTORY["snapshot_date"] == D2]  # A, B, D
    first = day.iloc[[0]]
    rows = pd.concat(
        [day, first.assign(customer_id="F"), first.assign(customer_id="E", open_balance=49.99)],
        ignore_index=True,
    ).assign(
        owner_id=["005A", "005B", "005B", None, "005A"],
        owner_name=["Ann", None, " ", None, "Ann"],
    )

    labels = owner_labels(rows)
    table = breakdown(rows, labels, 2, name="owner")

    assert labels.tolist() == ["Ann", "005B", "005B", "", "Ann"]
    # Ann: A (medium, 150, overdue 10) and E (medium, 49.99, overdue 10): 199.99, none at risk.
    # 005B: B (critical, 0) and D (high, 1000, overdue 999.99): 1000 at risk.
    # (none): F, a copy of A with no owner.
    assert table.values.tolist() == [
        ["005B", 2, 1, 1000.0, 999.99, 1000.0],
        ["Ann", 2, 2, 199.99, 20.0, 0.0],
        [NO_OWNER, 1, 1, 150.0, 10.0, 0.0],
    ]


# --- invariants -------------------------------------------------------------------------------

cents = st.integers(min_value=0, max_value=10**11).map(lambda c: c / 100)
tiers = st.sampled_from([*TIERS, "unknown"])
accounts = st.lists(
    st.tuples(st.sampled_from([f"C{n}" for n in range(30)]), tiers, cents, cents),
    max_size=30,
    unique_by=lambda row: row[0],
)


@given(accounts)
def test_money_at_risk_never_exceeds_what_is_open(
    rows: list[tuple[str, str, float, float]],
) -> None:
    frame = pd.DataFrame(rows, columns=["customer_id", "risk_tier", "open_balance", "x"])

    at_risk = money_at_risk(frame["open_balance"], frame["risk_tier"], 2)

    open_total = round(sum(round(v * 100) for v in frame["open_balance"]) / 100, 2)
    assert 0 <= at_risk <= open_total


@given(
    st.lists(
        st.tuples(st.sampled_from([D1, D2]), st.sampled_from("ABCDEFGH"), tiers, cents, cents),
        max_size=30,
        unique_by=lambda r: (r[0], r[1]),
    )
)
def test_daily_money_at_risk_is_within_open_and_totals_match_the_rows(
    rows: list[tuple[pd.Timestamp, str, str, float, float]],
) -> None:
    frame = snapshots(*rows)

    daily = daily_totals(tier_totals(frame, 2), 2)

    assert (daily["money_at_risk"] <= daily["open_balance"]).all()
    assert int(daily["accounts"].sum()) == len(frame)
    for day, group in frame.groupby("snapshot_date"):
        row = daily[daily["snapshot_date"] == day].iloc[0]
        assert row["open_balance"] == round(
            sum(round(v * 100) for v in group["open_balance"]) / 100, 2
        )


@given(accounts, accounts)
def test_migration_counts_sum_to_the_accounts_in_both_snapshots(
    before: list[tuple[str, str, float, float]], after: list[tuple[str, str, float, float]]
) -> None:
    columns = ["customer_id", "risk_tier", "open_balance", "overdue_balance"]
    then, now = pd.DataFrame(before, columns=columns), pd.DataFrame(after, columns=columns)

    matrix = tier_migration(then, now)

    both = set(then["customer_id"]) & set(now["customer_id"])
    assert int(matrix.to_numpy().sum()) == len(both)
    assert list(matrix.index[: len(TIERS)]) == list(TIERS)
    # Each row sums to the accounts in both that had that tier then.
    in_both = then[then["customer_id"].isin(both)]
    for tier, count in in_both["risk_tier"].value_counts().items():
        assert int(matrix.loc[tier].sum()) == count


owned = st.lists(
    st.tuples(
        st.sampled_from([f"C{n}" for n in range(30)]),
        tiers,
        cents,
        cents,
        st.sampled_from(["Ann", "Bob", "", None]),
        st.sampled_from(["005A", "005B", None]),
    ),
    max_size=30,
    unique_by=lambda row: row[0],
)


@given(owned)
def test_per_owner_money_at_risk_is_within_open_and_the_owners_add_up_to_the_day(
    rows: list[tuple[str, str, float, float, str | None, str | None]],
) -> None:
    frame = pd.DataFrame(
        rows,
        columns=[
            "customer_id",
            "risk_tier",
            "open_balance",
            "overdue_balance",
            "owner_name",
            "owner_id",
        ],
    )

    table = breakdown(frame, owner_labels(frame), 2, name="owner")

    assert (table["money_at_risk"] <= table["open_balance"]).all()
    assert (table["accounts_with_overdue"] <= table["accounts"]).all()
    assert int(table["accounts"].sum()) == len(frame)
    assert table["owner"].is_unique
    cents_total = sum(round(v * 100) for v in frame["open_balance"])
    assert round(sum(round(v * 100) for v in table["open_balance"])) == cents_total
    at_risk = money_at_risk(frame["open_balance"], frame["risk_tier"], 2)
    assert round(sum(round(v * 100) for v in table["money_at_risk"])) == round(at_risk * 100)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([*PROMISE_STATUSES, "none", None]),
            st.none() | cents,
        ),
        max_size=40,
    )
)
def test_promise_summary_counts_each_promise_once_to_the_cent(
    rows: list[tuple[str | None, float | None]],
) -> None:
    frame = pd.DataFrame(rows, columns=["promise_status", "promise_amount"])

    summary = promise_summary(frame, 2).set_index("promise_status")

    for status in PROMISE_STATUSES:
        chosen = [amount for name, amount in rows if name == status]
        assert summary.loc[status, "accounts"] == len(chosen)
        expected = sum(round(a * 100) for a in chosen if a is not None) / 100
        assert summary.loc[status, "promised"] == round(expected, 2)
