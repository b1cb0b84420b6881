"""Turning an API payload into a canonical record, or into a quarantine entry in the ERP's words.

Every API source validates the same way; only the names differ: a reason names the ERP's own
field (`remainingAmount`, `foreignamountunpaid`), which is what its admin can look up.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from arsync.errors import SkippableError
from arsync.located import error_loc
from arsync.quarantine import QuarantineEntry
from arsync.records import CreditMemo, Customer, Invoice, Payment
from connector.erp.base import Pulled

Model = type[Customer] | type[Invoice] | type[Payment] | type[CreditMemo]


class UnmappableError(SkippableError):
    """A payload arsync cannot turn into a record; the message says why, in the ERP's terms."""

    def __init__(self, reason: str) -> None:
        super().__init__("invalid_record", reason)


def money(value: object, name: str) -> Decimal:
    """A required amount (a JSON number, or its text) as an exact Decimal, through its text,
    never through binary float; empty or not a number: UnmappableError, in the ERP's `name`."""
    if value is None or isinstance(value, bool):
        raise UnmappableError(f"{name} is empty")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise UnmappableError(f"{name} is not a number (got {value!r})") from None


def rejected(
    record_type: str,
    record_id: object,
    location: str,
    error: SkippableError | ValidationError,
    names: Mapping[str, str],
) -> QuarantineEntry:
    """The quarantine entry for a payload a mapping refused: its own rule and reason, or
    pydantic's complaints in the ERP's field `names`."""
    if isinstance(error, ValidationError):
        return quarantined(
            record_type, record_id, location, "invalid_record", validation_reason(error, names)
        )
    return quarantined(record_type, record_id, location, error.rule, error.reason)


def validated(
    model: Model,
    data: Mapping[str, Any],
    record_type: str,
    location: str,
    names: Mapping[str, str],
) -> Pulled | QuarantineEntry:
    """The record, or its quarantine entry with the reason in the ERP's field `names`."""
    try:
        record = model.model_validate(data)
    except ValidationError as error:
        why = validation_reason(error, names)
        return quarantined(record_type, data.get("id"), location, "invalid_record", why)
    return Pulled(record, location)


def quarantined(
    record_type: str, record_id: object, location: str, rule: str, why: str
) -> QuarantineEntry:
    return QuarantineEntry(
        record_type=record_type,
        record_id=None if record_id is None else str(record_id),
        location=location,
        rule=rule,
        reason=why,
    )


def validation_reason(error: ValidationError, names: Mapping[str, str]) -> str:
    """Pydantic's errors with canonical field names replaced by the ERP's (`names`)."""
    reasons = []
    for detail in error.errors(include_url=False):
        loc = detail["loc"] or error_loc(detail)
        field = str(loc[0]) if loc else ""
        name = names.get(field, field)
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "missing" or detail["input"] is None:
            reasons.append(f"{name} is empty")
        elif detail["loc"]:
            reasons.append(f"{name}: {message} (got {detail['input']!r})")
        else:
            reasons.append(f"{name}: {message}" if name else message)
    return "; ".join(reasons)
