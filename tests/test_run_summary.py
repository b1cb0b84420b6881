"""The run's summary: money, tiers, next actions and changes, as a person reads them."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from jobs.run_summary import (
    action_table,
    cell,
    change_line,
    ledger_line,
    portfolio_money,
    tier_table,
)
from jobs.wording import plural
from scoring.health import TIERS


def scores(rows: list[tuple[str, float, float, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=["risk_tier", "open_balance", "overdue_balance", "next_action_label", "date"],
    ).assign(
        reporting_currency="EUR",
        next_action="x",
        customer_id=lambda f: [f"C{i}" for i in range(len(f))],
        next_action_date=lambda f: f["date"],
    )


def rendered(table: object) -> list[str]:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text().splitlines()


SAMPLE = scores(
    [
        ("low", 1000.0, 0.0, "No action needed", None),
        ("critical", 2500.5, 2500.5, "Put the account on credit hold", "2026-11-20"),
        ("high", 1200.0, 300.0, "Put the account on credit hold", "2026-11-18"),
        ("low", 10.0, 10.0, "Send a first overdue reminder", "2026-11-22"),
    ]
)


def test_money_sums_open_overdue_and_what_is_open_at_high_or_critical_risk() -> None:
    money = portfolio_money(SAMPLE)

    assert (money.currency, money.open, money.overdue, money.at_risk) == (
        "EUR",
        4710.5,
        2810.5,
        3700.5,
    )
    assert money.line() == (
        "Open 4,710.50 EUR, overdue 2,810.50 (60% of it); 3,700.50 open at high or critical risk."
    )


def test_tiers_in_order_of_risk_with_a_total() -> None:
    lines = [line for line in rendered(tier_table(SAMPLE, "EUR")) if line.startswith("│")]
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines]

    assert cells == [
        ["Low", "2", "1,010.00", "10.00"],
        ["High", "1", "1,200.00", "300.00"],
        ["Critical", "1", "2,500.50", "2,500.50"],
        ["Total", "4", "4,710.50", "2,810.50"],
    ]


def test_actions_with_the_most_overdue_money_first_and_their_earliest_date() -> None:
    lines = [line for line in rendered(action_table(SAMPLE, "EUR")) if line.startswith("│")]
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines]

    assert cells == [
        ["Put the account on credit hold", "2", "2,800.50", "2026-11-18"],
        ["Send a first overdue reminder", "1", "10.00", "2026-11-22"],
        ["No action needed", "1", "0.00", ""],
    ]


def test_what_would_change_in_one_sentence() -> None:
    plan = pd.DataFrame(
        {"customer_id": ["C1", "C1", "C2"], "field": ["AR_A__c", "AR_B__c", "AR_A__c"]}
    )
    empty = plan.iloc[0:0]

    assert change_line(plan, online=True, dry_run=True, scored=5) == (
        "Salesforce: 3 field values on 2 accounts would change (3 accounts unchanged); "
        "most often AR_A__c 2, AR_B__c 1."
    )
    assert change_line(empty, online=True, dry_run=False, scored=1) == (
        "Salesforce: nothing changed; all 1 account already hold these values."
    )
    assert change_line(plan, online=False, dry_run=True, scored=2).endswith(
        "3 field values planned for 2 accounts."
    )


def test_ledger_counts_and_plurals() -> None:
    assert ledger_line({"customers": 1, "credit_memos": 1200}, 0) == (
        "Ledger: 1 customer, 1,200 credit memos; none quarantined."
    )
    assert ledger_line({"invoices": 3}, 1).endswith("1 record quarantined (listed below).")
    assert plural(1, "account") == "1 account"
    assert plural(12345, "account") == "12,345 accounts"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (14659.82, "14,659.82"),
        (0.0, "0.0"),
        (1234567, "1,234,567"),
        (None, "(empty)"),
        (float("nan"), "(empty)"),
        (True, "yes"),
        ("[bold]x", "[bold]x"),
    ],
)
def test_a_plan_value_reads_with_thousands_separators(value: object, shown: str) -> None:
    assert cell(value).plain == shown


@given(
    st.lists(
        st.tuples(
            st.sampled_from(TIERS),
            st.floats(min_value=0, max_value=1e9, allow_nan=False),
        ),
        max_size=30,
    )
)
def test_money_at_risk_never_exceeds_what_is_open(rows: list[tuple[str, float]]) -> None:
    frame = scores([(tier, open_, 0.0, "x", None) for tier, open_ in rows])

    money = portfolio_money(frame)

    assert 0 <= money.at_risk <= money.open + 1e-6 * max(1.0, money.open)
