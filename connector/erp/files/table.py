"""One export file read as text columns, with the line each row starts on.

CSV files are read by pyarrow's multi-threaded reader, every column as text: the mapping's own
formats decide later what a cell means, never the reader's type guessing. Beside it, one pass
over the bytes with numpy finds where every record starts (a newline outside quotes), so each
row is named by its real line even when a quoted cell spans lines, and CSV damage is named
rather than read wrong: a row that runs over more lines than the mapping allows (an unbalanced
quote swallowing the rows after it), a row with more or fewer cells than the header. Bytes that
are not in the declared encoding stop the file with the byte offset and the `encoding:` key.
XLSX sheets are read with openpyxl, their typed cells kept as they are.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from arsync.errors import SourceConfigError
from arsync.extras import XLSX, missing_extra
from arsync.quarantine import QuarantineEntry

_BLOCK = 1 << 22  # the CSV reader's block, in bytes, when no row is longer
_CHUNK = 1 << 26  # bytes scanned at once for quotes and newlines: bounded memory on any file
_QUOTE, _NEWLINE = ord('"'), ord("\n")


@dataclass
class TextTable:
    """A file's data rows: `columns` by header (text, or typed cells from XLSX), the 1-based
    line each row starts on, and the rows that were damaged, as quarantine entries with the
    number of rows each stands for (a row that swallowed lines through an unbalanced quote
    counts once for each line: each was most likely a row of its own).

    `read` counts every data row found, damaged ones included."""

    name: str
    columns: dict[str, pd.Series]
    lines: np.ndarray
    damaged: list[tuple[QuarantineEntry, int]] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.lines) + sum(rows for _, rows in self.damaged)

    def location(self, line: int) -> str:
        return f"{self.name}:{line}"


def read_table(
    path: Path,
    *,
    record_type: str,
    encoding: str,
    delimiter: str,
    max_lines_per_row: int,
    sheet: str | None = None,
) -> TextTable:
    """The file's rows, or SourceConfigError when the file as a whole cannot be read."""
    if path.stat().st_size == 0:
        raise SourceConfigError(
            f"{path.name} is empty (0 bytes): not even a header row. The export did not "
            "finish, or wrote the wrong file; nothing of it was read."
        )
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _read_xlsx(path, sheet)
    data = _utf8_bytes(path, encoding)
    return _read_csv(path.name, data, record_type, delimiter, max_lines_per_row)


def _utf8_bytes(path: Path, encoding: str) -> bytes:
    """The file as UTF-8 bytes, checked: a byte that is not text in `encoding` is a
    SourceConfigError naming its offset. A UTF-8 byte-order mark stays: the CSV reader skips
    it, and so does the header."""
    raw = path.read_bytes()
    codec = codecs.lookup(encoding).name
    if codec == "utf-8":
        if not raw.isascii():  # plain ASCII is UTF-8: no need to decode it to know
            _check_utf8(path, raw)
        return raw
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as error:
        raise _encoding_error(path, encoding, raw[error.start], error.start) from None
    return text.lstrip("\ufeff").encode("utf-8")


def _check_utf8(path: Path, data: bytes) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for offset in range(0, len(data), _CHUNK):
        try:
            decoder.decode(view[offset : offset + _CHUNK], final=offset + _CHUNK >= len(data))
        except UnicodeDecodeError as error:
            position = offset + error.start
            raise _encoding_error(path, "utf-8", data[position], position) from None


def _encoding_error(path: Path, encoding: str, byte: int, offset: int) -> SourceConfigError:
    hint = ""
    if offset == 0 and byte in (0xFF, 0xFE):
        hint = " (it starts with a UTF-16 byte-order mark: set encoding: utf-16)"
    return SourceConfigError(
        f"{path.name} is not {encoding} text: the byte 0x{byte:02x} at offset {offset:,} cannot "
        f"be read{hint}. Set `formats.encoding:` in the column mapping to the file's encoding "
        "(for example cp1252, latin-1 or utf-16); nothing of the file was read."
    )


def _read_csv(
    name: str, data: bytes, record_type: str, delimiter: str, max_lines: int
) -> TextTable:
    records = None
    first = _first_line(data)
    if first is None:  # a quoted line break in the header: only the scan finds its end
        records = _record_starts(data)
        first = bytes(data[records[0][0] : _end(data, records[0], 0)]) if len(records[0]) else b""
    if not first.strip():
        raise SourceConfigError(f"{name} has no header row")
    header = _cells(first, delimiter)
    header[0] = header[0].removeprefix("\ufeff")
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise SourceConfigError(f"{name}: the header names {', '.join(map(repr, twice))} twice")
    try:
        table, invalid = _arrow_table(data, header, delimiter, _block_size(records, len(data)))
    except pa.ArrowInvalid as error:
        if records is not None or "straddling" not in str(error):
            raise SourceConfigError(
                f"{name} cannot be read as CSV with the mapping's formats (encoding, "
                f"delimiter): {error}"
            ) from None
        records = _record_starts(data)  # a row longer than a block: read again with its size
        table, invalid = _arrow_table(data, header, delimiter, _block_size(records, len(data)))
    if records is None and not invalid and _one_record_per_line(data, table.num_rows):
        rows = table.num_rows
        lines = np.arange(2, rows + 2, dtype=np.int64)
        return _table(name, header, table, lines=lines, damaged=[], too_long=None)
    if records is None:
        records = _record_starts(data)
    starts, lines, spans = records
    row_starts, row_lines, spans = starts[1:], lines[1:], spans[1:]
    damaged: list[tuple[QuarantineEntry, int]] = []
    keep = np.ones(len(row_starts), dtype=bool)
    for text in _invalid_texts(invalid):
        position = _find_row(data, text, row_starts, keep)
        keep[position] = False
        span = int(spans[position])
        row = _cells(text.encode(), delimiter)
        if span <= max_lines and all(not cell.strip() for cell in row):
            continue  # a line of blanks, shorter than the header: no row, like any blank one
        cells = len(row)
        damaged.append(
            (
                QuarantineEntry(
                    record_type=record_type,
                    record_id=None,
                    location=f"{name}:{row_lines[position]}",
                    rule="csv_damage",
                    reason=_damage_reason(span, max_lines, cells, len(header), row_lines[position]),
                ),
                max(span, 1),
            )
        )
    if table.num_rows != int(keep.sum()):
        multi = np.flatnonzero(spans > 1)
        where = (
            f" (first suspect: the row on line {int(row_lines[multi[0]]):,})" if len(multi) else ""
        )
        raise SourceConfigError(
            f"{name}: the CSV reader found {table.num_rows:,} rows where the file's lines "
            f"make {len(row_starts):,}{where}: its quoting is damaged in a way no row can be "
            "trusted to be read right, so nothing of the file is read. Check that every "
            "quoted cell is closed, and export again."
        )
    kept_lines, kept_spans = row_lines[keep], spans[keep]
    too_long = np.flatnonzero(kept_spans > max_lines)
    for index in too_long:
        line, span = int(kept_lines[index]), int(kept_spans[index])
        damaged.append(
            (
                QuarantineEntry(
                    record_type=record_type,
                    record_id=None,
                    location=f"{name}:{line}",
                    rule="csv_damage",
                    reason=_damage_reason(span, max_lines, len(header), len(header), line),
                ),
                span,
            )
        )
    return _table(name, header, table, lines=kept_lines, damaged=damaged, too_long=too_long)


def _first_line(data: bytes) -> bytes | None:
    """The first line that is not empty, when it is a whole record (its quotes balanced):
    the header, found without scanning the file; None when only the scan can tell."""
    start = 0
    while data.startswith((b"\n", b"\r\n"), start):
        start = data.index(b"\n", start) + 1
    end = data.find(b"\n", start)
    line = data[start : len(data) if end == -1 else end + 1]
    return line if line.count(b'"') % 2 == 0 else None


def _block_size(records: tuple[np.ndarray, np.ndarray, np.ndarray] | None, size: int) -> int:
    """The reader's block: it must hold the longest row. Without the scan, the default; a row
    longer than that makes the reader stop, and the file is read again with the scan."""
    if records is None or len(records[0]) == 0:
        return _BLOCK
    return max(_BLOCK, int(np.diff(np.append(records[0], size)).max()) + 1)


def _arrow_table(
    data: bytes, header: list[str], delimiter: str, block: int
) -> tuple[pa.Table, list[tuple[int | None, str]]]:
    """Every cell as text (the mapping decides what it means, not the reader's guessing), and
    the rows the reader could not split into the header's cells."""
    invalid: list[tuple[int | None, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.text))
        return "skip"

    table = pa_csv.read_csv(
        pa.BufferReader(pa.py_buffer(data)),
        read_options=pa_csv.ReadOptions(block_size=block),
        parse_options=pa_csv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table, invalid


def _one_record_per_line(data: bytes, rows: int) -> bool:
    """Whether every line of the file is one record, header first: then a row's line is its
    number plus one, and no scan is needed. Quoted line breaks and empty lines each make the
    reader's rows fewer than the lines, and nothing makes them more but a bare carriage
    return (which the reader takes as a line break), so equal counts tell."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return False
    # bytes.count is a memchr loop: ten times numpy's compare-and-count, and no mask to make.
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return rows + 1 == lines


def _table(
    name: str,
    header: list[str],
    table: pa.Table,
    *,
    lines: np.ndarray,
    damaged: list[tuple[QuarantineEntry, int]],
    too_long: np.ndarray | None,
) -> TextTable:
    """The read rows as pandas text columns, without blank rows and rows too long to trust."""
    columns = {h: table.column(h).to_pandas(types_mapper=pd.ArrowDtype) for h in header}
    drop = _blank_rows(columns, len(lines))
    if too_long is not None:
        drop[too_long] = True
    if drop.any():
        columns = {h: c[~drop].reset_index(drop=True) for h, c in columns.items()}
    return TextTable(name, columns, lines[~drop], damaged)


def _record_starts(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte offset, 1-based first line and number of lines of every record that is not an
    empty line: a record starts after a newline that is outside quotes (an even number of
    quotes before it)."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    boundaries: list[np.ndarray] = []
    newline_counts: list[np.ndarray] = []
    quotes_before = 0
    newlines_before = 0
    quoted = data.find(b'"') != -1  # without a quote every newline ends a record
    for offset in range(0, len(buffer), _CHUNK):
        chunk = buffer[offset : offset + _CHUNK]
        newlines = np.flatnonzero(chunk == _NEWLINE)
        if quoted:
            quotes = np.flatnonzero(chunk == _QUOTE)
            outside = (quotes_before + np.searchsorted(quotes, newlines)) % 2 == 0
            quotes_before += len(quotes)
        else:
            outside = np.ones(len(newlines), dtype=bool)
        boundaries.append(newlines[outside] + offset + 1)
        newline_counts.append(np.flatnonzero(outside) + newlines_before + 1)
        newlines_before += len(newlines)
    starts = np.concatenate([np.zeros(1, dtype=np.int64), *boundaries])
    lines = np.concatenate([np.zeros(1, dtype=np.int64), *newline_counts]) + 1
    in_file = starts < len(buffer)
    starts, lines = starts[in_file], lines[in_file]
    ends = np.append(starts[1:], len(buffer))
    # The last record's lines: its newlines, plus one when the file does not end with one.
    last_lines = newlines_before + 2 - int(lines[-1]) if len(lines) else 0
    if len(buffer) and buffer[-1] == _NEWLINE:
        last_lines -= 1
    spans = np.append(np.diff(lines), max(last_lines, 1))
    length = ends - starts
    first = buffer[np.minimum(starts, len(buffer) - 1)]
    empty = (length == 1) | ((length == 2) & (first == ord("\r"))) | (length == 0)
    return starts[~empty], lines[~empty], spans[~empty]


def _end(data: bytes, starts: np.ndarray, index: int) -> int:
    return int(starts[index + 1]) if index + 1 < len(starts) else len(data)


def _cells(row: bytes, delimiter: str) -> list[str]:
    text = row.decode("utf-8").rstrip("\r\n")
    # The csv module refuses cells over 128 KiB by default; a cell of any size is a cell.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    return next(csv.reader([text], delimiter=delimiter), [])


def _invalid_texts(invalid: list[tuple[int | None, str]]) -> list[str]:
    return [text for _, text in invalid]


def _find_row(data: bytes, text: str, row_starts: np.ndarray, keep: np.ndarray) -> int:
    """The index of the (not yet placed) row whose bytes begin with `text`."""
    needle = text.encode("utf-8")
    position = data.find(needle)
    while position != -1:
        index = int(np.searchsorted(row_starts, position))
        if index < len(row_starts) and row_starts[index] == position and keep[index]:
            return index
        position = data.find(needle, position + 1)
    raise SourceConfigError(f"cannot place a damaged CSV row: {text[:80]!r}")


def _damage_reason(span: int, max_lines: int, cells: int, expected: int, line: int) -> str:
    if span > max_lines:
        return (
            f"the row starting on line {line:,} runs over {span:,} lines (to line "
            f"{line + span - 1:,}; a row may take {max_lines} at most): a quoted cell is "
            "probably missing its closing quote, and the rows on those lines were read into it. "
            "None of them is scored; fix the quote and export again"
        )
    return f"the row has {cells} cells where the header has {expected}; it is not read"


def _blank_rows(columns: dict[str, pd.Series], rows: int) -> np.ndarray:
    """Rows whose every cell is empty or white space (a spreadsheet's trailing lines), when
    short enough to be blank: at most four characters a cell in all. Only rows whose first
    cell is blank are looked at closely, so a file of ids costs one column's look."""
    blank = np.zeros(rows, dtype=bool)
    if not columns:
        return blank
    arrays = [column.array.__arrow_array__() for column in columns.values()]
    first = pc.utf8_trim_whitespace(arrays[0])
    candidates = np.flatnonzero(_flags(pc.equal(first, "")))
    if not len(candidates):
        return blank
    length = np.zeros(len(candidates), dtype=np.int64)
    empty = np.ones(len(candidates), dtype=bool)
    for array in arrays:
        cells = array.take(candidates)
        length += np.asarray(pc.utf8_length(cells).to_numpy(zero_copy_only=False), np.int64)
        empty &= _flags(pc.equal(pc.utf8_trim_whitespace(cells), ""))
    blank[candidates[empty & (length <= 4 * len(arrays))]] = True
    blank[candidates[length == 0]] = True
    return blank


def _flags(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _read_xlsx(path: Path, sheet: str | None) -> TextTable:
    try:
        from openpyxl import load_workbook  # noqa: PLC0415 - only XLSX exports pay for the import
    except ModuleNotFoundError:
        raise SourceConfigError(missing_extra(XLSX, f"reading {path.name}")) from None

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise SourceConfigError(
                f"{path.name}: no sheet {sheet!r}; sheets: {', '.join(workbook.sheetnames)}"
            )
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        rows = worksheet.iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(rows, ())]
        if not header:
            raise SourceConfigError(f"{path.name} has no header row")
        values: list[list[object]] = [[] for _ in header]
        lines: list[int] = []
        for number, row in enumerate(rows, start=2):
            cells = list(row) + [None] * (len(header) - len(row))
            if all(c is None or str(c).strip() == "" for c in cells):
                continue
            lines.append(number)
            for column, cell in zip(values, cells, strict=False):
                column.append(cell)
        name = f"{path.name}[{worksheet.title}]"
        columns = {h: pd.Series(v, dtype=object) for h, v in zip(header, values, strict=True)}
        return TextTable(name, columns, np.array(lines, dtype=np.int64))
    finally:
        workbook.close()
