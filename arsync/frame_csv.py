"""A frame written as the CSV that `safe_frame(frame).to_csv(path, index=False)` writes, fast.

pandas' `to_csv` hands every cell to Python's csv module one row at a time: out/plan.csv (1.3M
rows) and out/scores.csv (101 columns) took seconds each. Here each column becomes one Arrow
array of finished cell text at once (the value as pandas renders it, the apostrophe that
`safe_frame` would add, the quotes the csv module would add), the columns are joined into lines
in Arrow, and written 65,536 rows at a time. The bytes are the same as pandas' own, which the
tests check on random frames of every dtype.

Datetimes pandas formats chunk by chunk of rows (a date only if every value of the chunk is
midnight), so each distinct value is formatted by pandas itself, or the whole column chunk by
chunk where chunks differ. Dtypes met too rarely to copy pandas for (timedeltas, categories,
float32, periods, Arrow-backed numbers, ...) are rendered by pandas one column at a time. A frame
with no rows or a single column, and one where such a column holds a line break, is written by
pandas whole.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from arsync.csv_safety import FORMULA_START, PLAIN_NUMBER, risky_cells, safe_cell, safe_frame

_TEXT = pa.large_string()  # 64-bit offsets: a column's text may pass 2 GiB
_SLICE_ROWS = 1 << 16  # rows joined and written at a time
_LINE_END = os.linesep  # what to_csv ends lines with
_CHUNK_CELLS = 100_000  # to_csv formats rows in chunks of 100_000 // columns
_PLAIN_NUMBER_RE2 = f"\\A(?:{PLAIN_NUMBER.pattern})\\z"
# Python writes floats outside [1e-4, 1e10) with exponents other than Arrow's; numpy does those.
_ARROW_FLOATS = (1e-4, 1e10)
_TEXT_LIKE = (str, bytes, bytearray, memoryview)  # what Arrow may take for text
_TICKS_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


def _scalar(text: str) -> pa.Scalar:
    return pa.scalar(text, type=_TEXT)


@functools.cache
def _quote_triggers() -> tuple[str, ...]:
    """The characters that make this Python's csv writer quote a field, asked of the writer
    itself: with QUOTE_MINIMAL that is the delimiter, the quote character and the characters of
    the line terminator (3.11 leaves a lone carriage return unquoted under a "\\n" terminator)."""
    found = []
    for char in (",", '"', "\r", "\n", "\t", " ", "'", "\\"):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=_LINE_END).writerow([f"a{char}b", "c"])
        if buffer.getvalue().startswith('"'):
            found.append(char)
    return tuple(found)


def write_safe_csv(frame: pd.DataFrame, path: Path) -> None:
    """`frame` at `path`, byte for byte as `safe_frame(frame).to_csv(path, index=False)`."""
    cells = _cells(frame)
    if cells is None:
        safe_frame(frame).to_csv(path, index=False)
        return
    # The header needs no rows: pandas writes the made-safe names of an empty copy.
    header = safe_frame(frame.iloc[:0]).to_csv(index=False).encode("utf-8")
    with path.open("wb") as handle:
        handle.write(header)
        for lines in _lines(cells):
            handle.write(lines)


def _cells(frame: pd.DataFrame) -> list[pa.Array] | None:
    """Each column's finished cell text, or None where pandas has to write the frame: no rows,
    one column (a row of one empty cell is written `""`), or a line break in a column pandas
    rendered."""
    rows, width = frame.shape
    if rows == 0 or width < 2:
        return None
    chunk = (_CHUNK_CELLS // width) or 1
    cells = []
    for position in range(width):
        text = _column_text(frame.iloc[:, position], chunk)
        if text is None:
            return None
        cells.append(text)
    return cells


def _lines(cells: list[pa.Array]) -> Iterator[memoryview]:
    """The encoded lines of the cells, joined a slice of rows at a time: a slice's text is still
    in the cache when written, and its memory is reused by the next (twice as fast as one join
    of plan.csv's 110 MB)."""
    for start in range(0, len(cells[0]), _SLICE_ROWS):
        part = [column.slice(start, _SLICE_ROWS) for column in cells]
        part[-1] = pc.binary_join_element_wise(part[-1], _scalar(_LINE_END), _scalar(""))
        lines = pc.binary_join_element_wise(*part, _scalar(","))
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
        first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
        yield memoryview(lines.buffers()[2])[first:last]


def _column_text(column: pd.Series, chunk: int) -> pa.Array | None:
    """Every cell of `column` as the finished CSV text, no nulls; None if pandas must write it."""
    dtype = column.dtype
    if not isinstance(dtype, np.dtype):
        return _extension_column_text(column, chunk)
    if dtype == np.float64:
        return _floats(column.to_numpy())
    if dtype.kind in "biu":
        values = _arrow(column.to_numpy())
        return _booleans(values) if dtype.kind == "b" else pc.cast(values, _TEXT)
    if dtype == np.object_:
        return _objects(column.to_numpy(dtype=object, copy=True))
    if dtype.kind == "M":
        return _datetimes(column, chunk)
    return _rendered_by_pandas(column, chunk)


def _extension_column_text(column: pd.Series, chunk: int) -> pa.Array | None:
    """`_column_text` for pandas' own dtypes: Arrow and python strings, nullable integers and
    booleans (missing is empty), datetimes with a time zone; the others through pandas."""
    dtype = column.dtype
    if isinstance(dtype, pd.StringDtype):
        return _texts(pc.fill_null(pc.cast(_arrow(column.array), _TEXT), _scalar("")))
    if isinstance(dtype, pd.BooleanDtype):
        return _booleans(_arrow(column.array))
    if isinstance(column.array, pd.arrays.IntegerArray):
        return pc.fill_null(pc.cast(_arrow(column.array), _TEXT), _scalar(""))
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _datetimes(column, chunk)
    return _rendered_by_pandas(column, chunk)


def _booleans(truth: pa.Array) -> pa.Array:
    """True and False as Python writes them, missing empty."""
    return pc.fill_null(pc.if_else(truth, _scalar("True"), _scalar("False")), _scalar(""))


def _arrow(values: object) -> pa.Array:
    """`values` (a numpy array or a pandas array that knows Arrow) as one Arrow array."""
    array = pa.array(values, from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _floats(values: np.ndarray) -> pa.Array:
    """float64 as pandas writes it, each distinct value formatted once: most balance columns
    are largely 0.0. Told apart by their bits, so 0.0 and -0.0 stay two values."""
    encoded = pc.dictionary_encode(pa.array(np.ascontiguousarray(values).view(np.int64)))
    if len(encoded.dictionary) > len(values) // 2:
        return _float_texts(values)
    distinct = encoded.dictionary.to_numpy().view(np.float64)
    return pc.take(_float_texts(distinct), encoded.indices)


def _float_texts(values: np.ndarray) -> pa.Array:
    """float64 as pandas writes it, `numpy.astype(str)` (NaN empty), without numpy's slow
    formatting: Arrow prints the same shortest round-trip digits but leaves `.0` off whole
    numbers and uses exponents in other places, so it only does [1e-4, 1e10) and zero."""
    text = pc.cast(pa.array(values, from_pandas=True), _TEXT)
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
        numpy_does = ~((size < _ARROW_FLOATS[1]) & ((size >= _ARROW_FLOATS[0]) | (size == 0)))
        numpy_does &= ~np.isnan(values)
        whole = ~numpy_does & (np.floor(values) == values)
    if whole.any():
        mask = pa.array(whole)
        dotted = pc.binary_join_element_wise(text.filter(mask), _scalar(".0"), _scalar(""))
        text = pc.replace_with_mask(text, mask, dotted)
    if numpy_does.any():
        rendered = pa.array(values[numpy_does].astype(str), type=_TEXT)
        text = pc.replace_with_mask(text, pa.array(numpy_does), rendered)
    return pc.fill_null(text, _scalar(""))


def _apostrophed(text: pa.Array) -> pa.Array:
    """Text cells with `safe_cell`'s apostrophe where it adds one: a formula start, unless the
    text is a plain number."""
    starts = pc.match_substring_regex(text, FORMULA_START)
    if not pc.any(starts).as_py():
        return text
    risky = pc.and_not(starts, pc.match_substring_regex(text, _PLAIN_NUMBER_RE2))
    safe = pc.binary_join_element_wise(_scalar("'"), text.filter(risky), _scalar(""))
    return pc.replace_with_mask(text, risky, safe)


def _texts(text: pa.Array) -> pa.Array:
    """Text cells made safe and quoted, each distinct text once: plan.csv repeats a customer's
    id and name on each of its 26 lines."""
    encoded = pc.dictionary_encode(text)
    distinct = encoded.dictionary
    if len(distinct) > len(text) // 2:
        return _quoted(_apostrophed(text))
    finished = _quoted(_apostrophed(distinct))
    return text if finished is distinct else pc.take(finished, encoded.indices)


def _objects(cells: np.ndarray) -> pa.Array:
    """An object column (text mixed with numbers, dates, None, ...), changed as `safe_frame`
    changes it and written as the csv module writes each cell: missing values empty, text as it
    is, anything else through `str()`. The str cells go to Arrow as text, the floats through
    `_floats` (str() of a float is numpy's text for it), the rest through str(); never
    factorized as one, since 1, 1.0 and True are equal keys."""
    missing = pd.isna(cells)
    if missing.all():
        return _empty(len(cells))
    kinds = np.frompyfunc(type, 1, 1)(cells)
    if any(kind is not str and issubclass(kind, _TEXT_LIKE) for kind in set(kinds)):
        return _objects_cell_by_cell(cells, missing)
    # No other text-like cells: safe_frame's `risky_cells` looks at exactly the str cells.
    is_text = _exactly(kinds, str)
    is_float = _exactly(kinds, float) & ~missing
    rest = ~(is_text | is_float | missing)
    groups = [np.flatnonzero(group) for group in (is_text, is_float, rest, missing)]
    parts = pa.concat_arrays(
        [
            _texts(pa.array(cells[groups[0]], type=_TEXT)),
            _floats(cells[groups[1]].astype(np.float64)),
            _quoted(pa.array([str(cell) for cell in cells[groups[2]]], type=_TEXT)),
            _empty(len(groups[3])),
        ]
    )
    source = np.empty(len(cells), dtype=np.int64)
    source[np.concatenate(groups)] = np.arange(len(cells))
    return pc.take(parts, pa.array(source))


def _exactly(kinds: np.ndarray, kind: type) -> np.ndarray:
    """Which of the cells whose types are `kinds` are of type `kind` itself, no subclass."""
    same: np.ndarray = np.equal(kinds, np.array(kind, dtype=object))
    return same


def _objects_cell_by_cell(cells: np.ndarray, missing: np.ndarray) -> pa.Array:
    """`_objects` for columns holding str subclasses or bytes, which Arrow may read as text:
    `safe_frame`'s own steps, then each cell as the csv module writes it."""
    risky = risky_cells(cells)
    if risky.any():
        cells[risky] = [safe_cell(cell) for cell in cells[risky]]
    cells[missing] = ""
    written = [cell if isinstance(cell, str) else str(cell) for cell in cells]
    return _quoted(pa.array(written, type=_TEXT))


def _empty(length: int) -> pa.Array:
    return pc.fill_null(pa.nulls(length, type=_TEXT), _scalar(""))


def _datetimes(column: pd.Series, chunk: int) -> pa.Array | None:
    """Datetimes as to_csv writes them, each distinct value formatted once by pandas. pandas
    picks the format per chunk of rows from the finest part any value of it has: date only if
    all are midnight (never with a time zone), else seconds, milli-, micro- or nanoseconds. So
    the distinct values are formatted together only when every chunk's finest part is the
    column's; otherwise pandas formats the column chunk by chunk."""
    codes, distinct = pd.factorize(column)
    if len(distinct) == 0:
        return _empty(len(column))
    wall = pd.Series(distinct)
    if isinstance(wall.dtype, pd.DatetimeTZDtype):
        wall = wall.dt.tz_localize(None)  # local time: offsets are whole seconds
    per_second = _TICKS_PER_SECOND.get(wall.dt.unit)
    if per_second is None:
        return _rendered_by_pandas(column, chunk)
    ticks = wall.to_numpy().view(np.int64)
    nanos = (ticks % per_second) * (10**9 // per_second)
    finest = np.select(
        [nanos % 10**3 != 0, nanos % 10**6 != 0, nanos != 0, ticks % (86_400 * per_second) != 0],
        [4, 3, 2, 1],
        0,
    )
    per_row = np.where(codes >= 0, finest[np.maximum(codes, 0)], -1)
    per_chunk = np.maximum.reduceat(per_row, np.arange(0, len(per_row), chunk))
    if not np.isin(per_chunk, (-1, finest.max())).all():
        return _rendered_by_pandas(column, chunk)
    written = _rendered_by_pandas(pd.Series(distinct), len(distinct))
    if written is None:
        return None
    return pc.fill_null(pc.take(written, pa.array(codes, mask=codes < 0)), _scalar(""))


def _quoted(text: pa.Array) -> pa.Array:
    """Cells the csv module would quote in quotes, inner quotes doubled (QUOTE_MINIMAL)."""
    triggers = [pc.match_substring(text, char) for char in _quote_triggers()]
    needs = functools.reduce(pc.or_, triggers)
    if not pc.any(needs).as_py():
        return text
    inner = pc.replace_substring(text.filter(needs), '"', '""')
    quoted = pc.binary_join_element_wise(_scalar('"'), inner, _scalar('"'), _scalar(""))
    return pc.replace_with_mask(text, needs, quoted)


def _rendered_by_pandas(column: pd.Series, chunk: int) -> pa.Array | None:
    """`column` as to_csv writes it in the whole frame, made safe and quoted by pandas itself:
    written beside an empty column, in the whole frame's chunks (datetimes are formatted per
    chunk), each line cut before its comma. None if a cell holds a line break."""
    pair = pd.DataFrame({"cell": column.array, "end": ""})
    written = safe_frame(pair).to_csv(
        index=False, header=False, chunksize=chunk, lineterminator=_LINE_END
    )
    lines = written.split(_LINE_END)
    if len(lines) != len(column) + 1:
        return None
    return pa.array([line[:-1] for line in lines[:-1]], type=_TEXT)
