"""A quick look at the first rows of each mapped export, for `arsync validate`.

A date format or decimal separator that does not fit the export is otherwise found only by a
run, which then quarantines every row. The probe reads a sample of each file with the mapping's
own `CellParser`, and reports a column none of whose sampled values parse, at the line of the
format key that would have to change. A column where only some values fail is left to the run:
that is bad rows, not a wrong format.

It opens the files on its own, in a few lines, rather than through the file source's reader, so
that it stays small while that reader changes.
"""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from pathlib import Path

from arsync.errors import FatalError, SourceConfigError
from arsync.extras import XLSX, missing_extra
from arsync.yamlfile import ConfigProblem, YamlDocument, read_yaml
from connector.erp.files.control import control_file, read_control_totals
from connector.erp.files.mapping import FileMapping, FileSpec, Formats
from connector.erp.files.paths import inside_folder
from connector.erp.record_columns import RECORD_MODELS, ColumnSpec
from connector.erp.values import CellError, CellParser, field_type

SAMPLE_ROWS = 200
"""Data rows read from each file: enough to meet a non-empty value in a sparse column."""

# The values whose reading depends on a format key: what they are called, and that key.
_FORMATTED: dict[type, tuple[str, str]] = {
    dt.datetime: ("dates and times", "datetime"),
    dt.date: ("dates", "date"),
    Decimal: ("numbers", "decimal_separator"),
    int: ("whole numbers", "decimal_separator"),
}


Row = Sequence[object]


class _UnreadableError(Exception):
    """The sample could not be read; the problem says where and why."""

    def __init__(self, problem: ConfigProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def probe_export(
    folder: Path, mapping: FileMapping, mapping_path: Path, rows: int = SAMPLE_ROWS
) -> list[ConfigProblem]:
    """Every problem a run would meet first in the export: a missing file or column, text in
    another encoding, or a date or number format that fits none of the first `rows` rows."""
    document = read_yaml(mapping_path)
    problems: list[ConfigProblem] = []
    if mapping.manifest is not None:
        try:
            manifest = inside_folder(folder, mapping.manifest, "manifest")
        except SourceConfigError as error:
            problems.append(document.problem(["manifest"], str(error)))
        else:
            if not manifest.is_file():
                problems.append(document.problem(["manifest"], f"file not found: {manifest}"))
    for kind in RECORD_MODELS:
        spec = mapping.file(kind)
        if spec is None:
            continue
        try:
            # The same refusal as the run's: the probe too echoes a header and a value.
            path = inside_folder(folder, spec.path, f"files.{kind}.path")
        except SourceConfigError as error:
            problems.append(document.problem(["files", kind, "path"], str(error)))
            continue
        problems.extend(_Probe(document, mapping.formats, kind, spec, path).run(rows))
    return [*problems, *_control_totals(document, folder, mapping)]


def _control_totals(
    document: YamlDocument, folder: Path, mapping: FileMapping
) -> list[ConfigProblem]:
    """The control-totals file as a run will look for it: there (unless not `required`),
    one, with the mapped columns, every row readable. Read whole: it has a row a customer,
    and a run stops at its first bad row."""
    spec = mapping.control_totals
    if spec is None:
        return []
    ledger_files = [
        folder / file.path for kind in RECORD_MODELS if (file := mapping.file(kind)) is not None
    ]
    try:
        path = control_file(folder, spec, ledger_files)
        if path is not None:
            read_control_totals(path, spec, mapping.formats)
    except FatalError as error:  # no file or several, a missing column, a bad row
        return [document.problem(["control_totals", "path"], str(error))]
    return []


@dataclass(frozen=True)
class _Probe:
    """One mapped file: where it is, and the YAML that maps it (to point at lines)."""

    document: YamlDocument
    formats: Formats
    kind: str
    spec: FileSpec
    path: Path

    def run(self, rows: int) -> list[ConfigProblem]:
        if not self.path.is_file():
            return [self._at_path(f"file not found: {self.path}")]
        try:
            sample = self._sample(rows)
        except _UnreadableError as error:
            return [error.problem]
        if not sample:
            return []  # an empty file: the run reads no rows from it either
        header, *data = sample
        names = [str(name) for name in header]
        columns = self.spec.column_specs()
        problems: list[ConfigProblem] = []
        for field, column in columns.items():
            if column.column not in names:
                message = (
                    f"no column {column.column!r} in {self.spec.path}; "
                    f"columns found: {', '.join(names)}"
                )
                problems.append(self.document.problem(self._column_loc(field), message))
        parser = CellParser(self.formats)
        model = RECORD_MODELS[self.kind]
        for field, column in columns.items():
            target = field_type(model.model_fields[field].annotation)
            if target not in _FORMATTED or column.column not in names:
                continue
            index = names.index(column.column)
            values = [row[index] if index < len(row) else None for row in data]
            first = _first_unparsed(parser, values, target, column)
            if first is not None:
                problems.append(self._format_problem(column, target, first, len(data)))
        return problems

    def _sample(self, rows: int) -> list[Row]:
        """The header and up to `rows` non-blank rows after it, as the file source reads them."""
        try:
            if self.path.suffix.lower() in {".xlsx", ".xlsm"}:
                return self._xlsx_sample(rows)
            encoding, delimiter = self.formats.open_encoding(), self.formats.delimiter
            csv.field_size_limit(max(csv.field_size_limit(), self.path.stat().st_size + 1))
            with self.path.open(encoding=encoding, newline="") as handle:
                return _head(csv.reader(handle, delimiter=delimiter), rows)
        except UnicodeDecodeError as error:
            byte = error.object[error.start : error.start + 1].hex()
            message = (
                f"{self.spec.path} is not {self.formats.encoding} text (byte 0x{byte} cannot be "
                "read); set formats.encoding to the export's encoding, e.g. cp1252 or utf-16"
            )
            raise _UnreadableError(_at_format_key(self.document, "encoding", message)) from None
        except (OSError, csv.Error) as error:
            raise _UnreadableError(self._at_path(f"cannot read {self.path}: {error}")) from None

    def _xlsx_sample(self, rows: int) -> list[Row]:
        try:
            from openpyxl import load_workbook  # noqa: PLC0415 - only XLSX exports pay for it
            from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415
        except ModuleNotFoundError:
            message = missing_extra(XLSX, f"reading {self.spec.path}")
            raise _UnreadableError(self._at_path(message)) from None

        try:
            workbook = load_workbook(self.path, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile) as error:
            message = f"cannot read {self.path} as an XLSX workbook: {error}"
            raise _UnreadableError(self._at_path(message)) from None
        try:
            sheet_name = self.spec.sheet
            if sheet_name is not None and sheet_name not in workbook.sheetnames:
                sheets = ", ".join(workbook.sheetnames)
                message = f"no sheet {sheet_name!r} in {self.spec.path}; sheets: {sheets}"
                loc = ["files", self.kind, "sheet"]
                raise _UnreadableError(self.document.problem(loc, message))
            sheet = workbook[sheet_name] if sheet_name is not None else workbook.worksheets[0]
            return _head(sheet.iter_rows(values_only=True), rows)
        finally:
            workbook.close()

    def _at_path(self, message: str) -> ConfigProblem:
        return self.document.problem(["files", self.kind, "path"], message)

    def _column_loc(self, field: str) -> list[int | str]:
        loc: list[int | str] = ["files", self.kind, "columns", field]
        spelt = isinstance(getattr(self.spec.columns, field), ColumnSpec)
        return [*loc, "column"] if spelt else loc

    def _format_problem(
        self, column: ColumnSpec, target: type, first: object, rows: int
    ) -> ConfigProblem:
        noun, key = _FORMATTED[target]
        formats = self.formats
        if key == "decimal_separator":
            expected = f"decimal_separator {formats.decimal_separator!r}"
            if formats.thousands_separator:
                expected += f" and thousands_separator {formats.thousands_separator!r}"
        else:
            expected = f"format {getattr(formats, key)}"
        message = (
            f"{noun} in {self.spec.path} column {column.column!r} do not match {expected} in any "
            f"of the first {rows} rows (first value: {str(first).strip()!r})"
        )
        return _at_format_key(self.document, key, message)


def _head(rows: Iterable[Row], limit: int) -> list[Row]:
    """The first row (the header) and up to `limit` rows after it with a value in them: the
    file source skips blank rows, so the sample does too."""
    found = iter(rows)
    header = next(found, None)
    if header is None:
        return []
    filled = (row for row in found if any(v is not None and str(v).strip() for v in row))
    return [header, *islice(filled, limit)]


def _first_unparsed(
    parser: CellParser, values: list[object], target: type, column: ColumnSpec
) -> object | None:
    """The first non-empty value when none of them parses; None when one does or all are
    empty (a column left empty says nothing about the format)."""
    first: object | None = None
    for raw in values:
        try:
            if parser.parse(raw, target, column) is not None:
                return None
        except CellError:
            first = raw if first is None else first
    return first


def _at_format_key(document: YamlDocument, key: str, message: str) -> ConfigProblem:
    """At the key's line; a key the file leaves out holds its default, which is said."""
    formats = document.data.get("formats") if isinstance(document.data, dict) else None
    if not isinstance(formats, dict) or key not in formats:
        message += f" (the default; set formats.{key} in this file)"
    return document.problem(["formats", key], message)
