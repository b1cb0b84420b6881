"""Canonical records: what every ERP source yields and what scoring reads.

Each model checks the rules that one record can check on its own (a due date before the issue
date, a negative total, applications worth more than the payment). Rules that need the whole
ledger (unknown customer, duplicate id, unknown currency) live in `arsync.ledger`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from arsync.located import LocatedError
from arsync.money import MONEY_PLACES, MONEY_WHOLE_DIGITS

RecordId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
CurrencyCode = Annotated[
    str,
    # Upper-cased before the pattern is checked: "usd" is a currency code, written small.
    BeforeValidator(lambda value: value.strip().upper() if isinstance(value, str) else value),
    StringConstraints(pattern=r"^[A-Z]{3}$"),
]
Money = Annotated[
    Decimal,
    Field(
        max_digits=MONEY_WHOLE_DIGITS + MONEY_PLACES,
        decimal_places=MONEY_PLACES,
        allow_inf_nan=False,
    ),
]
PositiveMoney = Annotated[Money, Field(gt=0)]
NonNegativeMoney = Annotated[Money, Field(ge=0)]


class DeliveryMode(StrEnum):
    """How the customer receives invoices; paper is slow, e-invoicing is fast."""

    PAPER = "paper"
    EMAIL = "email"
    PORTAL = "portal"
    EDI = "edi"


class PaymentMethod(StrEnum):
    """How the customer usually pays; checks take days to post."""

    CHECK = "check"
    ACH = "ach"
    CARD = "card"
    WIRE = "wire"
    OTHER = "other"


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class Record(BaseModel):
    """Immutable, strict about unknown fields, so a source cannot smuggle data through."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Customer(Record):
    id: RecordId
    name: Annotated[str, StringConstraints(min_length=1)]
    currency: CurrencyCode
    credit_limit: NonNegativeMoney | None = None
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] = 30
    industry: str | None = None
    invoice_delivery: DeliveryMode | None = None
    payment_method: PaymentMethod | None = None
    parent_id: RecordId | None = None
    crm_account_id: RecordId | None = None

    @model_validator(mode="after")
    def _not_own_parent(self) -> Self:
        if self.parent_id == self.id:
            raise LocatedError("customer is its own parent", "parent_id")
        return self


class Invoice(Record):
    id: RecordId
    number: str | None = None
    customer_id: RecordId
    issue_date: dt.date
    due_date: dt.date
    currency: CurrencyCode
    total: NonNegativeMoney
    open_balance: NonNegativeMoney
    status: InvoiceStatus = InvoiceStatus.OPEN
    disputed: bool = False
    dispute_reason: str | None = None
    last_modified: dt.datetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.due_date < self.issue_date:
            message = f"due date {self.due_date} is before issue date {self.issue_date}"
            raise LocatedError(message, "due_date")
        if self.open_balance > self.total:
            message = f"open balance {self.open_balance} exceeds invoice total {self.total}"
            raise LocatedError(message, "open_balance")
        if self.status is InvoiceStatus.PAID and self.open_balance != 0:
            message = f"status is paid but open balance is {self.open_balance}"
            raise LocatedError(message, "status")
        return self


class Application(Record):
    """Part of a payment or credit memo applied to one invoice."""

    invoice_id: RecordId
    amount: PositiveMoney
    applied_date: dt.date | None = None


class _AppliedDocument(Record):
    id: RecordId
    customer_id: RecordId
    currency: CurrencyCode
    amount: PositiveMoney
    applications: tuple[Application, ...] = ()

    @property
    def applied(self) -> Decimal:
        return sum((a.amount for a in self.applications), Decimal(0))

    @property
    def unapplied(self) -> Decimal:
        """Cash (or credit) the customer has with us that no invoice has absorbed yet."""
        return self.amount - self.applied

    @model_validator(mode="after")
    def _not_over_applied(self) -> Self:
        if self.applied > self.amount:
            message = f"applications total {self.applied} exceeds the amount {self.amount}"
            raise LocatedError(message, "amount")
        return self


class Payment(_AppliedDocument):
    received_date: dt.date
    method: PaymentMethod | None = None


class CreditMemo(_AppliedDocument):
    date: dt.date
    reason: str | None = None


CanonicalRecord = Customer | Invoice | Payment | CreditMemo
