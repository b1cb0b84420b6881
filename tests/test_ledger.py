"""Ledger-wide rules: each bad record is quarantined with its reason, the rest is kept."""

from __future__ import annotations

from decimal import Decimal

import pytest
from factories import build, credit_memo, customer, invoice, payment
from pydantic import ValidationError

from arsync.ledger import LedgerBuilder
from arsync.quarantine import Action
from arsync.records import Application, Invoice, Payment


def test_good_ledger_has_typed_frames_in_minor_units() -> None:
    ledger, quarantine = build(
        customer("C1", credit_limit=Decimal("5000")),
        invoice("I1", "1234.56", "234.56", issued="2026-01-01", due="2026-01-31"),
        payment("P1", "1500", received="2026-02-01", applied={"I1": "1000"}),
    )

    assert list(quarantine) == []
    assert ledger.customers["credit_limit_minor"].tolist() == [500000]
    assert ledger.invoices[["total_minor", "open_minor"]].values.tolist() == [[123456, 23456]]
    assert ledger.payments["unapplied_minor"].tolist() == [50000]
    assert ledger.applications["amount_minor"].tolist() == [100000]
    assert str(ledger.applications["applied_date"].iloc[0].date()) == "2026-02-01"


def test_records_of_unknown_customers_are_quarantined() -> None:
    ledger, quarantine = build(
        customer("C1"),
        invoice("I1", "10", issued="2026-01-01", due="2026-01-31", customer_id="C9"),
        payment("P1", "10", received="2026-01-05", customer_id="C9"),
    )

    assert ledger.invoices.empty
    assert ledger.payments.empty
    assert [(e.record_id, e.rule, e.location) for e in quarantine] == [
        ("I1", "unknown_customer", "test:2"),
        ("P1", "unknown_customer", "test:3"),
    ]
    assert "'C9' is not in the customer data" in next(iter(quarantine)).reason


def test_identical_duplicates_merge_and_conflicting_ones_are_all_rejected() -> None:
    """An identical copy is folded into the first (counted, not quarantined: nothing is
    wrong with the data); copies that disagree are all rejected, each naming every copy."""
    same = invoice("I1", "10", issued="2026-01-01", due="2026-01-31")
    builder = LedgerBuilder()
    for number, record in enumerate(
        [
            customer("C1"),
            same,
            same,
            invoice("I2", "10", issued="2026-01-01", due="2026-01-31"),
            invoice("I2", "20", issued="2026-01-01", due="2026-01-31"),
        ],
        start=1,
    ):
        builder.add(record, f"test:{number}")
    ledger = builder.build()

    assert ledger.invoices["invoice_id"].tolist() == ["I1"]
    assert [(e.record_id, e.rule) for e in builder.quarantine] == [
        ("I2", "conflicting_duplicate_id"),
        ("I2", "conflicting_duplicate_id"),
    ]
    assert all("(test:4, test:5)" in e.reason for e in builder.quarantine)
    assert builder.merged == [("invoice", "I1", "test:2", "test:3")]
    assert builder.accounting()["invoice"].as_dict() == {
        "read": 0,
        "ledger": 1,
        "quarantined": 2,
        "merged": 1,
    }


def test_unknown_currency_is_rejected_with_the_known_ones_named() -> None:
    ledger, quarantine = build(
        customer("C1"),
        invoice("I1", "10", issued="2026-01-01", due="2026-01-31", currency="GBP"),
        currencies={"USD", "EUR"},
    )

    assert ledger.invoices.empty
    entry = next(iter(quarantine))
    assert entry.rule == "unknown_currency"
    assert entry.reason == "currency GBP has no FX rate in the settings (known: EUR, USD)"


def test_bad_application_is_quarantined_alone_and_keeps_its_cash_applied() -> None:
    ledger, quarantine = build(
        customer("C1"),
        customer("C2"),
        invoice("I1", "100", "40", issued="2026-01-01", due="2026-01-31"),
        invoice("I2", "50", issued="2026-01-01", due="2026-01-31", customer_id="C2"),
        payment("P1", "100", received="2026-02-01", applied={"I1": "60", "I9": "30", "I2": "5"}),
    )

    assert ledger.applications["invoice_id"].tolist() == ["I1"]
    # 100 received, 95 declared as applied: 5 unapplied, never 40.
    assert ledger.payments["unapplied_minor"].tolist() == [500]
    assert [(e.record_type, e.record_id, e.rule) for e in quarantine] == [
        ("payment_application", "P1->I9", "unknown_invoice"),
        ("payment_application", "P1->I2", "foreign_invoice"),
    ]


def test_credit_memo_in_another_currency_than_the_invoice_is_not_applied() -> None:
    ledger, quarantine = build(
        customer("C1"),
        invoice("I1", "100", issued="2026-01-01", due="2026-01-31"),
        credit_memo("CM1", "10", dated="2026-01-10", currency="EUR", applied={"I1": "10"}),
    )

    assert ledger.applications.empty
    assert [e.rule for e in quarantine] == ["currency_mismatch"]


def test_unknown_parent_is_cleared_and_reported_not_dropped() -> None:
    ledger, quarantine = build(customer("C1", parent_id="P404"))

    assert ledger.customers["customer_id"].tolist() == ["C1"]
    assert ledger.customers["parent_id"].isna().tolist() == [True]
    entry = next(iter(quarantine))
    assert (entry.rule, entry.action) == ("unknown_parent", Action.CORRECTED)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"due_date": "2025-12-01"}, "due date 2025-12-01 is before issue date 2026-01-01"),
        ({"open_balance": "11"}, "open balance 11 exceeds invoice total 10"),
        ({"total": "-1", "open_balance": "0"}, "greater than or equal to 0"),
        ({"status": "paid"}, "status is paid but open balance is 10"),
        ({"currency": "usd1"}, "should match pattern"),
    ],
)
def test_invoice_rules(fields: dict[str, str], message: str) -> None:
    base = {
        "id": "I1",
        "customer_id": "C1",
        "issue_date": "2026-01-01",
        "due_date": "2026-01-31",
        "currency": "USD",
        "total": "10",
        "open_balance": "10",
    }
    with pytest.raises(ValidationError, match=message):
        Invoice.model_validate({**base, **fields})


def test_payment_cannot_apply_more_than_it_brought() -> None:
    with pytest.raises(ValidationError, match="applications total 12 exceeds the amount 10"):
        Payment(
            id="P1",
            customer_id="C1",
            received_date="2026-01-01",  # type: ignore[arg-type]  # pydantic parses it
            currency="USD",
            amount=Decimal(10),
            applications=(
                Application(invoice_id="I1", amount=Decimal(7)),
                Application(invoice_id="I2", amount=Decimal(5)),
            ),
        )
