"""arsync's balance per customer against the ERP's own figure (arsync.reconcile)."""

from __future__ import annotations

from decimal import Decimal

import hypothesis.strategies as st
from factories import build, credit_memo, customer, day, invoice, payment
from hypothesis import given

from arsync.control import Basis, ControlBalance, ControlBalances
from arsync.reconcile import (
    MISSING,
    NOT_COMPARABLE,
    RECONCILED,
    UNRECONCILED,
    computed_balances,
    reconcile,
)

D = Decimal
AS_OF = day("2026-06-30")


def _ledger():  # type: ignore[no-untyped-def]
    ledger, quarantine = build(
        customer("C1"),
        customer("C2"),
        customer("C3", currency="EUR"),
        invoice("I1", "1000.00", "600.00", issued="2026-05-01", due="2026-05-31"),
        invoice("I2", "250.00", issued="2026-06-01", due="2026-07-01"),
        payment("P1", "500.00", received="2026-06-10", applied={"I1": "400.00"}),
        credit_memo("M1", "50.00", dated="2026-06-12"),
        invoice("I3", "80.00", customer_id="C2", issued="2026-06-01", due="2026-07-01"),
        invoice(
            "I4",
            "70.00",
            customer_id="C3",
            currency="EUR",
            issued="2026-06-01",
            due="2026-07-01",
        ),
        # Issued after the as-of date: not on the Account yet, whatever the ERP counts.
        invoice("I5", "9.00", customer_id="C2", issued="2026-07-02", due="2026-08-01"),
        currencies={"USD", "EUR"},
    )
    assert not list(quarantine)
    return ledger


def _control(*rows: tuple[str, str, str], every: bool = False) -> ControlBalances:
    balances = tuple(ControlBalance(c, cur, D(a)) for c, cur, a in rows)
    return ControlBalances("Test Customer.Balance", Basis.NET, balances, every_customer=every)


def test_net_basis_takes_unapplied_payments_and_credit_off_the_open_invoices() -> None:
    frame = computed_balances(_ledger(), AS_OF, Basis.NET)
    by_key = {(r.customer_id, r.currency): r.balance_minor for r in frame.itertuples()}
    # C1: 600 + 250 open, 100 of P1 and 50 of M1 unapplied.
    assert by_key == {("C1", "USD"): 70_000, ("C2", "USD"): 8_000, ("C3", "EUR"): 7_000}
    gross = computed_balances(_ledger(), AS_OF, Basis.OPEN_INVOICES)
    assert dict(zip(gross["customer_id"], gross["balance_minor"], strict=True))["C1"] == 85_000


def test_each_customer_is_reconciled_within_the_tolerance_in_its_own_currency() -> None:
    result = reconcile(
        _ledger(),
        AS_OF,
        _control(("C1", "USD", "700.01"), ("C2", "USD", "80.02"), ("C3", "EUR", "70")),
        tolerance=D("0.01"),
        max_portfolio_share=0.5,
    )
    rows = {r.customer_id: r for r in result.customers.itertuples()}
    assert rows["C1"].status == RECONCILED
    assert rows["C2"].status == UNRECONCILED
    assert (rows["C2"].arsync_balance, rows["C2"].erp_balance) == (D("80.00"), D("80.02"))
    assert rows["C2"].difference == D("-0.02")
    assert rows["C3"].status == RECONCILED
    assert result.unreconciled_ids() == frozenset({"C2"})
    assert result.counts() == {
        RECONCILED: 2,
        UNRECONCILED: 1,
        NOT_COMPARABLE: 0,
        MISSING: 0,
        "unchecked": 0,
    }


def test_a_partial_list_checks_only_the_customers_it_names() -> None:
    result = reconcile(
        _ledger(), AS_OF, _control(("C1", "USD", "700")), tolerance=D("0.01"), max_portfolio_share=0
    )
    assert list(result.customers["customer_id"]) == ["C1"]
    assert result.unchecked == 2
    assert result.portfolio_reconciled


def test_a_complete_list_says_an_unlisted_customer_owes_nothing() -> None:
    result = reconcile(
        _ledger(),
        AS_OF,
        _control(("C1", "USD", "700"), ("C3", "EUR", "70"), every=True),
        tolerance=D("0.01"),
        max_portfolio_share=1.0,
    )
    rows = {r.customer_id: r for r in result.customers.itertuples()}
    assert rows["C2"].status == UNRECONCILED
    assert rows["C2"].erp_balance == D("0.00")
    assert result.unreconciled_ids() == frozenset({"C2"})


def test_a_figure_in_another_currency_than_the_ledgers_is_not_compared() -> None:
    result = reconcile(
        _ledger(),
        AS_OF,
        _control(("C3", "USD", "75.60")),
        tolerance=D("0.01"),
        max_portfolio_share=0,
    )
    assert set(result.customers["status"]) == {NOT_COMPARABLE}
    assert result.unreconciled_ids() == frozenset()
    assert result.portfolio_reconciled  # nothing comparable, nothing to break


def test_a_balance_the_ledger_lacks_breaks_the_portfolio() -> None:
    result = reconcile(
        _ledger(),
        AS_OF,
        _control(("C1", "USD", "700"), ("C2", "USD", "80"), ("C9", "USD", "5000")),
        tolerance=D("0.01"),
        max_portfolio_share=0.01,
    )
    rows = {r.customer_id: r for r in result.customers.itertuples()}
    assert rows["C9"].status == MISSING
    assert not result.portfolio_reconciled
    (line,) = result.portfolio_breaks()
    assert line.startswith("USD: arsync 780.00 against Test Customer.Balance 5,780.00")
    assert "difference -5,000.00" in line


def test_the_portfolio_limit_is_a_share_of_the_erp_total() -> None:
    control = _control(("C1", "USD", "701"), ("C2", "USD", "80"))
    loose = reconcile(_ledger(), AS_OF, control, tolerance=D("0.01"), max_portfolio_share=0.01)
    strict = reconcile(_ledger(), AS_OF, control, tolerance=D("0.01"), max_portfolio_share=0.001)
    assert loose.unreconciled_ids() == strict.unreconciled_ids() == frozenset({"C1"})
    assert loose.portfolio_reconciled  # 1.00 off 781.00: within 1%
    assert not strict.portfolio_reconciled  # past 0.1% (0.78)


@given(
    amounts=st.lists(
        st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2), min_size=1, max_size=8
    ),
    drift=st.decimals(min_value=D("-2.00"), max_value=D("2.00"), places=2),
)
def test_the_erps_own_sum_always_reconciles_and_any_drift_past_tolerance_does_not(
    amounts: list[Decimal], drift: Decimal
) -> None:
    records = [customer("C1")]
    records += [
        invoice(f"I{n}", str(a), issued="2026-06-01", due="2026-07-01")
        for n, a in enumerate(amounts)
    ]
    ledger, _ = build(*records)
    total = sum(amounts, D(0))
    exact = reconcile(
        ledger,
        AS_OF,
        _control(("C1", "USD", str(total))),
        tolerance=D("0.01"),
        max_portfolio_share=0,
    )
    assert exact.unreconciled_ids() == frozenset()
    drifted = reconcile(
        ledger,
        AS_OF,
        _control(("C1", "USD", str(total + drift))),
        tolerance=D("0.01"),
        max_portfolio_share=0,
    )
    assert (drifted.unreconciled_ids() == {"C1"}) is (abs(drift) > D("0.01"))
    assert drifted.customers["difference"].iloc[0] == -drift


def test_a_complete_list_counts_the_customers_at_zero_on_both_sides_as_agreeing() -> None:
    ledger, _ = build(
        customer("C1"),
        customer("C2"),
        invoice("I1", "100.00", issued="2026-06-01", due="2026-07-01"),
        invoice("I2", "50.00", "0", customer_id="C2", issued="2026-06-01", due="2026-07-01"),
    )
    result = reconcile(
        ledger,
        AS_OF,
        _control(("C1", "USD", "100"), ("C9", "USD", "0"), every=True),
        tolerance=D("0.01"),
        max_portfolio_share=0,
    )
    assert dict(zip(result.customers["customer_id"], result.customers["status"], strict=True)) == {
        "C1": RECONCILED,
        "C2": RECONCILED,  # paid up, and the ERP lists only the customers that owe
    }
