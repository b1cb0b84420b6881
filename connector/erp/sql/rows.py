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
from connector.erp.record_columns import CellFormats, ColumnSpec
from connector.erp.values import CellError, CellParser, aware, field_type, iso_datetime

_UPPER_CASE = frozenset({"currency"})
"""Fields whose codes the records take upper-case only (`usd` in a warehouse means USD)."""


@dataclass(frozen=True)
class ReadRow:
    """A row's field values, the problems that stop it becoming a record, and its change
    time: an instant, and the one ISO spelling of it the cursor keeps (`cursor_text`),
    whatever spelling the database gave."""

    values: dict[str, object]
    problems: list[str]
    changed_at: dt.datetime | None = None
    changed_text: str | None = None


class RowReader:
    """Reads the rows of one record type: each mapped column into its field's type."""

    def __init__(
        self,
        model: type[Record],
        columns: Mapping[str, ColumnSpec],
        formats: CellFormats,
        modified_at: str | None,
    ) -> None:
        self._columns = dict(columns)
        self._parser = CellParser(formats)
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
        changed: tuple[dt.datetime, str] | None = None
        if self._modified_at is not None:
            try:
                changed = stamp(row[self._modified_at], self._modified_at)
            except CellError as error:
                problems.append(f"column {self._modified_at!r}: {error}")
        return ReadRow(values, problems, *(changed or ()))

    def _value(self, raw: object, target: type, spec: ColumnSpec) -> object:
        if raw is not None and spec.values:
            key = raw.strip() if isinstance(raw, str) else str(raw)
            raw = spec.values.get(key, raw)
        return self._parser.parse(raw, target, ColumnSpec(column=spec.column))


def stamp(raw: object, column: str) -> tuple[dt.datetime, str] | None:
    """A modified-at value as its instant and the cursor's spelling of it; CellError when it
    is not a timestamp."""
    if raw is None:
        return None
    if isinstance(raw, dt.datetime):
        return aware(raw), cursor_text(raw)
    if isinstance(raw, dt.date):
        raise SourceConfigError(
            f"column {column!r} holds dates, not timestamps: a pull filtered by date would miss "
            "the later changes of the same day; name a timestamp column as modified_at"
        )
    if isinstance(raw, str) and raw.strip():
        instant = iso_datetime(raw.strip())
        return instant, cursor_text(instant)
    raise CellError(f"{raw!r} is not a timestamp")


def cursor_text(instant: dt.datetime) -> str:
    """The cursor's one spelling: ISO 8601 with a T, in UTC when zoned; zone-less stays
    zone-less, so a `timestamp without time zone` column is compared with a zone-less value."""
    if instant.tzinfo is None:
        return instant.isoformat()
    return instant.astimezone(dt.UTC).isoformat()
