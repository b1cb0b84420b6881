"""Any SQL database (a warehouse, an ERP's reporting replica) read through a column mapping.

Each record type is a table or a SELECT query. Rows stream from the server in batches
(`stream_results` + `yield_per`: a server-side cursor on PostgreSQL), so two million invoices
never sit in memory at once. Payments and credit memos are joined with their applications a
batch at a time (`WHERE document_id IN (...)`), never the whole application table at once.

Everything is read in one read-only transaction (REPEATABLE READ on PostgreSQL), so the
customers, invoices and payments of one pull agree with each other. Before each record type is
read, a `SELECT count(*)` of the very statement it is read with (filter included) gives the
progress bar its total: one cheap query per record type on a warehouse.

An incremental pull reads, of each record type with a `modified_at` column, the rows changed
after its cursor; of invoices also every open one and every one the payments and credit memos
it reads apply to, in the same statement: a warehouse may lower an open balance (or pay one
off) without moving the invoice's stamp.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from dataclasses import dataclass, replace
from decimal import Decimal
from operator import attrgetter
from typing import Any, ClassVar, cast

import sqlalchemy as sa
import structlog
from sqlalchemy import Connection, Engine, RowMapping
from sqlalchemy.exc import DBAPIError, NoSuchTableError, OperationalError
from sqlalchemy.sql import ColumnElement, FromClause, Select
from sqlalchemy.types import TypeEngine

from arsync.control import ControlBalances
from arsync.errors import FatalError, SourceConfigError
from arsync.money import DEFAULT_MONEY_PLACES
from arsync.quarantine import QuarantineEntry
from arsync.records import Application, CanonicalRecord, Record
from connector.erp.base import IncrementalSource, Pulled, PulledItem, parse_cursor
from connector.erp.control_rows import control_balances
from connector.erp.record_columns import (
    DOCUMENTS,
    RECORD_MODELS,
    ApplicationRow,
    CellFormats,
    ColumnSpec,
    check_columns,
    orphan,
    rejected_row,
    row_record,
)
from connector.erp.sql.database import describe
from connector.erp.sql.money import declared_places
from connector.erp.sql.rows import ReadRow, RowReader, cursor_text
from connector.erp.sql.settings import (
    CONTROL_COLUMNS,
    ControlQuery,
    RecordSource,
    Settings,
)
from connector.erp.values import CellError, CellParser, field_type

log = structlog.get_logger(__name__)

_INSTANT, _TEXT = attrgetter("changed_at"), attrgetter("changed_text")  # of a ReadRow
_ISO = CellParser(CellFormats(date=None, datetime=None))
_IN_LIST_SIZE = 1000  # ids per `IN (...)`: under every database's bound-parameter limit
_SHARED_CONNECTION_DIALECTS = frozenset({"postgresql", "sqlite"})
"""Dialects whose drivers run another query while a streamed result is still open."""

Parts = dict[str, list[tuple[Application, str]]]  # document id -> its applications, locations
ControlRow = tuple[object, object, object]  # customer_id, currency, balance, as the driver gave


@dataclass(frozen=True)
class _Relation:
    """One record type's rows as SQLAlchemy sees them: a table or the user's query, aliased;
    the declared types of its money columns (None: not known, a query's), and the places
    its money is read at, the pull's (`declared_places`)."""

    kind: str
    label: str
    spec: RecordSource
    reader: RowReader
    source: FromClause
    money_types: tuple[TypeEngine[Any] | None, ...] = ()
    money_places: int = DEFAULT_MONEY_PLACES

    def column(self, field: str) -> ColumnElement[Any]:
        """The column a canonical field is mapped to."""
        return self.source.c[self.spec.column_specs()[field].column]

    @property
    def modified_at(self) -> ColumnElement[Any] | None:
        name = self.spec.modified_at
        return self.source.c[name] if name is not None else None

    def select(self) -> Select[Any]:
        return sa.select(*(self.source.c[name] for name in self.reader.column_names))

    def location(self, key: str) -> str:
        return f"sql:{self.label}/{key}"

    def validated(
        self, read: ReadRow, key: str, joined: Mapping[str, object] | None = None
    ) -> Record | QuarantineEntry:
        """The row's record (with the `joined` fields), or its quarantine entry: for its cells
        that could not be read, else for what its model refuses, in the database's words."""
        record_id = None if key.startswith("#") else key
        location, names = self.location(key), self.reader.column_labels
        if read.problems:
            return rejected_row(self.kind, record_id, location, "; ".join(read.problems))
        values = {**read.values, **(joined or {})}
        return row_record(
            self.kind,
            values,
            record_id,
            location,
            names,
            empty="{} is NULL",
            money_places=self.money_places,
        )


class SqlSource(IncrementalSource):
    """Reads the ledger from a database; each row that breaks a record rule is quarantined.
    Incremental per record type that names a `modified_at` column."""

    name: ClassVar[str] = "sql"
    streams: ClassVar[tuple[str, ...]] = tuple(RECORD_MODELS)

    def __init__(
        self, settings: Settings, engine: Engine, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        super().__init__()
        self._settings = settings
        self._engine = engine
        self._sleep = sleep
        self._control_rows: list[ControlRow] | None = None  # read at the end of the last pull
        self._money_places = DEFAULT_MONEY_PLACES  # the last pull's, from its columns' types

    @property
    def engine(self) -> Engine:
        """The engine the source reads through (tests listen to its events)."""
        return self._engine

    def data_as_of(self) -> dt.datetime | None:
        """The result of `data_as_of_query` (say, when the warehouse load last finished)."""
        query = self._settings.data_as_of_query
        if query is None:
            return None
        with self._transaction("data_as_of_query") as connection:
            value = connection.execute(sa.text(query)).scalar()
        return _as_of(value)

    def control_balances(self) -> ControlBalances | None:
        """The rows of `control.query` as the ERP's balance per customer; None without it.

        Read at the end of the pull, in its transaction (on PostgreSQL its snapshot), so the
        figures describe exactly the documents read; asked before any pull, read now. Only
        the customers listed are checked (`every_customer=False`)."""
        control = self._settings.control
        if control is None:
            return None
        rows = self._control_rows
        if rows is None:
            with self._transaction() as connection:
                rows = self._read_control(connection, self._control_source(connection, control))
        parser = CellParser(self._settings.formats)
        specs = {name: ColumnSpec(column=name) for name in CONTROL_COLUMNS}
        cells = [
            (n, f"row {n}", dict(zip(specs, row, strict=True))) for n, row in enumerate(rows, 1)
        ]
        what, fix = "the rows of source.control.query", "correct the data or the query"
        balances = control_balances(parser, specs, cells, what, fix=fix, places=self._money_places)
        log.info(
            "erp.control_balances_read", erp=self.name, figure=control.figure, rows=len(balances)
        )
        return ControlBalances(control.figure, control.basis, balances, every_customer=False)

    def money_places(self) -> int:
        """The places of the last pull: the most its money columns declare (`numeric(18,2)`:
        2, so 16 digits before the point), 4 when a column's type does not say."""
        return self._money_places

    def _tracked(self) -> tuple[str, ...]:
        """The record types with a `modified_at` column."""
        return tuple(kind for kind, spec in self._specs().items() if spec.modified_at)

    def _pull(self, since: dict[str, str]) -> Iterator[PulledItem]:
        """Every record; with `since`, of each record type with a `modified_at` column only
        the rows changed after its cursor (payments and credit memos also when one of their
        applications changed; invoices also when open, or applied to by a document read)."""
        self._control_rows = None
        with self._transaction() as connection:
            relations = {
                kind: self._relation(connection, kind, spec) for kind, spec in self._specs().items()
            }
            places = declared_places(t for r in relations.values() for t in r.money_types)
            relations = {kind: replace(r, money_places=places) for kind, r in relations.items()}
            self._money_places = places
            log.info("erp.sql.money_places", places=places)
            # A wrong column of the control query stops the run before the first row.
            wanted = self._settings.control
            control = self._control_source(connection, wanted) if wanted is not None else None
            customers, invoices = relations["customers"], relations["invoices"]
            yield from self._read_kind(
                connection, customers, self._changed(connection, customers, since)
            )
            changed = self._changed(connection, invoices, since)
            reverified = self._reverified(connection, relations, since)
            where = None if changed is None else sa.or_(changed, *reverified)
            yield from self._read_kind(connection, invoices, where)
            if where is not None:
                self._log_reread("invoices", self._read["invoices"])
            for documents, applications in DOCUMENTS.items():
                if documents in relations:
                    parts = relations.get(applications)
                    read = self._document_filter(connection, relations[documents], parts, since)
                    yield from self._read_kind(connection, relations[documents], read, parts)
                    if parts is not None:
                        yield from self._orphans(connection, relations[documents], parts, since)
            if control is not None:
                self._control_rows = self._read_control(connection, control)

    # -- connections ---------------------------------------------------------------------

    @contextmanager
    def _transaction(self, what: str = "the pull") -> Iterator[Connection]:
        """One read-only transaction; on PostgreSQL one snapshot for the whole pull. A refusal
        of the database in it is an error about `what` it was for."""
        connection = self._connect()
        try:
            if connection.dialect.name == "postgresql":
                connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with connection.begin():
                yield connection
        except DBAPIError as error:
            raise _database_error(error, what) from error
        finally:
            connection.close()

    def _connect(self) -> Connection:
        """A connection, retried with backoff while the server is unreachable."""
        from connector.erp.retries import retrying  # noqa: PLC0415 - tenacity: sql runs only

        database = describe(self._engine.url)
        retry = retrying(
            OperationalError,
            self._settings.connect_attempts,
            self._sleep,
            "erp.sql.connect_retried",
            database=database,
        )
        try:
            return retry(self._engine.connect)
        except OperationalError as error:
            raise FatalError(f"cannot connect to {database}: {_first_line(error)}") from None

    def _lookup_connection(
        self, connection: Connection, needed: bool
    ) -> AbstractContextManager[Connection]:
        """Where application lookups run while the document rows still stream (if `needed`):
        the pull's own connection, or another one closed when they are over."""
        if not needed or connection.dialect.name in _SHARED_CONNECTION_DIALECTS:
            return nullcontext(connection)
        return closing(self._connect())

    # -- relations -----------------------------------------------------------------------

    def _specs(self) -> dict[str, RecordSource]:
        """The configured record types' tables or queries, in the order they are read."""
        return {kind: spec for kind in RECORD_MODELS if (spec := self._settings.source(kind))}

    def _relation(self, connection: Connection, kind: str, spec: RecordSource) -> _Relation:
        """The record type's table or query, its columns checked against the database."""
        reader = RowReader(
            RECORD_MODELS[kind], spec.column_specs(), self._settings.formats, spec.modified_at
        )
        label = spec.label(kind)
        types: dict[str, TypeEngine[Any] | None]
        if spec.table is not None:
            schema, _, table = spec.table.rpartition(".")
            types = self._table_columns(connection, kind, spec.table, table, schema or None)
            columns: list[sa.ColumnClause[Any]] = [sa.column(name) for name in reader.column_names]
            source: FromClause = sa.table(table, *columns, schema=schema or None)
        else:
            query = spec.query or ""
            types = _query_columns(connection, query, label, f"records.{kind}.query")
            source = _query_source(query, reader.column_names, label)
        check_columns(f"sql:{label}:", reader.column_names, list(types), f"records.{kind} maps it")
        model = RECORD_MODELS[kind]
        money = [
            types.get(column.column)
            for name, column in spec.column_specs().items()
            if field_type(model.model_fields[name].annotation) is Decimal
        ]
        return _Relation(kind, label, spec, reader, source, tuple(money))

    def _table_columns(
        self, connection: Connection, kind: str, name: str, table: str, schema: str | None
    ) -> dict[str, TypeEngine[Any] | None]:
        """The columns of the table or view `name` (`schema.table`) as the database has them,
        each with its declared type."""
        try:
            columns = sa.inspect(connection).get_columns(table, schema=schema)
        except (NoSuchTableError, DBAPIError) as error:
            # SQLite reports an unknown schema as a database error, not as no such table.
            detail = f": {_first_line(error)}" if isinstance(error, DBAPIError) else ""
            raise SourceConfigError(
                f"no table or view {name!r} in {describe(self._engine.url)} "
                f"(records.{kind}.table){detail}"
            ) from None
        return {str(column["name"]): column.get("type") for column in columns}

    # -- reading a record type ----------------------------------------------------------

    def _read_kind(
        self,
        connection: Connection,
        relation: _Relation,
        where: ColumnElement[bool] | None,
        applications: _Relation | None = None,
    ) -> Iterator[PulledItem]:
        """The rows of one record type (those `where` picks; all without), each its record or
        its rejection: a document with its applications, read a batch of documents at a
        time; then the applications whose document was not read."""
        statement = relation.select() if where is None else relation.select().where(where)
        self._count(connection, relation, statement)
        quarantined = 0
        document = relation.kind in DOCUMENTS
        with self._lookup_connection(connection, applications is not None) as lookup:
            for batch in self._batches(connection, statement, relation):
                reads = [relation.reader.read(row) for row in batch]
                parts: Parts | None = {} if document else None
                if applications is not None:
                    id_column = relation.spec.column_specs()["id"].column
                    ids = [
                        row[id_column]
                        for row, read in zip(batch, reads, strict=True)
                        if not read.problems and "id" in read.values
                    ]
                    parts, rejected = self._applications(lookup, applications, ids)
                    yield from rejected
                tracked = self._tracked_read(relation.kind, reads, _INSTANT, _TEXT, final=False)
                for read in tracked:
                    item = self._record(relation, read, self._read[relation.kind], parts)
                    quarantined += isinstance(item, QuarantineEntry)
                    yield item
        self._totals[relation.kind] = self._read[relation.kind]
        log.info(
            "erp.sql.stream_pulled",
            stream=relation.kind,
            relation=relation.label,
            rows=self._read[relation.kind],
            quarantined=quarantined,
            incremental=where is not None,
        )

    def _changed(
        self,
        connection: Connection,
        relation: _Relation,
        since: Mapping[str, str],
        name: str = "since",
    ) -> ColumnElement[bool] | None:
        """The rows changed after the record type's cursor; None: no cursor, read them all.

        The cursor is compared on SQLite as its one ISO spelling (the comparison reads both
        sides as instants, see `_after`); elsewhere as a datetime, zone-aware exactly when the
        column was."""
        text = since.get(relation.kind)
        if text is None or relation.modified_at is None:
            return None
        instant = parse_cursor(relation.kind, text)
        cutoff = cursor_text(instant) if connection.dialect.name == "sqlite" else instant
        return _after(connection, relation.modified_at, name, cutoff)

    def _reverified(
        self, connection: Connection, relations: Mapping[str, _Relation], since: Mapping[str, str]
    ) -> list[ColumnElement[bool]]:
        """What an incremental pull reads of invoices beyond their changed rows.

        A warehouse may lower an invoice's open balance (a partial payment) without moving its
        `modified_at`, so every open invoice is read again. An invoice paid off is no longer
        open, so every invoice that the applications of the payments and credit memos this
        pull reads apply to is read too (all that any application names when the documents
        are read whole: which of them changed is then unknown). These are ORed with the stamp
        filter in the one invoice statement rather than read by a second one: each row is
        read once, in the same snapshot, with no copies to reconcile in memory, and the
        `count(*)` of that statement stays the bar's exact total."""
        invoices = relations["invoices"]
        conditions = [_open_balance(connection, invoices.column("open_balance"))]
        for documents, applications in DOCUMENTS.items():
            if documents not in relations or applications not in relations:
                continue
            parts = relations[applications]
            paid = sa.select(parts.column("invoice_id")).correlate(None)
            read = self._document_filter(connection, relations[documents], parts, since)
            if read is not None:
                document_ids = sa.select(relations[documents].column("id")).where(read)
                paid = paid.where(parts.column("document_id").in_(document_ids.correlate(None)))
            conditions.append(invoices.column("id").in_(paid))
        return conditions

    def _count(self, connection: Connection, relation: _Relation, statement: Select[Any]) -> None:
        """The rows `statement` will read, by `count(*)` over it in the same transaction."""
        counting = sa.select(sa.func.count()).select_from(statement.subquery())
        self._totals[relation.kind] = int(connection.execute(counting).scalar_one())

    def _record(
        self, relation: _Relation, read: ReadRow, row_number: int, parts: Parts | None = None
    ) -> PulledItem:
        """A row's record (a document with its own applications of `parts`), or why not."""
        key = _key(read.values.get("id"), row_number)
        own = [] if parts is None else parts.get(key, [])
        applications = {} if parts is None else {"applications": tuple(part for part, _ in own)}
        record = relation.validated(read, key, applications)
        if isinstance(record, QuarantineEntry):
            return record
        locations = tuple(location for _, location in own)
        return Pulled(cast(CanonicalRecord, record), relation.location(key), locations)

    # -- payments and credit memos, with their applications ------------------------------

    def _document_filter(
        self,
        connection: Connection,
        documents: _Relation,
        applications: _Relation | None,
        since: Mapping[str, str],
    ) -> ColumnElement[bool] | None:
        """Which documents to read: those changed, or with an application changed; None: all.

        The filter applies only when every changed row can be seen: a record type whose
        applications have a `modified_at` but no cursor yet is read whole."""
        changed = self._changed(connection, documents, since)
        if changed is None or applications is None or applications.modified_at is None:
            return changed
        touched_at = self._changed(connection, applications, since, "parts_since")
        if touched_at is None:
            return None
        touched = sa.select(applications.column("document_id")).where(touched_at)
        return sa.or_(changed, documents.column("id").in_(touched.correlate(None)))

    def _applications(
        self,
        connection: Connection,
        relation: _Relation,
        ids: Sequence[object],
    ) -> tuple[Parts, list[QuarantineEntry]]:
        """The applications of one batch of documents, by document id."""
        parts: Parts = defaultdict(list)
        rejected: list[QuarantineEntry] = []
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _IN_LIST_SIZE):
            chunk = unique[start : start + _IN_LIST_SIZE]
            statement = relation.select().where(relation.column("document_id").in_(chunk))
            for item in self._parts(relation, connection.execute(statement).mappings()):
                if isinstance(item, QuarantineEntry):
                    rejected.append(item)
                else:
                    document_id, application, location = item
                    parts[document_id].append((application, location))
        return parts, rejected

    def _orphans(
        self,
        connection: Connection,
        documents: _Relation,
        applications: _Relation,
        since: Mapping[str, str],
    ) -> Iterator[QuarantineEntry]:
        """Applications whose document is not among the documents (or was filtered out)."""
        has_document = sa.exists().where(
            documents.column("id") == applications.column("document_id")
        )
        statement = applications.select().where(~has_document)
        changed = self._changed(connection, applications, since)
        if changed is not None:
            statement = statement.where(changed)
        not_in = f"sql:{documents.label} (or that query leaves it out)"
        for batch in self._batches(connection, statement, applications):
            for item in self._parts(applications, batch):
                yield (
                    item
                    if isinstance(item, QuarantineEntry)
                    else orphan(applications.kind, *item, not_in)
                )

    def _parts(
        self, relation: _Relation, rows: Iterable[RowMapping]
    ) -> Iterator[tuple[str, Application, str] | QuarantineEntry]:
        """Each application row as its application, or why not; read uncounted (they are
        not records), each moves its record type's cursor."""
        for row in rows:
            read = relation.reader.read(row)
            self._move_cursor(relation.kind, read.changed_at, read.changed_text)
            yield _application(relation, read)

    # -- the control figure ------------------------------------------------------------------

    def _control_source(self, connection: Connection, control: ControlQuery) -> FromClause:
        """`control.query` as a subquery, its three columns checked against the database."""
        found = list(_query_columns(connection, control.query, "control", "source.control.query"))
        why = f"it must return {', '.join(CONTROL_COLUMNS)}, by those names; name them with AS"
        check_columns("source.control.query returns", CONTROL_COLUMNS, found, why)
        return _query_source(control.query, CONTROL_COLUMNS, "control")

    def _read_control(self, connection: Connection, source: FromClause) -> list[ControlRow]:
        statement = sa.select(*(source.c[name] for name in CONTROL_COLUMNS))
        try:
            result = connection.execute(statement)
            return [(row[0], row[1], row[2]) for row in result]
        except DBAPIError as error:
            raise _database_error(error, "source.control.query") from error

    # -- reading ---------------------------------------------------------------------------

    def _batches(
        self, connection: Connection, statement: Select[Any], relation: _Relation
    ) -> Iterator[Sequence[RowMapping]]:
        """The statement's rows, `batch_size` at a time, from a server-side cursor."""
        size = self._settings.batch_size
        streamed = statement.execution_options(stream_results=True, yield_per=size)
        result = connection.execute(streamed).mappings()
        for batch in result.partitions(size):
            log.debug(
                "erp.batch_fetched",
                source=self.name,
                stream=relation.kind,
                relation=relation.label,
                rows=len(batch),
            )
            yield batch


def _application(
    relation: _Relation, read: ReadRow
) -> tuple[str, Application, str] | QuarantineEntry:
    """An application row as (document id, application, location), or why it is not one."""
    document = read.values.get("document_id")
    invoice = read.values.get("invoice_id")
    key = f"{document if document is not None else '?'}->{invoice if invoice is not None else '?'}"
    row = relation.validated(read, key)
    if isinstance(row, QuarantineEntry):
        return row
    part = cast(ApplicationRow, row)  # an application kind's model
    return part.document_id, part.application(relation.money_places), relation.location(key)


def _key(record_id: object, row_number: int) -> str:
    """The record's id as its location names it; a row without one by its position."""
    text = str(record_id).strip() if record_id is not None else ""
    return text or f"#{row_number}"


def _after(
    connection: Connection, column: ColumnElement[Any], name: str, cutoff: object
) -> ColumnElement[bool]:
    """`column` later than the cursor, as instants.

    SQLite has no timestamp type: `>` on its text compares characters, so
    `2026-06-01 18:00:00` sorts before `2026-06-01T12:00:00`. `julianday()` reads every ISO
    spelling (space or T, fractions, Z, +HH:MM) as an instant, to the millisecond. A stamp it
    cannot read (julianday NULL, say `+0200`) is read on every run rather than never; a NULL
    stamp stays out, as with `>` anywhere. Other databases compare their typed columns."""
    # Unique: one statement may compare several streams' cursors (the invoices re-verified).
    since: sa.BindParameter[Any] = sa.bindparam(name, cutoff, unique=True)
    if connection.dialect.name != "sqlite":
        return column > since
    instant = sa.func.julianday(column)
    unreadable = sa.and_(column.is_not(None), instant.is_(None))
    return sa.or_(instant > sa.func.julianday(since), unreadable)


_ZERO_SPELLING = "0.,'+- "
"""The characters a zero amount may be spelt with as text: 0, 0.00, -0,00, 0'000.00."""


def _open_balance(connection: Connection, column: ColumnElement[Any]) -> ColumnElement[bool]:
    """`column` (an open balance) is not zero: the invoice may still be owed.

    Typed columns compare as numbers. SQLite keeps money as text just as well, and text
    compared with 0 compares text ('0.00' <> '0'): there a value is zero when it has a 0 and
    nothing but zeros, separators, signs and spaces (`ltrim` of those leaves nothing),
    whichever of the formats spelt it; any other spelling counts as open. A NULL or blank
    balance is read too, as a full pull would read it: its row is quarantined rather than its
    kept copy staying in the ledger."""
    if connection.dialect.name != "sqlite":
        return sa.or_(column.is_(None), column != sa.bindparam("settled", 0, unique=True))
    spelt = sa.cast(column, sa.Text)
    characters: sa.BindParameter[str] = sa.bindparam("zero_spelling", _ZERO_SPELLING, unique=True)
    return sa.or_(
        column.is_(None),
        sa.func.ltrim(spelt, characters) != sa.bindparam("nothing", "", unique=True),
        sa.func.instr(spelt, sa.bindparam("zero", "0", unique=True)) == 0,
    )


def _as_of(value: object) -> dt.datetime | None:
    """The query's value as a time: a timestamp, a date (its midnight, UTC) or ISO text."""
    try:
        moment = _ISO.parse(value, dt.datetime, ColumnSpec(column="data_as_of_query"))
    except CellError:
        raise SourceConfigError(f"data_as_of_query returned {value!r}, not a timestamp") from None
    return moment if isinstance(moment, dt.datetime) else None


def _query_columns(
    connection: Connection, query: str, label: str, key: str
) -> dict[str, TypeEngine[Any] | None]:
    """The columns a SELECT returns, asked of the database without reading a row, each with
    its type where the driver says it exactly (`_described_type`); a query it refuses is a
    settings problem, named by its `key`."""
    probe = sa.text(query).columns().subquery(label)
    empty: Select[Any] = sa.select(sa.literal_column("*")).select_from(probe).limit(0)
    try:
        result = connection.execute(empty)
        names = list(result.keys())
        description = result.cursor.description if result.cursor is not None else None
        result.close()
    except DBAPIError as error:
        raise SourceConfigError(f"{key}: the database refused it: {_first_line(error)}") from error
    described = list(description or [])
    if len(described) != len(names):
        return dict.fromkeys(names)
    dialect = connection.dialect.name
    return {
        name: _described_type(dialect, column)
        for name, column in zip(names, described, strict=True)
    }


_PG_NUMERIC = 1700  # the OID of PostgreSQL's numeric type


def _described_type(dialect: str, column: Sequence[Any]) -> TypeEngine[Any] | None:
    """A query column's type from its DB-API description (name, type_code, display size,
    internal size, precision, scale, null ok): a `numeric(p,s)` on PostgreSQL, whose psycopg
    gives its OID and declared scale; None (not known) for every other column and driver,
    whose type codes differ and may give a float a scale."""
    if dialect != "postgresql" or len(column) < 6 or column[1] != _PG_NUMERIC:
        return None
    precision, scale = column[4], column[5]
    return sa.Numeric(precision, scale) if scale is not None else None


def _query_source(query: str, names: Iterable[str], label: str) -> FromClause:
    """A SELECT as a subquery with the columns `names`."""
    return sa.text(query).columns(*(sa.column(name) for name in names)).subquery(label)


def _first_line(error: DBAPIError) -> str:
    """The driver's own message, without SQLAlchemy's statement and parameter dump."""
    message = str(error.orig).strip() if error.orig is not None else str(error)
    return message.splitlines()[0] if message else type(error).__name__


def _database_error(error: DBAPIError, what: str) -> FatalError:
    """A connection lost mid-pull stops the run; any other refusal is a settings problem."""
    if isinstance(error, OperationalError):
        return FatalError(f"the SQL source lost its database during {what}: {_first_line(error)}")
    return SourceConfigError(f"the database refused {what} of the SQL source: {_first_line(error)}")
