"""CSV/XLSX exports from any ERP, read through a column mapping a finance admin maintains."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from arsync.located import error_loc
from arsync.quarantine import QuarantineEntry
from arsync.records import Application, CreditMemo, Customer, Invoice, Payment, Record
from connector.erp.base import Cursors, Pulled, PulledItem, Source
from connector.erp.files.mapping import (
    RECORD_MODELS,
    ApplicationRow,
    ColumnSpec,
    FileMapping,
    FileSpec,
)
from connector.erp.files.paths import inside_folder
from connector.erp.files.values import CellError, CellParser, field_type
from connector.errors import SourceConfigError

Row = dict[str, object]
_DOCUMENTS: dict[str, tuple[type[Payment] | type[CreditMemo], str]] = {
    "payments": (Payment, "payment_applications"),
    "credit_memos": (CreditMemo, "credit_memo_applications"),
}
_RECORD_TYPE = {
    "customers": "customer",
    "invoices": "invoice",
    "payments": "payment",
    "credit_memos": "credit_memo",
    "payment_applications": "payment_application",
    "credit_memo_applications": "credit_memo_application",
}


class FileSource(Source):
    """Reads one folder of exported files; each bad row becomes a quarantine entry."""

    name: ClassVar[str] = "files"

    def __init__(self, folder: Path, mapping: FileMapping) -> None:
        self._folder = folder
        self._mapping = mapping
        self._parser = CellParser(mapping.formats)

    def data_as_of(self) -> dt.datetime | None:
        """`exported_at` from the export's manifest; without one, when the newest export file
        was last written: rereading the same files must not look like fresher data."""
        if self._mapping.manifest is None:
            return self._newest_file_time()
        path = inside_folder(self._folder, self._mapping.manifest, "manifest")
        try:
            exported_at = json.loads(path.read_text(encoding="utf-8"))["exported_at"]
            stamp = dt.datetime.fromisoformat(exported_at)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise SourceConfigError(
                f"{path}: cannot read `exported_at` from the manifest ({error})"
            ) from None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)

    def _newest_file_time(self) -> dt.datetime | None:
        times = []
        for kind in _RECORD_TYPE:
            spec = self._mapping.file(kind)
            path = self._file_path(kind, spec) if spec is not None else None
            if path is not None and path.is_file():
                times.append(path.stat().st_mtime)
        return dt.datetime.fromtimestamp(max(times), dt.UTC) if times else None

    def pull(self, since: Cursors | None = None) -> Iterator[PulledItem]:
        """Every row of every file: an export is a full snapshot, so `since` does not apply."""
        for kind in ("customers", "invoices"):
            for item in self._typed_rows(kind):
                if isinstance(item, QuarantineEntry):
                    yield item
                    continue
                validated = self._validated(kind, *item)
                if isinstance(validated, QuarantineEntry):
                    yield validated
                else:
                    record, location = validated
                    assert isinstance(record, Customer | Invoice)  # noqa: S101 - kind says so
                    yield Pulled(record, location)
        for kind, (model, applications_kind) in _DOCUMENTS.items():
            if self._mapping.file(kind) is not None:
                yield from self._read_documents(kind, model, applications_kind)

    def _read_documents(
        self, kind: str, model: type[Payment] | type[CreditMemo], applications_kind: str
    ) -> Iterator[PulledItem]:
        """Payments or credit memos, each joined with the rows of its application file."""
        applications: dict[str, list[tuple[Application, str]]] = defaultdict(list)
        for item in self._typed_rows(applications_kind):
            if isinstance(item, QuarantineEntry):
                yield item
                continue
            validated = self._validated(applications_kind, *item)
            if isinstance(validated, QuarantineEntry):
                yield validated
                continue
            part, location = validated
            assert isinstance(part, ApplicationRow)  # noqa: S101 - kind says so
            application = Application.model_validate(part.model_dump(exclude={"document_id"}))
            applications[part.document_id].append((application, location))
        for item in self._typed_rows(kind):
            if isinstance(item, QuarantineEntry):
                yield item
                continue
            row, location = item
            own = applications.pop(str(row.get("id")), [])
            parts = tuple(application for application, _ in own)
            try:
                record = model.model_validate({**row, "applications": parts})
            except ValidationError as error:
                reason = _validation_reason(error, self._columns(kind))
                yield self._rejection(kind, row, location, reason)
                continue
            yield Pulled(record, location, tuple(loc for _, loc in own))
        for document_id, orphans in applications.items():
            for application, location in orphans:
                yield QuarantineEntry(
                    record_type=_RECORD_TYPE[applications_kind],
                    record_id=f"{document_id}->{application.invoice_id}",
                    location=location,
                    rule="unknown_document",
                    reason=f"{_RECORD_TYPE[kind].replace('_', ' ')} {document_id!r} is not in "
                    f"{self._mapping.file(kind).path} or was quarantined",  # type: ignore[union-attr]
                )

    def _columns(self, kind: str) -> dict[str, ColumnSpec]:
        spec = self._mapping.file(kind)
        return spec.column_specs() if spec is not None else {}

    def _validated(
        self, kind: str, row: Row, location: str
    ) -> tuple[Record, str] | QuarantineEntry:
        try:
            return RECORD_MODELS[kind].model_validate(row), location
        except ValidationError as error:
            reason = _validation_reason(error, self._columns(kind))
            return self._rejection(kind, row, location, reason)

    def _typed_rows(self, kind: str) -> Iterator[tuple[Row, str] | QuarantineEntry]:
        """Each row's cells parsed into their fields' types; a cell that will not parse
        quarantines its row, naming every bad column at once."""
        spec = self._mapping.file(kind)
        if spec is None:
            return
        model = RECORD_MODELS[kind]
        columns = spec.column_specs()
        targets = {name: field_type(model.model_fields[name].annotation) for name in columns}
        for location, cells in self._rows(kind, spec, columns):
            row: Row = {}
            problems = []
            for name, column in columns.items():
                try:
                    value = self._parser.parse(cells.get(column.column), targets[name], column)
                except CellError as error:
                    problems.append(f"column {column.column!r}: {error}")
                    continue
                if value is not None:
                    row[name] = value
            if problems:
                yield self._rejection(kind, row, location, "; ".join(problems))
            else:
                yield row, location

    def _rejection(self, kind: str, row: Row, location: str, reason: str) -> QuarantineEntry:
        record_id = row.get("id", row.get("document_id"))
        if kind.endswith("_applications") and "invoice_id" in row:
            record_id = f"{record_id}->{row['invoice_id']}"
        return QuarantineEntry(
            record_type=_RECORD_TYPE[kind],
            record_id=None if record_id is None else str(record_id),
            location=location,
            rule="invalid_record",
            reason=reason,
        )

    def _file_path(self, kind: str, spec: FileSpec) -> Path:
        """The file's path, refused when it leads outside the export folder."""
        return inside_folder(self._folder, spec.path, f"files.{kind}.path")

    def _rows(
        self, kind: str, spec: FileSpec, columns: dict[str, ColumnSpec]
    ) -> Iterator[tuple[str, dict[str, object]]]:
        path = self._file_path(kind, spec)
        if not path.is_file():
            raise SourceConfigError(f"{path}: file not found (named in the column mapping)")
        if path.suffix.lower() in {".xlsx", ".xlsm"}:
            rows = _xlsx_rows(path, spec.sheet)
        else:
            rows = _csv_rows(path, self._mapping.formats.encoding, self._mapping.formats.delimiter)
        header = next(rows, None)
        if header is None:
            return
        where, names = header
        missing = sorted({c.column for c in columns.values()} - {str(n) for n in names})
        if missing:
            raise SourceConfigError(
                f"{where}: no column {', '.join(repr(m) for m in missing)} "
                f"(the column mapping expects it); columns found: "
                f"{', '.join(str(n) for n in names)}"
            )
        keys = [str(n) for n in names]
        for location, values in rows:
            if any(v is not None and str(v).strip() for v in values):
                yield location, dict(zip(keys, values, strict=False))


def _csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[str, list[Any]]]:
    # Excel's "CSV UTF-8" starts with a byte-order mark that would cling to the first header.
    encoding = "utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        first_line = 1
        for values in reader:
            # A quoted cell may span lines: name the line where the row starts.
            yield f"{path.name}:{first_line}", list(values)
            first_line = reader.line_num + 1


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[tuple[str, list[Any]]]:
    from openpyxl import load_workbook  # noqa: PLC0415 - only XLSX exports pay for the import

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise SourceConfigError(
                f"{path.name}: no sheet {sheet!r}; sheets: {', '.join(workbook.sheetnames)}"
            )
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            yield f"{path.name}[{worksheet.title}]:{number}", list(values)
    finally:
        workbook.close()


def _validation_reason(error: ValidationError, columns: dict[str, ColumnSpec]) -> str:
    """Pydantic's errors in the words of the export: column names, not field names."""
    reasons = []
    for detail in error.errors(include_url=False):
        loc = detail["loc"] or error_loc(detail)
        field = str(loc[0]) if loc else ""
        message = detail["msg"].removeprefix("Value error, ")
        column = columns.get(field)
        if detail["type"] == "missing":
            reasons.append(
                f"column {column.column!r} is empty" if column else f"{field} is missing"
            )
        elif column is not None and detail["loc"]:
            reasons.append(f"column {column.column!r}: {message} (got {detail['input']!r})")
        elif column is not None:
            reasons.append(f"column {column.column!r}: {message}")
        else:
            reasons.append(f"{field}: {message}" if field else message)
    return "; ".join(reasons)
