"""Canonical records: what every ERP source yields and what scoring reads.

Each model checks the rules that one record can check on its own (a due date before the issue
date, a negative total, applications worth more than the payment). Rules that need the whole
ledger (unknown customer, duplicate id, unknown currency) live in `arsync.ledger`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Self, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticKnownError

from arsync.located import LocatedError
from arsync.money import DEFAULT_MONEY_PLACES, MONEY_DIGITS

RecordId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
CurrencyCode = Annotated[
    str,
    # Upper-cased before the pattern is checked: "usd" is a currency code, written small.
    BeforeValidator(lambda value: value.strip().upper() if isinstance(value, str) else value),
    StringConstraints(pattern=r"^[A-Z]{3}$"),
]
MONEY_PLACES_CONTEXT = "money_places"
"""The validation context key of the pull's money places (`arsync.money`): a source whose
frames keep fewer places validates with `context={MONEY_PLACES_CONTEXT: places}`, so its
amounts may have more digits before the point. Without it, `DEFAULT_MONEY_PLACES`."""


def _money_field(places: int, bound: str | None) -> Any:
    """Pydantic's own Decimal rules for amounts kept to `places` decimals (and a sign)."""
    sign: dict[str, Any] = {bound: 0} if bound else {}
    return Field(max_digits=MONEY_DIGITS, decimal_places=places, allow_inf_nan=False, **sign)


@cache
def _money_adapter(places: int, bound: str | None) -> TypeAdapter[Decimal]:
    money = Annotated[Decimal, _money_field(places, bound)]
    return TypeAdapter(money, config=ConfigDict(str_strip_whitespace=True))


def _money_of(bound: str | None) -> WrapValidator:
    """Money checked at the places of the validation context, in pydantic's own words: at
    the default places by the compiled schema itself (`handler`), at others by theirs."""

    def validate(
        value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Decimal:
        context = info.context
        places = (
            context.get(MONEY_PLACES_CONTEXT, DEFAULT_MONEY_PLACES)
            if isinstance(context, dict)
            else DEFAULT_MONEY_PLACES
        )
        if places == DEFAULT_MONEY_PLACES:
            return cast(Decimal, handler(value))
        try:
            return _money_adapter(int(places), bound).validate_python(value)
        except ValidationError as error:
            first = error.errors()[0]
            # The error pydantic raised, re-raised for this field: same type, same words. The
            # ignore: pydantic types `type` as a LiteralString of its known errors, ErrorDetails
            # as a plain str, though it is always one of them.
            raise PydanticKnownError(first["type"], first.get("ctx")) from None  # type: ignore[arg-type]

    return WrapValidator(validate)


_PLACES = DEFAULT_MONEY_PLACES
Money = Annotated[Decimal, _money_field(_PLACES, None), _money_of(None)]
PositiveMoney = Annotated[Decimal, _money_field(_PLACES, "gt"), _money_of("gt")]
NonNegativeMoney = Annotated[Decimal, _money_field(_PLACES, "ge"), _money_of("ge")]


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
