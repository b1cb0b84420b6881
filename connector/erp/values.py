"""Turning export cells (text from CSV, typed cells from XLSX) into canonical field values."""

from __future__ import annotations

import datetime as dt
import re
import types
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Union, get_args, get_origin

from connector.erp.record_columns import CellFormats, ColumnSpec


class CellError(ValueError):
    """A cell that cannot become its field's type; the message is shown to a finance admin."""


def aware(moment: dt.datetime) -> dt.datetime:
    """A zone-less time taken as UTC, the convention of exports and warehouses alike."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def iso_datetime(text: str, what: str = "timestamp") -> dt.datetime:
    """Any ISO 8601 spelling of a date or a time (space or T, fractions, Z, +HH:MM) as an
    aware time; CellError naming `what` was expected otherwise."""
    try:
        return aware(dt.datetime.fromisoformat(text))
    except ValueError:
        raise CellError(f"{text!r} is not an ISO 8601 {what}") from None


def field_type(annotation: Any) -> type:
    """The plain type a field holds: `Decimal | None` -> Decimal, `tuple[...]` -> tuple."""
    if get_origin(annotation) in {Union, types.UnionType}:
        members = [a for a in get_args(annotation) if a is not type(None)]
        annotation = members[0]
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    origin = get_origin(annotation)
    plain = origin if origin is not None else annotation
    return plain if isinstance(plain, type) else str


class CellParser:
    def __init__(self, formats: CellFormats) -> None:
        self._formats = formats
        self._true = {v.casefold() for v in formats.true_values}
        self._false = {v.casefold() for v in formats.false_values}
        # A number in the mapping's convention: digits grouped by threes with the thousands
        # separator, or not grouped at all. "5306,62" under a dot mapping is refused, never
        # read as 530662.
        point, group = re.escape(formats.decimal_separator), re.escape(formats.thousands_separator)
        whole = rf"(?:\d{{1,3}}(?:{group}\d{{3}})+|\d+)" if group else r"\d+"
        self._shape = re.compile(rf"^[+-]?(?:{whole}(?:{point}\d*)?|{point}\d+)(?:[eE][+-]?\d+)?$")
        self._example = f"1{formats.thousands_separator}234{formats.decimal_separator}56"
        self._converters: dict[type, Callable[[object], object]] = {
            dt.datetime: self._datetime,
            dt.date: self._date,
            Decimal: self._decimal,
            int: self._integer,
        }

    def parse(self, raw: object, target: type, spec: ColumnSpec) -> object:
        """The cell as `target`, or None when it is empty; CellError when it cannot be."""
        if isinstance(raw, str):
            raw = raw.strip()
            if spec.values:
                raw = spec.values.get(raw, raw)
        if target is bool:
            return self._boolean(raw)
        if raw is None or raw == "":
            return None
        convert = self._converters.get(target)
        return convert(raw) if convert is not None else str(raw)

    def _boolean(self, raw: object) -> bool:
        if isinstance(raw, bool):
            return raw
        text = "" if raw is None else str(raw).strip().casefold()
        if text in self._true:
            return True
        if text in self._false:
            return False
        expected = ", ".join(sorted(self._true | self._false - {""}))
        raise CellError(f"{raw!r} is not a yes/no value (expected one of: {expected})")

    def _date(self, raw: object) -> dt.date:
        if isinstance(raw, dt.datetime):
            return raw.date()
        if isinstance(raw, dt.date):
            return raw
        spelling = self._formats.date
        if spelling is None:
            return iso_datetime(str(raw), "date (2026-06-30)").date()
        try:
            return dt.datetime.strptime(str(raw), spelling).date()  # noqa: DTZ007 - a calendar date has no zone
        except ValueError:
            raise CellError(f"{raw!r} is not a date in the format {spelling!r}") from None

    def _datetime(self, raw: object) -> dt.datetime:
        if isinstance(raw, dt.datetime):
            return aware(raw)
        if isinstance(raw, dt.date):
            return dt.datetime.combine(raw, dt.time(), dt.UTC)
        spelling = self._formats.datetime
        if spelling is None:
            return iso_datetime(str(raw), "timestamp (2026-06-30 17:45:00+00:00)")
        try:
            parsed = dt.datetime.strptime(str(raw), spelling)  # noqa: DTZ007 - zone added below when absent
        except ValueError:
            raise CellError(f"{raw!r} is not a date and time in the format {spelling!r}") from None
        return aware(parsed)

    def _decimal(self, raw: object) -> Decimal:
        if isinstance(raw, bool):
            raise CellError(f"{raw!r} is not a number")
        if isinstance(raw, int | float | Decimal):
            return Decimal(str(raw))
        text = str(raw)
        if not self._shape.match(text):
            raise CellError(
                f"{raw!r} is not a number written as {self._example} (decimal separator "
                f"{self._formats.decimal_separator!r}, thousands separator "
                f"{self._formats.thousands_separator or 'none'!r})"
            )
        if self._formats.thousands_separator:
            text = text.replace(self._formats.thousands_separator, "")
        text = text.replace(self._formats.decimal_separator, ".")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise CellError(f"{raw!r} is not a number") from None
        if not value.is_finite():
            raise CellError(f"{raw!r} is not a finite number")
        return value

    def _integer(self, raw: object) -> int:
        value = self._decimal(raw)
        if value != value.to_integral_value():
            raise CellError(f"{raw!r} is not a whole number")
        return int(value)
