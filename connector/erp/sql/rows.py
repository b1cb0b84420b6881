"""One database row into the values of one canonical record, with reasons a finance admin can
act on when it cannot be read.

Drivers mostly return typed values (Decimal, date, datetime, bool) and those pass straight
through; values stored as text (SQLite has no DATE or NUMERIC storage, some ERPs keep dates in
CHAR columns) are read as the file source reads CSV cells, by its `CellParser`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arsync.errors import SourceConfigError
from arsync.records import Record
from connector.erp.record_columns import ColumnSpec
from connector.erp.sql.settings import ValueFormats
from connector.erp.values import CellError, CellParser, aware, field_type

_UPPER_CASE = frozenset({"currency"})
"""Fields whose codes the records take upper-case only (`usd` in a warehouse means USD)."""


@dataclass(frozen=True, order=True)
class Stamp:
    """A modified-at value: ordered by instant, with the one ISO spelling of it the cursor
    keeps (`cursor_text`), whatever spelling the database gave."""

    instant: dt.datetime
    text: str


@dataclass(frozen=True)
class ReadRow:
    """A row's field values, the problems that stop it becoming a record, and its change time."""

    values: dict[str, object]
    problems: list[str]
    changed_at: Stamp | None


class RowReader:
    """Reads the rows of one record type: each mapped column into its field's type."""

    def __init__(
        self,
        model: type[Record],
        columns: Mapping[str, ColumnSpec],
        formats: ValueFormats,
        modified_at: str | None,
    ) -> None:
        self._columns = dict(columns)
        self._formats = formats
        self._parser = CellParser(formats.cell_formats())
        self._targets = {name: field_type(model.model_fields[name].annotation) for name in columns}
        self._modified_at = modified_at
        # Field -> its column, as reasons name it: the words of the database, not arsync's.
        self.column_labels = {field: f"column {spec.column!r}" for field, spec in columns.items()}

    @property
    def column_names(self) -> list[str]:
        """Every column this record type reads, once each, in mapping order."""
        names = [spec.column for spec in self._columns.values()]
        if self._modified_at is not None:
            names.append(self._modified_at)
        return list(dict.fromkeys(names))

    def read(self, row: Mapping[Any, Any]) -> ReadRow:
        values: dict[str, object] = {}
        problems: list[str] = []
        for name, spec in self._columns.items():
            try:
                value = self._value(row[spec.column], self._targets[name], spec)
            except CellError as error:
                problems.append(f"column {spec.column!r}: {error}")
                continue
            if isinstance(value, str) and name in _UPPER_CASE:
                value = value.upper()
            if value is not None:
                values[name] = value
        changed_at = None
        if self._modified_at is not None:
            try:
                changed_at = stamp(row[self._modified_at], self._modified_at)
            except CellError as error:
                problems.append(f"column {self._modified_at!r}: {error}")
        return ReadRow(values, problems, changed_at)

    def _value(self, raw: object, target: type, spec: ColumnSpec) -> object:
        if raw is not None and spec.values:
            key = raw.strip() if isinstance(raw, str) else str(raw)
            raw = spec.values.get(key, raw)
        if isinstance(raw, str) and target in (dt.date, dt.datetime):
            raw = raw.strip()
            if raw and self._iso(target):
                return _iso_date(raw) if target is dt.date else _iso_datetime(raw)
        if target is dt.datetime and type(raw) is dt.date:
            return dt.datetime.combine(raw, dt.time(), dt.UTC)
        return self._parser.parse(raw, target, ColumnSpec(column=spec.column))

    def _iso(self, target: type) -> bool:
        """Text dates are ISO 8601 unless the formats name another spelling."""
        if target is dt.date:
            return self._formats.date is None
        return self._formats.datetime is None


def stamp(raw: object, column: str) -> Stamp | None:
    """A modified-at value as a Stamp; CellError when it is not a timestamp."""
    if raw is None:
        return None
    if isinstance(raw, dt.datetime):
        return Stamp(aware(raw), cursor_text(raw))
    if isinstance(raw, dt.date):
        raise SourceConfigError(
            f"column {column!r} holds dates, not timestamps: a pull filtered by date would miss "
            "the later changes of the same day; name a timestamp column as modified_at"
        )
    if isinstance(raw, str) and raw.strip():
        instant = _iso_datetime(raw.strip())
        return Stamp(instant, cursor_text(instant))
    raise CellError(f"{raw!r} is not a timestamp")


def cursor_text(instant: dt.datetime) -> str:
    """The cursor's one spelling: ISO 8601 with a T, in UTC when zoned; zone-less stays
    zone-less, so a `timestamp without time zone` column is compared with a zone-less value."""
    if instant.tzinfo is None:
        return instant.isoformat()
    return instant.astimezone(dt.UTC).isoformat()


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        raise CellError(f"{text!r} is not an ISO 8601 date (2026-06-30)") from None


def _iso_datetime(text: str) -> dt.datetime:
    try:
        return aware(dt.datetime.fromisoformat(text))
    except ValueError:
        raise CellError(
            f"{text!r} is not an ISO 8601 timestamp (2026-06-30 17:45:00+00:00)"
        ) from None
