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

from arsync import parallel
from arsync.frames import FIELDS, LINE, LOCATION, STREAM, RecordFrame
from arsync.money import DEFAULT_MONEY_PLACES, whole_digits
from arsync.quarantine import QuarantineEntry
from connector.erp.files.mapping import Formats
from connector.erp.files.table import TextTable
from connector.erp.record_columns import RECORD_MODELS, ColumnSpec, rejected_row
from connector.erp.values import CellError, CellParser, field_type

MONEY_PLACES = DEFAULT_MONEY_PLACES
"""A file's frames keep 4 places: an export's text says nothing of its amounts' scale, so
amounts have at most 14 digits before the point (`arsync.money`)."""
_MAX_WHOLE_DIGITS = whole_digits(MONEY_PLACES)
_MAX_PLACES = MONEY_PLACES
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
_ISO_DATE = "%Y-%m-%d"
_FIRST_DAY = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days  # Python's first, as Arrow's date32


class _Column:
    """One parsed column: values (typed, missing where empty or bad) and a message per bad row."""

    def __init__(self, values: pd.Series, errors: np.ndarray | None) -> None:
        self.values = values
        # object array: None, or the message for that row; None itself when no row is bad
        # (the common case, which then costs no array of two million Nones to scan)
        self.errors = errors

    def error(self, row: int) -> str | None:
        return None if self.errors is None else self.errors[row]


def typed_batch(
    file_kind: str, table: TextTable, columns: dict[str, ColumnSpec], formats: Formats
) -> tuple[RecordFrame, list[QuarantineEntry]]:
    """The table's rows as a RecordFrame of their kind, and an entry for each row with a cell
    that does not parse (those rows are not in the frame)."""
    kind = _KINDS[file_kind]
    parser = CellParser(formats)
    model = RECORD_MODELS[file_kind]
    rows = len(table.lines)

    def parse(item: tuple[str, ColumnSpec]) -> _Column:
        name, spec = item
        target = field_type(model.model_fields[name].annotation)
        return _parse(table.columns[spec.column], target, spec, parser, formats)

    parsed = dict(zip(columns, parallel.each(parse, columns.items(), rows=rows), strict=True))
    bad = np.zeros(rows, dtype=bool)
    for column in parsed.values():
        if column.errors is not None:
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
    frame[LINE] = np.asarray(table.lines, dtype=np.int64)  # the location is STREAM:LINE
    frame[LOCATION] = pd.arrays.ArrowStringArray(
        pa.chunked_array([pa.nulls(rows, pa.large_string())])
    )
    frame[STREAM] = pd.arrays.ArrowStringArray(
        pa.chunked_array([pa.repeat(pa.scalar(table.name), rows)])
    )
    if not good.all():
        frame = frame[good].reset_index(drop=True)
    labels = {name: f"column {spec.column!r}" for name, spec in columns.items()}
    return RecordFrame(kind, frame, labels, MONEY_PLACES), entries


def _entries(
    file_kind: str,
    table: TextTable,
    columns: dict[str, ColumnSpec],
    parsed: dict[str, _Column],
    rows: np.ndarray,
) -> list[QuarantineEntry]:
    entries = []
    for row in rows:
        problems = [
            f"column {columns[name].column!r}: {column.error(row)}"
            for name, column in parsed.items()
            if column.error(row) is not None
        ]
        record_id = _record_id(file_kind, parsed, int(row))
        location = table.location(int(table.lines[row]))
        entries.append(rejected_row(file_kind, record_id, location, "; ".join(problems)))
    return entries


def _record_id(file_kind: str, parsed: dict[str, _Column], row: int) -> str | None:
    key = "document_id" if file_kind.endswith("_applications") else "id"
    own = _text_at(parsed.get(key), row)
    if file_kind.endswith("_applications") and own is not None:
        target = _text_at(parsed.get("invoice_id"), row)
        return f"{own}->{target}" if target is not None else own
    return own


def _text_at(column: _Column | None, row: int) -> str | None:
    if column is None or column.error(row) is not None:
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
            return _Column(_strings(text), None)
        if target is Decimal:
            return _money(text, spec, parser, formats)
        if target is dt.datetime:
            return _timestamps(text, spec, parser, formats)
        if target is dt.date and formats.date == _ISO_DATE:
            days = _iso_dates(text)
            if days is not None:
                return _Column(days, None)
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
    """Arrow strings kept as Arrow strings (no Python object per cell); empty is missing."""
    empty = pc.equal(text, "")
    # Most id and code columns have no empty cell: then no copy of two million strings.
    cells = pc.if_else(empty, None, text) if pc.any(empty).as_py() else text
    return pd.Series(pd.arrays.ArrowStringArray(cells))


def _int64(values: pa.ChunkedArray) -> pd.Series:
    """Arrow int64 as pandas Int64, exactly (never through float)."""
    numbers = np.asarray(pc.fill_null(values, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return pd.Series(pd.arrays.IntegerArray(numbers, _flags(pc.is_null(values))))


def _flags(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _money(
    text: pa.ChunkedArray, spec: ColumnSpec, parser: CellParser, formats: Formats
) -> _Column:
    """Plain and grouped numbers in the mapping's convention, as integers of 10**-4: shape
    checked by one regular expression, then read by Arrow's exact decimal cast, whose 128-bit
    integers at scale 4 are those integers themselves. Any other spelling (an exponent, too many
    digits, zeros past four places) goes the per-value way, and so gets the one-cell parser's
    verdict and message."""
    point = re.escape(formats.decimal_separator)
    digits = rf"\d{{1,{_MAX_WHOLE_DIGITS}}}"
    whole = digits
    if formats.thousands_separator:
        group = re.escape(formats.thousands_separator)
        whole = rf"(?:\d{{1,3}}(?:{group}\d{{3}}){{0,3}}|{digits})"
    shape = rf"^[+-]?{whole}(?:{point}\d{{0,{_MAX_PLACES}}})?$"
    fast = pc.fill_null(pc.match_substring_regex(text, shape), False)
    every = pc.all(fast).as_py()  # the usual column: every cell a plain number
    # Each step copies two million strings, so each is skipped where it would change none.
    plain = text if every else pc.if_else(fast, text, "0")
    for separator, standard in (
        (formats.thousands_separator, ""),
        (formats.decimal_separator, "."),
    ):
        if (
            separator
            and separator != standard
            and pc.any(pc.match_substring(plain, separator)).as_py()
        ):
            plain = pc.replace_substring(plain, separator, standard)
    scaled = _scaled_units(
        pc.cast(plain, pa.decimal128(_MAX_WHOLE_DIGITS + _MAX_PLACES, _MAX_PLACES))
    )
    if every:
        return _Column(_int64(scaled), None)  # nothing to mask, no cell the slow way
    values = _int64(pc.if_else(fast, scaled, None))
    slow = ~_flags(fast) & ~_flags(pc.equal(text, ""))
    return _Column(values, _slow_way(values, slow, text, Decimal, spec=spec, parser=parser))


def _iso_dates(text: pa.ChunkedArray) -> pd.Series | None:
    """Dates under the ISO format, by Arrow's cast, which takes only ten-character
    `YYYY-MM-DD` dates that exist (never 2025-02-30), each the date Python's strptime reads,
    but for year 0, which Python has not; None when a cell is anything else, for the
    per-value way to name it."""
    empty = pc.equal(text, "")
    cells = pc.if_else(empty, None, text) if pc.any(empty).as_py() else text
    try:
        days = pc.cast(cells, pa.date32())
    except pa.ArrowInvalid:
        return None
    earliest = pc.min(days.cast(pa.int32())).as_py()
    if earliest is not None and earliest < _FIRST_DAY:
        return None
    seconds = days.cast(pa.timestamp("s")).to_numpy(zero_copy_only=False)
    return pd.Series(np.asarray(seconds, dtype="datetime64[s]"))


def _scaled_units(decimals: pa.ChunkedArray) -> pa.ChunkedArray:
    """Decimal128 at scale 4 as int64 units of 10**-4: its storage is that integer, and 18 digits
    fit the lower 64 bits (two's complement, so negatives too)."""
    chunks = []
    for chunk in decimals.chunks:
        words = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
        low = words[2 * chunk.offset : 2 * (chunk.offset + len(chunk)) : 2]
        missing = ~np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        chunks.append(pa.array(low, type=pa.int64(), mask=missing))
    return pa.chunked_array(chunks, type=pa.int64())


def _timestamps(
    text: pa.ChunkedArray, spec: ColumnSpec, parser: CellParser, formats: Formats
) -> _Column:
    """Date-times read by Arrow's strptime, which takes a few things Python's does not: a
    day past the month's end, second 60 or 61, moved on into the next month or minute. Only
    a result that such moving could give is printed back and compared; every other result
    cannot have moved. The rest goes the per-value way."""
    parsed = pc.strptime(text, format=formats.datetime, unit="s", error_is_null=True)
    if parsed.type.tz is None:
        parsed = pc.assume_timezone(parsed, "UTC")
    ok = _flags(pc.is_valid(parsed))
    rows = _maybe_moved(parsed, text, ok, formats.datetime)
    if len(rows):
        printed = pc.strftime(parsed.take(rows), format=formats.datetime)
        ok[rows] = _flags(pc.equal(printed, text.take(rows)))
    seconds = parsed.cast(pa.int64()).to_numpy(zero_copy_only=False)
    stamps = np.where(ok, np.nan_to_num(seconds), 0).astype("datetime64[s]")
    values = pd.Series(
        pd.DatetimeIndex(np.where(ok, stamps, np.datetime64("NaT", "s"))).tz_localize("UTC")
    )
    slow = ~ok & ~_flags(pc.equal(text, ""))
    return _Column(values, _slow_way(values, slow, text, dt.datetime, spec=spec, parser=parser))


# Formats whose every field prints as its digits: a day past the month's end shows as 29 to
# 31 in the text, a second past the minute's as 60 or 61.
_DIGIT_FIELDS = re.compile(r"(?:[^%]|%[YmdHMSz%])*")


def _maybe_moved(
    parsed: pa.ChunkedArray, text: pa.ChunkedArray, ok: np.ndarray, format_: str
) -> np.ndarray:
    """The rows whose parsed time a moved field could have given: day 1 to 3 (from the 29th
    to the 31st of a shorter month) or second 0 or 1 (from second 60 or 61). Under a format
    of digit fields only, a row is kept only if its text has the digits that moved."""
    early = ok & _flags(pc.less_equal(pc.day(parsed), 3))
    turned = ok & _flags(pc.less_equal(pc.second(parsed), 1))
    if _DIGIT_FIELDS.fullmatch(format_) is None:
        return np.flatnonzero(early | turned)
    suspects = []
    for mask, pattern in ((early, "29|30|31"), (turned, "60|61")):
        rows = np.flatnonzero(mask)
        if len(rows):
            has = pc.match_substring_regex(text.take(rows), pattern)
            suspects.append(rows[_flags(has)])
    return np.unique(np.concatenate(suspects)) if suspects else np.zeros(0, dtype=np.int64)


def _slow_way(
    values: pd.Series,
    slow: np.ndarray,
    text: pa.ChunkedArray,
    target: type,
    *,
    spec: ColumnSpec,
    parser: CellParser,
) -> np.ndarray | None:
    """The `slow` cells parsed the per-value way into `values` (in place); their messages
    as a full column of errors, or None when every cell parsed."""
    if not slow.any():
        return None
    rows = np.flatnonzero(slow)
    rest = _by_distinct_value(_series(text).iloc[rows], target, spec, parser)
    values.iloc[rows] = rest.values.array  # the masked array: to_numpy() would be float with NaN
    if rest.errors is None:
        return None
    errors = np.full(len(text), None, dtype=object)
    errors[slow] = rest.errors
    return errors


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
    errors = np.empty(len(messages) + 1, dtype=object)
    errors[:-1], errors[-1] = messages, empty_error
    taken = np.where(codes < 0, len(results), codes)
    distinct = pd.Series([*results, empty_value], dtype=_DTYPES.get(target, "string[pyarrow]"))
    # Typed distinct values, taken by code: no Python object per row on the way.
    spread = errors[taken] if any(m is not None for m in errors) else None
    return _Column(distinct.take(taken).reset_index(drop=True), spread)


def _to_scaled(value: object) -> int | None:
    """A Decimal as integer units of 10**-4, refused past the digits 4 places leave."""
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
