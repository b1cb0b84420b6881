"""CSV/XLSX exports from any ERP, read through a column mapping a finance admin maintains."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pandas as pd

from arsync.control import ControlBalances
from arsync.errors import SourceConfigError
from arsync.frames import LINE, LOCATION, MONEY_FIELDS, STREAM, RecordFrame, locations
from arsync.quarantine import QuarantineEntry
from arsync.records import Application, CreditMemo, Customer, Invoice, Payment, Record
from connector.erp.base import Cursors, Extent, FrameSource, Pulled, PulledItem, Rejected
from connector.erp.files.columns import typed_batch
from connector.erp.files.control import control_file, read_control_totals
from connector.erp.files.mapping import FileMapping, FileSpec
from connector.erp.files.paths import inside_folder
from connector.erp.files.table import read_table
from connector.erp.record_columns import (
    RECORD_TYPES,
    ApplicationRow,
    check_columns,
    orphan,
    row_record,
)
from connector.erp.values import aware

Row = dict[str, object]


class FileSource(FrameSource):
    """Reads one folder of exported files; each bad row becomes a quarantine entry."""

    name: ClassVar[str] = "files"

    def __init__(self, folder: Path, mapping: FileMapping) -> None:
        self._folder = folder
        self._mapping = mapping
        self._read: dict[str, int] = {}
        self._rejected: list[Rejected] = []
        self._bytes_done = 0
        self._size: int | None = None

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
        return aware(stamp)

    def control_balances(self) -> ControlBalances | None:
        """The export's control totals (`control_totals:` in the mapping): the ERP's own
        balance of the customers the file lists, not of every customer. None when the mapping
        names no such file. Read apart from `pull_frames`, so that the file is no ledger
        stream: none of its rows becomes a record or counts in `rows_read()`. A missing file
        is a SourceConfigError naming the pattern; a row that cannot be read stops the run
        (`ControlTotalsError`) rather than leaving a customer unchecked."""
        spec = self._mapping.control_totals
        if spec is None:
            return None
        path = control_file(self._folder, spec, self._mapped_files())
        if path is None:
            return None
        return read_control_totals(path, spec, self._mapping.formats)

    def _newest_file_time(self) -> dt.datetime | None:
        times = [path.stat().st_mtime for path in self._mapped_files() if path.is_file()]
        return dt.datetime.fromtimestamp(max(times), dt.UTC) if times else None

    def extent(self) -> Extent | None:
        """The export's mapped files, in bytes: what a pull reads, known before it reads."""
        if self._size is None:
            self._size = sum(p.stat().st_size for p in self._mapped_files() if p.is_file())
        return Extent(total=self._size, unit="bytes")

    def done(self) -> int | None:
        """Bytes of the files read so far in this pull."""
        return self._bytes_done

    def _mapped_files(self) -> list[Path]:
        files = []
        for kind in RECORD_TYPES:
            spec = self._mapping.file(kind)
            if spec is not None:
                files.append(self._file_path(kind, spec))
        return files

    def pull_frames(self) -> Iterator[RecordFrame | Rejected]:
        """Every file as record frames (typed columns), and the rows it could not read; an
        export is a full snapshot, so there is no incremental form. `rows_read()` then says
        how many rows each file had."""
        self._read = {}
        self._rejected = []
        self._bytes_done = 0
        self._size = None  # measured afresh for each pull
        formats = self._mapping.formats
        for kind, record_type in RECORD_TYPES.items():
            spec = self._mapping.file(kind)
            if spec is None:
                continue
            path = self._file_path(kind, spec)
            if not path.is_file():
                raise SourceConfigError(f"{path}: file not found (named in the column mapping)")
            table = read_table(
                path,
                record_type=record_type,
                encoding=formats.encoding,
                delimiter=formats.delimiter,
                max_lines_per_row=formats.max_lines_per_row,
                sheet=spec.sheet,
            )
            found = list(table.columns)
            expected = sorted(c.column for c in spec.column_specs().values())
            check_columns(f"{table.name}:1:", expected, found, "the column mapping expects it")
            self._read[table.name] = table.read
            rejected = [Rejected(entry, table.name, rows) for entry, rows in table.damaged]
            batch, bad = typed_batch(kind, table, spec.column_specs(), formats)
            rejected += [Rejected(entry, table.name) for entry in bad]
            del table  # the text columns: the next file must not find them still in memory
            self._bytes_done += path.stat().st_size
            self._rejected += rejected
            yield from rejected
            yield batch
            del batch  # the builder keeps its own checked copy; this one may go now

    def rows_read(self) -> dict[str, int]:
        """Data rows per file of the last `pull_frames` (blank rows are no rows)."""
        return dict(self._read)

    def pull(self, since: Cursors | None = None) -> Iterator[PulledItem]:
        """The same rows one record at a time, validated by the canonical models: for the
        contract suite and tools that want records; a run reads `pull_frames`."""
        documents: dict[str, list[tuple[Application, str]]] = defaultdict(list)
        batches = [item for item in self.pull_frames() if isinstance(item, RecordFrame)]
        # Applications first, so that each document is validated with all of its own.
        batches.sort(key=lambda batch: batch.kind != "application")
        unread = {e.entry.location: e.entry for e in self._rejected}
        located: list[tuple[str, int, PulledItem]] = [
            (_file_of(entry.location), _line_of(entry.location), entry) for entry in unread.values()
        ]
        for batch in batches:
            frame = batch.frame.assign(**{LOCATION: locations(batch.frame)})
            for row in _frame_rows(frame.drop(columns=[LINE], errors="ignore"), batch.places):
                location = str(row.pop(LOCATION))
                row.pop(STREAM)
                at = (_file_of(location), _line_of(location))
                if batch.kind == "application":
                    kind = f"{row.pop('document_type')}_applications"
                    part = self._validated(kind, row, location, batch.labels)
                    if isinstance(part, QuarantineEntry):
                        located.append((*at, part))
                        continue
                    assert isinstance(part, ApplicationRow)  # noqa: S101 - kind says so
                    documents[f"{kind}:{part.document_id}"].append((part.application(), location))
                    continue
                for item in self._record(batch.kind, row, location, batch.labels, documents):
                    located.append((*at, item))
        order = {name: i for i, name in enumerate(self._read)}
        located.sort(key=lambda found: (order.get(found[0], len(order)), found[1]))
        yield from (item for _, _, item in located)
        for key, orphans in documents.items():
            kind, document_id = key.split(":", 1)
            own = kind.removesuffix("_applications") + "s"
            # The ignore: an application kind is mapped only with its documents' file
            # (`KindsMapping`), so `file(own)` is never None here.
            path = self._mapping.file(own).path  # type: ignore[union-attr]
            for application, location in orphans:
                yield orphan(kind, document_id, application, location, f"{path} or was quarantined")

    def _record(
        self,
        kind: str,
        row: Row,
        location: str,
        labels: dict[str, str],
        documents: dict[str, list[tuple[Application, str]]],
    ) -> Iterator[PulledItem]:
        own: list[tuple[Application, str]] = []
        if kind in ("payment", "credit_memo"):  # a document, with its application rows
            own = documents.pop(f"{kind}_applications:{row.get('id')}", [])
            row["applications"] = tuple(application for application, _ in own)
        record = self._validated(kind + "s", row, location, labels)
        if isinstance(record, QuarantineEntry):
            yield record
            return
        assert isinstance(record, Customer | Invoice | Payment | CreditMemo)  # noqa: S101 - kind says so
        yield Pulled(record, location, tuple(loc for _, loc in own))

    def _validated(
        self, kind: str, row: Row, location: str, labels: dict[str, str]
    ) -> Record | QuarantineEntry:
        record_id = row.get("id", row.get("document_id"))
        if kind.endswith("_applications") and "invoice_id" in row:
            record_id = f"{record_id}->{row['invoice_id']}"
        return row_record(kind, row, record_id, location, labels)

    def _file_path(self, kind: str, spec: FileSpec) -> Path:
        """The file's path, refused when it leads outside the export folder."""
        return inside_folder(self._folder, spec.path, f"files.{kind}.path")


def _file_of(location: str) -> str:
    return location.rsplit(":", 1)[0]


def _line_of(location: str) -> int:
    tail = location.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _frame_rows(frame: pd.DataFrame, places: int) -> Iterator[Row]:
    """A frame's rows as canonical field values: money as Decimal, dates as dates, no NA."""
    for values in frame.to_dict("records"):
        row: Row = {}
        for name, value in values.items():
            key = str(name)
            if pd.isna(value):
                continue
            if key in MONEY_FIELDS:
                row[key] = _decimal(int(value), places)
            elif isinstance(value, pd.Timestamp):
                row[key] = value.to_pydatetime() if value.tzinfo else value.date()
            else:
                row[key] = value
        yield row


def _decimal(scaled: int, places: int) -> Decimal:
    """Integer units of 10**-places as a Decimal with two places, or more when they carry
    digits."""
    value = Decimal(scaled).scaleb(-places)
    for shown in (2, 3):
        quantum = Decimal(1).scaleb(-shown)
        if value == value.quantize(quantum):
            return value.quantize(quantum)
    return value
