"""The one ledger every connector is fed, in canonical records.

It holds what each ERP can carry: several customers (one in EUR, one a child of another),
invoices open, paid, partly paid and void, payments applied to one or several invoices with
cash left unapplied, and a credit memo. `RICH_FIELDS` are the canonical fields some ERPs have no
place for; a connector declares which of them it cannot carry.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from arsync.records import (
    Application,
    CanonicalRecord,
    CreditMemo,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
)

D = Decimal
AS_OF = dt.date(2026, 6, 30)
RICH_FIELDS = {
    "customer": frozenset({"industry", "invoice_delivery", "payment_method", "crm_account_id"}),
    "invoice": frozenset({"disputed", "dispute_reason", "last_modified", "number"}),
    "payment": frozenset({"method"}),
    "credit_memo": frozenset({"reason"}),
}


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def contract_ledger() -> list[CanonicalRecord]:
    return [
        Customer(
            id="C1",
            name="Acme Corp",
            currency="USD",
            credit_limit=D("50000"),
            payment_terms_days=30,
        ),
        Customer(id="C2", name="Acme West", currency="USD", payment_terms_days=30, parent_id="C1"),
        Customer(
            id="C3",
            name="Bäckerei Müller GmbH",
            currency="EUR",
            credit_limit=D("20000"),
            payment_terms_days=14,
        ),
        Customer(id="C4", name="Quiet Customer", currency="USD", payment_terms_days=45),
        Invoice(
            id="I1",
            number="1001",
            customer_id="C1",
            issue_date=_day("2026-01-05"),
            due_date=_day("2026-02-04"),
            currency="USD",
            total=D("1200.00"),
            open_balance=D("0"),
            status=InvoiceStatus.PAID,
        ),
        Invoice(
            id="I2",
            number="1002",
            customer_id="C1",
            issue_date=_day("2026-04-01"),
            due_date=_day("2026-05-01"),
            currency="USD",
            total=D("800.00"),
            open_balance=D("300.00"),
        ),
        Invoice(
            id="I3",
            number="1003",
            customer_id="C1",
            issue_date=_day("2026-06-10"),
            due_date=_day("2026-07-10"),
            currency="USD",
            total=D("450.50"),
            open_balance=D("450.50"),
        ),
        Invoice(
            id="I4",
            number="1004",
            customer_id="C2",
            issue_date=_day("2026-02-15"),
            due_date=_day("2026-03-17"),
            currency="USD",
            total=D("2000.00"),
            open_balance=D("2000.00"),
        ),
        Invoice(
            id="I5",
            number="1005",
            customer_id="C3",
            issue_date=_day("2026-05-02"),
            due_date=_day("2026-05-16"),
            currency="EUR",
            total=D("999.99"),
            open_balance=D("0"),
            status=InvoiceStatus.PAID,
        ),
        Invoice(
            id="I6",
            number="1006",
            customer_id="C3",
            issue_date=_day("2026-06-01"),
            due_date=_day("2026-06-15"),
            currency="EUR",
            total=D("1500.00"),
            open_balance=D("1400.00"),
        ),
        Invoice(
            id="I7",
            number="1007",
            customer_id="C1",
            issue_date=_day("2026-03-01"),
            due_date=_day("2026-03-31"),
            currency="USD",
            total=D("300.00"),
            open_balance=D("0"),
            status=InvoiceStatus.VOID,
        ),
        Payment(
            id="P1",
            customer_id="C1",
            received_date=_day("2026-02-10"),
            currency="USD",
            amount=D("1200.00"),
            method=PaymentMethod.CHECK,
            applications=(
                Application(invoice_id="I1", amount=D("1200.00"), applied_date=_day("2026-02-10")),
            ),
        ),
        Payment(
            id="P2",
            customer_id="C1",
            received_date=_day("2026-05-20"),
            currency="USD",
            amount=D("600.00"),
            method=PaymentMethod.ACH,
            applications=(
                Application(invoice_id="I2", amount=D("500.00"), applied_date=_day("2026-05-20")),
            ),
        ),
        Payment(
            id="P3",
            customer_id="C3",
            received_date=_day("2026-05-18"),
            currency="EUR",
            amount=D("999.99"),
            method=PaymentMethod.WIRE,
            applications=(
                Application(invoice_id="I5", amount=D("999.99"), applied_date=_day("2026-05-18")),
            ),
        ),
        CreditMemo(
            id="CM1",
            customer_id="C3",
            date=_day("2026-06-05"),
            currency="EUR",
            amount=D("150.00"),
            applications=(
                Application(invoice_id="I6", amount=D("100.00"), applied_date=_day("2026-06-05")),
            ),
        ),
    ]
