"""Turning an API payload into a canonical record, or into a quarantine entry in the ERP's words.

Every API source validates the same way; only the names differ: a reason names the ERP's own
field (`remainingAmount`, `foreignamountunpaid`), which is what its admin can look up. A mapping
raises (`UnmappableError`, or pydantic's `ValidationError`); the shared base,
`connector.erp.base.ApiSource._convert`, catches it per record and words it here (`rejected`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from arsync.errors import SkippableError
from arsync.located import error_loc
from arsync.quarantine import QuarantineEntry


class UnmappableError(SkippableError):
    """A payload arsync cannot turn into a record; the message says why, in the ERP's terms.

    `rule` is `invalid_record` unless the mapping knows a more telling one (`unknown_status`,
    `payment_reversal`); `location` is where the fault is when that is a part of the record
    (a payment's journal line), else the record's own location is used."""

    def __init__(
        self, reason: str, *, rule: str = "invalid_record", location: str | None = None
    ) -> None:
        super().__init__(rule, reason)
        self.location = location


def text(record: Mapping[str, object], name: str) -> str | None:
    """A field as trimmed text; None when absent, null or blank."""
    value = record.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def money(value: object, name: str) -> Decimal:
    """A required amount (a JSON number, or its text) as an exact Decimal, through its text,
    never through binary float; empty or not a number: UnmappableError, in the ERP's `name`."""
    if value is None or value == "" or isinstance(value, bool):
        raise UnmappableError(f"{name} is empty")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise UnmappableError(f"{name} is not a number (got {value!r})") from None
    if not amount.is_finite():
        raise UnmappableError(f"{name} is not a number (got {value!r})")
    return amount


def optional_money(value: object, name: str) -> Decimal | None:
    """An amount the ERP may leave out: None when it is absent or empty; anything else must
    be a number (`money`), never taken as missing."""
    if value is None or value == "":
        return None
    return money(value, name)


def money_of(record: Mapping[str, object], name: str) -> Decimal:
    """The record's required amount `name` (`money`), as the ERP names the field."""
    return money(record.get(name), name)


def optional_money_of(record: Mapping[str, object], name: str) -> Decimal | None:
    """The record's amount `name` that may be left out (`optional_money`)."""
    return optional_money(record.get(name), name)


def rejected(
    record_type: str,
    record_id: object,
    location: str,
    error: SkippableError | ValidationError,
    names: Mapping[str, str],
) -> QuarantineEntry:
    """The quarantine entry for a payload a mapping refused: its own rule and reason (at the
    part it names, if it names one), or pydantic's complaints in the ERP's field `names`."""
    if isinstance(error, ValidationError):
        return quarantined(
            record_type, record_id, location, "invalid_record", validation_reason(error, names)
        )
    if isinstance(error, UnmappableError) and error.location is not None:
        location = error.location
    return quarantined(record_type, record_id, location, error.rule, error.reason)


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


def validation_reason(
    error: ValidationError,
    names: Mapping[str, str],
    empty: str = "{} is empty",
    *,
    as_named: bool = True,
) -> str:
    """Pydantic's errors with canonical field names replaced by the source's (`names`: the
    ERP's field, the export's column, `column 'DUE_DT'`), a missing value said by `empty`.
    `as_named` (the APIs): a field without a name is named as itself, and a null value is
    missing; otherwise (files, SQL) such a field is spoken of plainly."""
    reasons = []
    for detail in error.errors(include_url=False):
        loc = detail["loc"] or error_loc(detail)
        field = str(loc[0]) if loc else ""
        message = detail["msg"].removeprefix("Value error, ")
        name = names.get(field, field if as_named else None)
        if name is None and detail["type"] == "missing":
            reasons.append(f"{field} is missing")
        elif name is None:
            reasons.append(f"{field}: {message}" if field else message)
        elif detail["type"] == "missing" or (as_named and detail["input"] is None):
            reasons.append(empty.format(name))
        elif detail["loc"]:
            reasons.append(f"{name}: {message} (got {detail['input']!r})")
        else:
            reasons.append(f"{name}: {message}" if name else message)
    return "; ".join(reasons)
