"""Text columns of an export become the typed columns of a record frame, vectorised.

Each column is parsed the way `CellParser` parses one cell, with the same rules and the same
messages, but not once per cell: the common shapes (plain and grouped numbers, date-times that
print back exactly as written) are parsed for the whole column at once, and everything else is
parsed once per distinct value and spread back by code. Dates, ids, flags and picklist values
have few distinct values; amounts and time stamps take the vectorised path. A cell that does
not parse quarantines its row, naming every bad column of the row at once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from arsync.frames import FIELDS, LOCATION, MONEY_SCALE, STREAM, RecordFrame
from arsync.quarantine import QuarantineEntry
from connector.erp.files.mapping import RECORD_MODELS, ColumnSpec, Formats
from connector.erp.files.table import TextTable
from connector.erp.files.values import CellError, CellParser, field_type

_MAX_WHOLE_DIGITS = 14  # canonical money: 18 digits, 4 of them after the point
_MAX_PLACES = 4
_DOCUMENT_TYPES = {"payment_applications": "payment", "credit_memo_applications": "credit_memo"}
_KINDS = {
    "customers": "customer",
    "invoices": "invoice",
    "payments": "payment",
    "credit_memos": "credit_memo",
    "payment_applications": "application",
    "credit_memo_applications": "application",
}
_NO_VALUE = object()


class _Column:
    """One parsed column: values (typed, missing where empty or bad) and a message per bad row."""

    def __init__(self, values: pd.Series, errors: np.ndarray) -> None:
        self.values = values
        self.errors = errors  # object array: None, or the message for that row


def typed_batch(
    file_kind: str, table: TextTable, columns: dict[str, ColumnSpec], formats: Formats
) -> tuple[RecordFrame, list[QuarantineEntry]]:
    """The table's rows as a RecordFrame of their kind, and an entry for each row with a cell
    that does not parse (those rows are not in the frame)."""
    kind = _KINDS[file_kind]
    parser = CellParser(formats)
    model = RECORD_MODELS[file_kind]
    rows = len(table.lines)
    parsed: dict[str, _Column] = {}
    for name, spec in columns.items():
        target = field_type(model.model_fields[name].annotation)
        parsed[name] = _parse(table.columns[spec.column], target, spec, parser, formats)
    bad = np.zeros(rows, dtype=bool)
    for column in parsed.values():
        bad |= pd.notna(column.errors)
    entries = _entries(file_kind, table, columns, parsed, np.flatnonzero(bad))
    good = ~bad
    frame = pd.DataFrame(
        {
            name: _empty(dtype, rows) if name not in parsed else parsed[name].values
            for name, dtype in FIELDS[kind].items()
        }
    )
    if kind == "application":
        frame["document_type"] = pd.Series([_DOCUMENT_TYPES[file_kind]] * rows, dtype="string")
    frame[LOCATION] = pd.Series(table.name + ":" + pd.Series(table.lines).astype(str))
    frame[LOCATION] = frame[LOCATION].astype("string")
    frame[STREAM] = pd.Series([table.name] * rows, dtype="string")
    frame = frame[good].reset_index(drop=True)
    labels = {name: f"column {spec.column!r}" for name, spec in columns.items()}
    return RecordFrame(kind, frame, labels), entries


def _entries(
    file_kind: str,
    table: TextTable,
    columns: dict[str, ColumnSpec],
    parsed: dict[str, _Column],
    rows: np.ndarray,
) -> list[QuarantineEntry]:
    record_type = {**_KINDS, "payment_applications": "payment_application"}.get(file_kind)
    if file_kind == "credit_memo_applications":
        record_type = "credit_memo_application"
    entries = []
    for row in rows:
        problems = [
            f"column {columns[name].column!r}: {column.errors[row]}"
            for name, column in parsed.items()
            if column.errors[row] is not None
        ]
        entries.append(
            QuarantineEntry(
                record_type=str(record_type),
                record_id=_record_id(file_kind, parsed, int(row)),
                location=table.location(int(table.lines[row])),
                rule="invalid_record",
                reason="; ".join(problems),
            )
        )
    return entries


def _record_id(file_kind: str, parsed: dict[str, _Column], row: int) -> str | None:
    key = "document_id" if file_kind.endswith("_applications") else "id"
    own = _text_at(parsed.get(key), row)
    if file_kind.endswith("_applications") and own is not None:
        target = _text_at(parsed.get("invoice_id"), row)
        return f"{own}->{target}" if target is not None else own
    return own


def _text_at(column: _Column | None, row: int) -> str | None:
    if column is None or column.errors[row] is not None:
        return None
    value = column.values.iloc[row]
    return None if pd.isna(value) else str(value)


def _empty(dtype: str, rows: int) -> pd.Series:
    return pd.Series(index=pd.RangeIndex(rows), dtype=dtype)


def _parse(
    raw: pd.Series, target: type, spec: ColumnSpec, parser: CellParser, formats: Formats
) -> _Column:
    text = _stripped(raw)
    if text is not None and not spec.values:
        if target is str:
            return _Column(_strings(text), np.full(len(text), None, dtype=object))
        if target is Decimal:
            return _money(text, spec, parser, formats)
        if target is dt.datetime:
            return _timestamps(text, spec, parser, formats)
    return _by_distinct_value(raw if text is None else _series(text), target, spec, parser)


def _stripped(raw: pd.Series) -> pa.ChunkedArray | None:
    """Text cells without surrounding white space, as Arrow strings; None for typed cells
    (an XLSX sheet), which go the per-value way."""
    if not isinstance(raw.dtype, pd.ArrowDtype):
        return None
    return pc.utf8_trim_whitespace(raw.array.__arrow_array__())


def _series(text: pa.ChunkedArray) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(text))


def _strings(text: pa.ChunkedArray) -> pd.Series:
    empty = pc.equal(text, "")
    return pd.Series(pc.if_else(empty, None, text).to_pandas(), dtype="string[pyarrow]")


def _money(
    text: pa.ChunkedArray, spec: ColumnSpec, parser: CellParser, formats: Formats
) -> _Column:
    """Plain and grouped numbers in the mapping's convention, as integers of 1/10,000."""
    decimal = re.escape(formats.decimal_separator)
    if formats.thousands_separator:
        group = re.escape(formats.thousands_separator)
        shape = rf"^[+-]?(?:\d{{1,3}}(?:{group}\d{{3}})+|\d+)(?:{decimal}\d*)?$"
    else:
        shape = rf"^[+-]?\d+(?:{decimal}\d*)?$"
    fast = pc.fill_null(pc.match_substring_regex(text, shape), False)
    plain = text
    if formats.thousands_separator:
        plain = pc.replace_substring(plain, formats.thousands_separator, "")
    if formats.decimal_separator != ".":
        plain = pc.replace_substring(plain, formats.decimal_separator, ".")
    parts = pc.extract_regex(plain, r"^(?P<sign>[+-]?)(?P<whole>\d+)(?:\.(?P<frac>\d*))?$")
    whole = pc.utf8_ltrim(pc.struct_field(parts, "whole"), "0")
    frac = pc.utf8_rtrim(pc.fill_null(pc.struct_field(parts, "frac"), ""), "0")
    fits = pc.and_(
        pc.less_equal(pc.utf8_length(whole), _MAX_WHOLE_DIGITS),
        pc.less_equal(pc.utf8_length(frac), _MAX_PLACES),
    )
    fast = pc.and_(fast, pc.fill_null(fits, False))
    whole_value = pc.cast(pc.if_else(pc.equal(whole, ""), "0", whole), pa.int64(), safe=False)
    frac_value = pc.cast(pc.utf8_rpad(frac, _MAX_PLACES, "0"), pa.int64(), safe=False)
    magnitude = pc.add(pc.multiply(whole_value, MONEY_SCALE), frac_value)
    negative = pc.equal(pc.struct_field(parts, "sign"), "-")
    value = pc.if_else(pc.fill_null(negative, False), pc.negate(magnitude), magnitude)
    values = pd.Series(pc.if_else(fast, value, None).to_pandas(), dtype="Int64")
    errors = np.full(len(text), None, dtype=object)
    slow = ~np.asarray(fast.to_numpy(zero_copy_only=False), dtype=bool)
    empty = np.asarray(pc.equal(text, "").to_numpy(zero_copy_only=False), dtype=bool)
    slow &= ~empty
    if slow.any():
        rest = _by_distinct_value(_series(text).iloc[np.flatnonzero(slow)], Decimal, spec, parser)
        values.iloc[np.flatnonzero(slow)] = rest.values.to_numpy()
        errors[slow] = rest.errors
    return _Column(values, errors)


def _timestamps(
    text: pa.ChunkedArray, spec: ColumnSpec, parser: CellParser, formats: Formats
) -> _Column:
    """Date-times that print back exactly as written are read at once; the rest one by one."""
    parsed = pc.strptime(text, format=formats.datetime, unit="s", error_is_null=True)
    if parsed.type.tz is None:
        parsed = pc.assume_timezone(parsed, "UTC")
    printed = pc.strftime(parsed, format=formats.datetime)
    exact = pc.fill_null(pc.equal(printed, text), False)
    values = pd.Series(
        pc.if_else(exact, parsed, pa.scalar(None, parsed.type)).to_pandas(),
        dtype="datetime64[s, UTC]",
    )
    errors = np.full(len(text), None, dtype=object)
    empty = np.asarray(pc.equal(text, "").to_numpy(zero_copy_only=False), dtype=bool)
    slow = ~np.asarray(exact.to_numpy(zero_copy_only=False), dtype=bool) & ~empty
    if slow.any():
        rest = _by_distinct_value(
            _series(text).iloc[np.flatnonzero(slow)], dt.datetime, spec, parser
        )
        values.iloc[np.flatnonzero(slow)] = rest.values.to_numpy()
        errors[slow] = rest.errors
    return _Column(values, errors)


def _by_distinct_value(
    raw: pd.Series, target: type, spec: ColumnSpec, parser: CellParser
) -> _Column:
    """Each distinct cell parsed once by the one-cell parser, spread back by code."""
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    convert = _CONVERT[target] if target in _CONVERT else _CONVERT[str]
    results: list[Any] = []
    messages: list[str | None] = []
    for value in list(uniques):
        try:
            results.append(convert(parser.parse(value, target, spec)))
            messages.append(None)
        except CellError as error:
            results.append(None)
            messages.append(str(error))
    # An empty cell: None, except for a yes/no field, whose empty spelling may mean "no".
    try:
        empty_value, empty_error = convert(parser.parse(None, target, spec)), None
    except CellError as error:
        empty_value, empty_error = None, str(error)
    table = np.empty(len(results) + 1, dtype=object)
    table[:-1], table[-1] = results, empty_value
    errors = np.empty(len(messages) + 1, dtype=object)
    errors[:-1], errors[-1] = messages, empty_error
    taken = np.where(codes < 0, len(results), codes)
    return _Column(
        pd.Series(table[taken], dtype=_DTYPES.get(target, "string[pyarrow]")), errors[taken]
    )


def _to_scaled(value: object) -> int | None:
    """A Decimal as integer 1/10,000s, refused past the canonical money's digits."""
    if value is None:
        return None
    if not isinstance(value, Decimal):
        raise CellError(f"{value!r} is not a number")
    normal = value.normalize()
    exponent = int(normal.as_tuple().exponent)
    if -exponent > _MAX_PLACES:
        raise CellError(f"Decimal input should have no more than {_MAX_PLACES} decimal places")
    whole = len(str(abs(int(normal))).lstrip("0"))
    if whole > _MAX_WHOLE_DIGITS:
        raise CellError(
            f"Decimal input should have no more than {_MAX_WHOLE_DIGITS} digits before the "
            "decimal point"
        )
    return int(value.scaleb(_MAX_PLACES))


def _to_date(value: object) -> np.datetime64 | None:
    if not isinstance(value, dt.date):
        return None
    return np.datetime64(dt.datetime.combine(value, dt.time()), "s")


def _to_timestamp(value: object) -> pd.Timestamp | None:
    return pd.Timestamp(value) if isinstance(value, dt.datetime) else None


def _same(value: object) -> object:
    return value


_CONVERT: dict[type, Callable[[object], Any]] = {
    Decimal: _to_scaled,
    dt.date: _to_date,
    dt.datetime: _to_timestamp,
    int: _same,
    bool: _same,
    str: _same,
}
_DTYPES: dict[type, str] = {
    Decimal: "Int64",
    dt.date: "datetime64[s]",
    dt.datetime: "datetime64[s, UTC]",
    int: "Int64",
    bool: "boolean",
    str: "string[pyarrow]",
}
