"""Small builders for hand-made ledgers: every test states only what matters to it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from arsync.ledger import Ledger, LedgerBuilder
from arsync.quarantine import Quarantine
from arsync.records import Application, CanonicalRecord, CreditMemo, Customer, Invoice, Payment

D = Decimal


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def customer(id: str = "C1", **fields: Any) -> Customer:
    return Customer(**{"id": id, "name": f"Customer {id}", "currency": "USD", **fields})


def invoice(
    id: str, total: str, open_balance: str | None = None, *, issued: str, due: str, **fields: Any
) -> Invoice:
    balance = D(total if open_balance is None else open_balance)
    status = "paid" if balance == 0 else "open"
    return Invoice(
        **{
            "id": id,
            "customer_id": "C1",
            "issue_date": day(issued),
            "due_date": day(due),
            "currency": "USD",
            "total": D(total),
            "open_balance": balance,
            "status": status,
            **fields,
        }
    )


def payment(
    id: str, amount: str, *, received: str, applied: dict[str, str] | None = None, **fields: Any
) -> Payment:
    applications = tuple(
        Application(invoice_id=invoice_id, amount=D(value))
        for invoice_id, value in (applied or {}).items()
    )
    return Payment(
        **{
            "id": id,
            "customer_id": "C1",
            "received_date": day(received),
            "currency": "USD",
            "amount": D(amount),
            "applications": applications,
            **fields,
        }
    )


def credit_memo(
    id: str, amount: str, *, dated: str, applied: dict[str, str] | None = None, **fields: Any
) -> CreditMemo:
    applications = tuple(
        Application(invoice_id=invoice_id, amount=D(value))
        for invoice_id, value in (applied or {}).items()
    )
    return CreditMemo(
        **{
            "id": id,
            "customer_id": "C1",
            "date": day(dated),
            "currency": "USD",
            "amount": D(amount),
            "applications": applications,
            **fields,
        }
    )


def build(
    *records: CanonicalRecord, currencies: set[str] | None = None
) -> tuple[Ledger, Quarantine]:
    builder = LedgerBuilder(currencies=currencies)
    for number, record in enumerate(records, start=1):
        builder.add(record, f"test:{number}")
    return builder.build(), builder.quarantine
