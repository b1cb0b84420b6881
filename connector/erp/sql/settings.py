"""Schema of the `sql` source: a database URL and, per record type, a table or a SELECT query
with a column mapping (canonical field -> column name).

The allowed field names per record type come from the canonical record models (as for the
file source), so a new record field is mappable at once and a misspelt one is an error on its
own line of the YAML. Table and column names must be plain identifiers: arsync quotes them
itself and checks them against the database before it reads a row.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    create_model,
    field_validator,
    model_validator,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from arsync.control import Basis
from arsync.records import Record
from connector.erp.record_columns import (
    CellFormats,
    ColumnSpec,
    KindsMapping,
    Strict,
    column_specs,
    columns_model,
    kinds_model,
)
from connector.secrets import REFERENCE

KIND = "sql"
CONTROL_COLUMNS = ("customer_id", "currency", "balance")
"""What `control.query` returns, by these names: one row per customer (and currency)."""

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_$]{0,127}"
_COLUMN = re.compile(rf"^{_IDENTIFIER}$")
_TABLE = re.compile(rf"^(?:{_IDENTIFIER}\.)?{_IDENTIFIER}$")
_LEADING_COMMENTS = re.compile(r"^\s*(?:--[^\n]*(?:\n|$)\s*|/\*.*?\*/\s*)*", re.DOTALL)
_SELECT = re.compile(r"^(?:select|with)\b", re.IGNORECASE)


def _column_name(value: str) -> str:
    if not _COLUMN.match(value):
        raise ValueError(
            f"{value!r} is not a plain column name (letters, digits, _ and $, not starting with "
            "a digit); write the name as the database stores it, without quotes"
        )
    return value


def _table_name(value: str) -> str:
    if not _TABLE.match(value):
        raise ValueError(
            f"{value!r} is not a plain table name: `table` or `schema.table`, each part letters, "
            "digits, _ and $, without quotes; anything more elaborate belongs in `query`"
        )
    return value


def _select_query(value: str) -> str:
    """One SELECT, with no bind parameters: arsync wraps it and adds its own filter."""
    query = value.strip().rstrip(";").rstrip()
    if not _SELECT.match(_LEADING_COMMENTS.sub("", query, count=1)):
        raise ValueError("a query must be one SELECT statement (WITH ... SELECT is fine)")
    if ";" in query:
        raise ValueError("a query must be one statement: no ';' inside it")
    names = sorted(text(query).compile().params)
    if names:
        listed = ", ".join(f":{name}" for name in names)
        raise ValueError(
            f"a query must not hold bind parameters ({listed}); write \\: for a literal colon"
        )
    return query


def _database_url(value: str) -> str:
    """A whole-URL environment reference, or a URL whose password is one (or absent)."""
    if REFERENCE.match(value):
        return value
    try:
        password = make_url(value).password
    except (ArgumentError, ValueError):
        # Say what is wrong, never echo the text: it may hold a password.
        raise ValueError(
            "not a database URL such as postgresql://reader:${WAREHOUSE_PASSWORD}@host/db, "
            "sqlite:///path/to/file.db or a reference to one: ${WAREHOUSE_URL}"
        ) from None
    if password is not None and not REFERENCE.match(str(password)):
        raise ValueError(
            "secrets come from the environment: write the password as a reference such as "
            "${WAREHOUSE_PASSWORD} (or the whole URL as ${WAREHOUSE_URL}) and set that "
            "variable where arsync runs"
        )
    return value


ColumnName = Annotated[str, AfterValidator(_column_name)]
TableName = Annotated[str, AfterValidator(_table_name)]
SelectQuery = Annotated[str, AfterValidator(_select_query)]
DatabaseUrl = Annotated[str, AfterValidator(_database_url)]


class Column(ColumnSpec):
    """A column whose values the database spells its own way (`values` maps them)."""

    column: ColumnName


def _short_form(value: object) -> object:
    """`due_date: DUE_DT` is short for `due_date: {column: DUE_DT}`."""
    return {"column": _column_name(value)} if isinstance(value, str) else value


RequiredColumn = Annotated[Column, BeforeValidator(_short_form)]
OptionalColumn = Annotated[Column | None, BeforeValidator(_short_form)]


class ValueFormats(CellFormats):
    """How values stored as text are spelt. Typed columns (DATE, TIMESTAMP, NUMERIC, BOOLEAN)
    come back typed from the driver and need none of this."""

    date: str | None = Field(default=None, description="strptime format; empty: ISO 8601")
    datetime: str | None = Field(default=None, description="strptime format; empty: ISO 8601")
    true_values: tuple[str, ...] = ("yes", "y", "true", "t", "1")
    false_values: tuple[str, ...] = ("no", "n", "false", "f", "0", "")

    @field_validator("date", "datetime", mode="before")
    @classmethod
    def _empty_is_iso(cls, value: object) -> object:
        return None if value == "" else value


class RecordSource(Strict):
    """Where one record type is read: a table (or view), or a SELECT query."""

    table: TableName | None = Field(default=None, description="table or view, maybe schema.table")
    query: SelectQuery | None = Field(default=None, description="one SELECT; no bind parameters")
    name: ColumnName | None = Field(
        default=None,
        description="what the rows are called in quarantine locations and logs "
        "(default: the table, or the record type for a query)",
    )
    modified_at: ColumnName | None = Field(
        default=None,
        description="timestamp column of the last change: later pulls read only rows newer "
        "than the latest one seen",
    )
    columns: BaseModel

    @model_validator(mode="after")
    def _table_or_query(self) -> RecordSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give either `table` or `query` (exactly one of them)")
        return self

    def column_specs(self) -> dict[str, ColumnSpec]:
        """Canonical field -> its column, for the fields this mapping fills."""
        return column_specs(self.columns)

    def label(self, kind: str) -> str:
        """The name that `sql:<name>/<id>` locations and log events use."""
        return self.name or self.table or kind


def _record_model(kind: str, record: type[Record]) -> type[RecordSource]:
    columns = columns_model(f"sql_{kind}_columns", record, RequiredColumn, OptionalColumn)
    return create_model(f"sql_{kind}", __base__=RecordSource, columns=(columns, ...))


RecordsModel = kinds_model("sql_records", _record_model)


class ControlQuery(Strict):
    """The warehouse's own balance per customer, which the balances arsync computes from the
    documents must match (`arsync.reconcile`): a check that the mapping reads the whole
    ledger, as the warehouse's finance team counts it."""

    query: SelectQuery = Field(
        description="one SELECT returning customer_id, currency and balance (major units)"
    )
    basis: Basis = Field(
        description="what balance sums: net (open invoices less unapplied payments and credit "
        "memos, a receivables account) or open_invoices (open invoices only)"
    )
    figure: str = Field(
        default="the warehouse's AR control",
        min_length=1,
        max_length=200,
        description="the figure in words, for the messages that compare with it",
    )


class Settings(KindsMapping):
    """The `sql` source: a warehouse or an ERP's reporting database, read through a mapping."""

    section: ClassVar[str] = "records"
    kind: Literal["sql"]
    url: DatabaseUrl = Field(
        description="SQLAlchemy URL; the password (or the whole URL) as an environment reference"
    )
    batch_size: int = Field(
        default=1000, ge=1, le=50_000, description="rows fetched from the server at a time"
    )
    connect_attempts: int = Field(
        default=3, ge=1, le=10, description="tries to connect before the run fails"
    )
    formats: ValueFormats = ValueFormats()
    data_as_of_query: SelectQuery | None = Field(
        default=None, description="SELECT of one timestamp: when the data was last loaded"
    )
    control: ControlQuery | None = Field(
        default=None, description="optional: the warehouse's balance per customer, to check"
    )
    records: RecordsModel  # type: ignore[valid-type]  # built from the record models at import

    def source(self, kind: str) -> RecordSource | None:
        spec: RecordSource | None = getattr(self.records, kind)
        return spec

    def resolved(self, base: Path) -> Settings:
        """A relative SQLite path taken from `base`, like every path in the settings."""
        if REFERENCE.match(self.url):
            return self
        url = make_url(self.url)
        database = url.database or ""
        if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return self
        if database.startswith("file:") or Path(database).is_absolute():
            return self
        absolute = url.set(database=os.path.normpath(base / database))
        return self.model_copy(update={"url": absolute.render_as_string(hide_password=False)})
