"""Schema of a column mapping (`mappings/erp/*.yaml`): which export column feeds which field.

The allowed field names per file are derived from the canonical record models, so a new record
field is mappable at once and a misspelt one is an error on its own line of the YAML.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    create_model,
    field_validator,
)

from arsync.control import Basis
from arsync.records import Record
from connector.erp.record_columns import (
    CellFormats,
    ColumnSpec,
    Header,
    KindsMapping,
    Strict,
    column_specs,
    columns_model,
    kinds_model,
)


class Formats(CellFormats):
    """How the export writes dates, numbers and booleans, and how its CSV files are read."""

    date: str = "%Y-%m-%d"  # a format, always: the columnar reader parses with it
    datetime: str = "%Y-%m-%dT%H:%M:%S%z"
    encoding: str = Field(
        default="utf-8",
        description="text encoding of CSV files, a Python codec name: utf-8 (a byte-order mark "
        "is allowed), cp1252, latin-1, utf-16...",
    )
    delimiter: Annotated[str, StringConstraints(min_length=1, max_length=1)] = ","
    max_lines_per_row: int = Field(
        default=10,
        ge=1,
        description="a CSV row whose quoted cells take more lines than this is damaged (most "
        "likely an unbalanced quote that swallowed the rows after it) and is quarantined",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, name: str) -> str:
        """Checked when the mapping loads: otherwise a typo surfaces only when a run opens the
        first file, after the lock, the state store and the Salesforce login."""
        try:
            codecs.lookup(name)
            "".encode(name)  # codecs such as rot13 or hex exist but cannot read a text file
        except LookupError:
            raise ValueError(
                f"unknown text encoding {name!r}; write a Python codec name such as utf-8, "
                "cp1252, latin-1 or utf-16"
            ) from None
        return name

    def open_encoding(self) -> str:
        """The codec to open a CSV file with: utf-8 also accepts the byte-order mark that
        Excel's "CSV UTF-8" writes, which would otherwise cling to the first header. (The same
        rule as the file source's reader, which should call this once it is rewritten.)"""
        plain = self.encoding.lower().replace("_", "-")
        return "utf-8-sig" if plain == "utf-8" else self.encoding


ColumnRef = Header | ColumnSpec


class FileSpec(Strict):
    path: Path
    sheet: str | None = Field(default=None, description="XLSX sheet; the first one if empty")
    columns: BaseModel

    def column_specs(self) -> dict[str, ColumnSpec]:
        """Canonical field -> its column, for the fields this export maps."""
        return column_specs(self.columns)


def _file_model(kind: str, record: type[Record]) -> type[FileSpec]:
    columns = columns_model(f"{kind}_columns", record, ColumnRef, ColumnRef | None)
    return create_model(f"{kind}_file", __base__=FileSpec, columns=(columns, ...))


FilesModel = kinds_model("files", _file_model)


class ControlTotalsColumns(Strict):
    """The three columns of a control-totals file: whose balance, in what, how much."""

    customer_id: ColumnRef
    currency: ColumnRef
    balance: ColumnRef


class ControlTotalsSpec(Strict):
    """An optional file of the ERP's own balance per customer, beside the ledger's files:
    what arsync's computed balances are checked against (`arsync.reconcile`). It is no
    ledger stream: its rows become no records and do not count in the row accounting."""

    path: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="the file's name in the export folder, or a pattern such as "
        "'balances_*.csv' (`*`, `?` and `[...]` as in a shell); exactly one file must match"
    )
    sheet: str | None = Field(default=None, description="XLSX sheet; the first one if empty")
    required: bool = Field(
        default=True,
        description="false: an export without the file is not checked (and says so), rather "
        "than refused; for a mapping shared by exports with and without a balance report",
    )
    basis: Basis = Field(
        default=Basis.NET,
        description="what the ERP's balance sums: `net` (open invoices less unapplied "
        "payments and credit memos) or `open_invoices` (open invoices only)",
    )
    figure: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        default="the export's control totals",
        description="the ERP's figure in words, for the messages: 'the aged receivables report'",
    )
    columns: ControlTotalsColumns

    def column_specs(self) -> dict[str, ColumnSpec]:
        """Field (customer_id, currency, balance) -> its column."""
        return column_specs(self.columns)


class FileMapping(KindsMapping):
    """The YAML file as a whole: shared formats, then one entry per exported file."""

    section: ClassVar[str] = "files"

    formats: Formats = Formats()
    manifest: Path | None = Field(
        default=None, description="JSON file whose `exported_at` says when the data is as of"
    )
    files: FilesModel  # type: ignore[valid-type]  # built from the record models at import
    control_totals: ControlTotalsSpec | None = Field(
        default=None,
        description="the ERP's own balance per customer, to check arsync's against; "
        "none when the export has no such file",
    )

    def file(self, kind: str) -> FileSpec | None:
        spec: FileSpec | None = getattr(self.files, kind)
        return spec
