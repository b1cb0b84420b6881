"""Schema of a column mapping (`mappings/erp/*.yaml`): which export column feeds which field.

The allowed field names per file are derived from the canonical record models, so a new record
field is mappable at once and a misspelt one is an error on its own line of the YAML.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    field_validator,
    model_validator,
)

from arsync.control import Basis
from arsync.records import Application, CreditMemo, Customer, Invoice, Payment, Record, RecordId

Header = Annotated[str, StringConstraints(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Formats(_Strict):
    """How the export writes dates, numbers and booleans."""

    date: str = "%Y-%m-%d"
    datetime: str = "%Y-%m-%dT%H:%M:%S%z"
    decimal_separator: str = "."
    thousands_separator: str = ""
    true_values: tuple[str, ...] = ("yes", "y", "true", "1")
    false_values: tuple[str, ...] = ("no", "n", "false", "0", "")
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

    @model_validator(mode="after")
    def _separators_differ(self) -> Formats:
        if self.decimal_separator == self.thousands_separator:
            raise ValueError("decimal_separator and thousands_separator must differ")
        return self


class ColumnSpec(_Strict):
    """A column whose values the export spells its own way (`values` maps them)."""

    column: Header
    values: dict[str, str] = Field(default_factory=dict)


ColumnRef = Header | ColumnSpec


class ApplicationRow(Application):
    """One row of a payment- or credit-memo-application file, before it joins its document."""

    document_id: RecordId


RECORD_MODELS: dict[str, type[Record]] = {
    "customers": Customer,
    "invoices": Invoice,
    "payments": Payment,
    "payment_applications": ApplicationRow,
    "credit_memos": CreditMemo,
    "credit_memo_applications": ApplicationRow,
}
REQUIRED_FILES = frozenset({"customers", "invoices"})
RECORD_TYPES = {  # kind -> its record type in the quarantine, in the order kinds are read
    "customers": "customer",
    "invoices": "invoice",
    "payments": "payment",
    "credit_memos": "credit_memo",
    "payment_applications": "payment_application",
    "credit_memo_applications": "credit_memo_application",
}


class FileSpec(_Strict):
    path: Path
    sheet: str | None = Field(default=None, description="XLSX sheet; the first one if empty")
    columns: BaseModel

    def column_specs(self) -> dict[str, ColumnSpec]:
        """Canonical field -> its column, for the fields this export maps."""
        specs: dict[str, ColumnSpec] = {}
        for name in type(self.columns).model_fields:
            ref = getattr(self.columns, name)
            if ref is not None:
                specs[name] = ref if isinstance(ref, ColumnSpec) else ColumnSpec(column=ref)
        return specs


def _columns_model(kind: str, record: type[Record]) -> type[BaseModel]:
    """A model whose keys are the record's fields: required ones must be mapped."""
    fields: dict[str, Any] = {}
    for name, info in record.model_fields.items():
        if name == "applications":
            continue
        fields[name] = (ColumnRef, ...) if info.is_required() else (ColumnRef | None, None)
    return create_model(f"{kind}_columns", __base__=_Strict, **fields)


def _file_model(kind: str, record: type[Record]) -> type[FileSpec]:
    return create_model(
        f"{kind}_file", __base__=FileSpec, columns=(_columns_model(kind, record), ...)
    )


def _files_model() -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for kind, record in RECORD_MODELS.items():
        model = _file_model(kind, record)
        fields[kind] = (model, ...) if kind in REQUIRED_FILES else (model | None, None)
    return create_model("files", __base__=_Strict, **fields)


FilesModel = _files_model()


class ControlTotalsColumns(_Strict):
    """The three columns of a control-totals file: whose balance, in what, how much."""

    customer_id: ColumnRef
    currency: ColumnRef
    balance: ColumnRef


class ControlTotalsSpec(_Strict):
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
        refs = {name: getattr(self.columns, name) for name in ControlTotalsColumns.model_fields}
        return {
            name: ref if isinstance(ref, ColumnSpec) else ColumnSpec(column=ref)
            for name, ref in refs.items()
        }


class FileMapping(_Strict):
    """The YAML file as a whole: shared formats, then one entry per exported file."""

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

    @model_validator(mode="after")
    def _applications_need_documents(self) -> FileMapping:
        for documents, applications in (
            ("payments", "payment_applications"),
            ("credit_memos", "credit_memo_applications"),
        ):
            if self.file(applications) is not None and self.file(documents) is None:
                raise ValueError(f"files.{applications} needs a files.{documents} entry")
        return self

    def file(self, kind: str) -> FileSpec | None:
        spec: FileSpec | None = getattr(self.files, kind)
        return spec
