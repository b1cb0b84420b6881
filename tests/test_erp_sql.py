"""The SQL source: its settings, secrets, streaming, incremental pulls and quarantine, against a
real SQLite file and a real PostgreSQL (`warehouse_url` in tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from contract.case_sql import (
    EXAMPLE,
    LOADED_AT,
    URL_VARIABLE,
    engine_for,
    example_settings,
    source_for,
    warehouse_tables,
    write_warehouse,
)
from contract.harness import bar_of, build, comparable, pull_all
from contract.ledger import AS_OF, contract_ledger
from sqlalchemy import event
from structlog.testing import capture_logs

from arsync.control import Basis, ControlBalance, ControlBalances
from arsync.errors import FatalError, SourceConfigError
from arsync.quarantine import QuarantineEntry
from arsync.reconcile import reconcile
from arsync.records import Customer, Invoice, InvoiceStatus, Payment
from arsync.yamlfile import ConfigError, load_model
from connector.erp import sql
from connector.erp.base import Pulled
from connector.erp.sql import source as sql_source
from connector.erp.sql.database import create_source_engine, describe, resolve_url
from connector.erp.sql.rows import RowReader
from connector.erp.sql.settings import Column, ControlQuery, ValueFormats

D = Decimal
LATER = LOADED_AT + dt.timedelta(hours=5)
OPEN_INVOICES = sorted(
    r.id for r in contract_ledger() if isinstance(r, Invoice) and r.open_balance != 0
)
"""I2, I3, I4, I6: what every incremental pull of the contract ledger reads again."""
DOCUMENT_STREAMS = ("payments", "payment_applications", "credit_memos", "credit_memo_applications")


@dataclass(frozen=True)
class Executed:
    """One statement the source sent, as the driver received it."""

    statement: str
    parameters: list[Any]
    server_side: bool
    yield_per: int | None


def record_statements(engine: sa.Engine) -> list[Executed]:
    executed: list[Executed] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(
        _connection: sa.Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        _executemany: bool,
    ) -> None:
        values = list(parameters.values()) if isinstance(parameters, dict) else list(parameters)
        executed.append(
            Executed(
                " ".join(statement.split()),
                values,
                type(cursor).__name__ == "ServerCursor",
                context.execution_options.get("yield_per"),
            )
        )

    return executed


@pytest.fixture
def open_source() -> Iterator[Callable[..., sql.SqlSource]]:
    """Sources on a URL; their connections are closed before the database is dropped."""
    sources: list[sql.SqlSource] = []

    def make(url: str, settings: sql.Settings | None = None) -> sql.SqlSource:
        source = source_for(url, settings)
        sources.append(source)
        return source

    yield make
    for source in sources:
        source.engine.dispose()


@pytest.fixture
def warehouse(warehouse_url: str) -> str:
    """The contract ledger in the example's warehouse schema, in SQLite and in PostgreSQL."""
    write_warehouse(warehouse_url, contract_ledger())
    return warehouse_url


def _items(source: sql.SqlSource, **kwargs: Any) -> tuple[list[Pulled], list[QuarantineEntry]]:
    pulled: list[Pulled] = []
    rejected: list[QuarantineEntry] = []
    for item in source.pull(**kwargs):
        (rejected if isinstance(item, QuarantineEntry) else pulled).append(item)  # type: ignore[arg-type]
    return pulled, rejected


def _settings_from(tmp_path: Path, *replacements: tuple[str, str]) -> sql.Settings:
    """The example mapping with some text replaced, loaded as the CLI would load it."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    settings = load_model(sql.Settings, path)
    return settings.model_copy(update={"url": f"${{{URL_VARIABLE}}}"})


def _insert(url: str, table: str, rows: list[dict[str, Any]]) -> None:
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            connection.execute(warehouse_tables().tables[table].insert(), rows)
    finally:
        engine.dispose()


# -- settings ---------------------------------------------------------------------------


def test_the_example_mapping_loads_with_a_table_or_a_query_per_record_type() -> None:
    settings = load_model(sql.Settings, EXAMPLE)

    assert settings.kind == "sql"
    assert settings.source("invoices").table == "fact_ar_invoice"  # type: ignore[union-attr]
    payments = settings.source("payments")
    assert payments is not None
    assert payments.table is None
    assert payments.query is not None
    assert payments.query.startswith("SELECT r.receipt_id")
    assert payments.label("payments") == "cash_receipts"
    status = settings.source("invoices").column_specs()["status"]  # type: ignore[union-attr]
    assert status == Column(
        column="invoice_status", values={"OPEN": "open", "PAID": "paid", "VOID": "void"}
    )


def test_settings_problems_name_the_line_of_the_offending_key(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    bad = (
        text.replace(
            "url: postgresql://arsync_reader:${WAREHOUSE_PASSWORD}@",
            "url: postgresql://arsync_reader:hunter2@",
        )
        .replace("      due_date: due_date\n", "      due_dte: due_date\n")
        .replace("      name: customer_name\n", '      name: "customer name; DROP TABLE x"\n')
        .replace(
            "    table: fact_credit_memo\n",
            "    table: fact_credit_memo\n    query: SELECT * FROM fact_credit_memo\n",
        )
        .replace(
            "       WHERE r.receipt_status <> 'REVERSED'\n",
            "       WHERE r.receipt_status <> :status\n",
        )
        .replace(
            "data_as_of_query: SELECT MAX(finished_at)",
            "data_as_of_query: DELETE FROM etl_batch_log; SELECT MAX(finished_at)",
        )
    )
    path = tmp_path / "sql.yaml"
    path.write_text(bad, encoding="utf-8")
    lines = bad.splitlines()

    def line_of(fragment: str) -> int:
        return next(n for n, line in enumerate(lines, start=1) if fragment in line)

    with pytest.raises(ConfigError) as raised:
        load_model(sql.Settings, path)

    problems = {p.key_path: p for p in raised.value.problems}
    assert "hunter2" not in str(raised.value)
    assert problems["url"].line == line_of("url: postgresql://")
    assert "${WAREHOUSE_PASSWORD}" in problems["url"].message
    assert problems["records.invoices.columns.due_dte"].line == line_of("due_dte:")
    assert "did you mean 'due_date'?" in problems["records.invoices.columns.due_dte"].message
    assert problems["records.customers.columns.name"].line == line_of("customer name; DROP")
    assert "not a plain column name" in problems["records.customers.columns.name"].message
    assert problems["records.credit_memos"].line == line_of("    table: fact_credit_memo")
    assert "either `table` or `query`" in problems["records.credit_memos"].message
    assert problems["records.payments.query"].line == line_of("query: |")
    assert "bind parameters (:status)" in problems["records.payments.query"].message
    assert problems["data_as_of_query"].line == line_of("data_as_of_query:")
    assert "one SELECT statement" in problems["data_as_of_query"].message


@pytest.mark.parametrize(
    "url",
    [
        "${WAREHOUSE_URL}",
        "postgresql://reader:${WAREHOUSE_PASSWORD}@warehouse:5432/finance",
        "mssql+pyodbc://reader@dsn_finance",
        "sqlite:///warehouse.db",
    ],
)
def test_urls_without_a_written_password_are_accepted(url: str) -> None:
    data = load_model(sql.Settings, EXAMPLE).model_dump()
    data["url"] = url

    assert sql.Settings.model_validate(data).url == url


def test_applications_mapped_without_their_documents_are_refused_when_the_settings_load() -> None:
    data = load_model(sql.Settings, EXAMPLE).model_dump()
    data["records"]["payments"] = None

    with pytest.raises(
        ValueError, match=r"records\.payment_applications needs a records\.payments"
    ):
        sql.Settings.model_validate(data)


def test_a_relative_sqlite_path_is_taken_from_the_settings_folder(tmp_path: Path) -> None:
    data = load_model(sql.Settings, EXAMPLE).model_dump()
    data["url"] = "sqlite:///../data/warehouse.db"

    resolved = sql.Settings.model_validate(data).resolved(tmp_path / "config")

    assert resolved.url == f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}"


# -- secrets and connections ------------------------------------------------------------


def test_a_password_reference_is_read_from_the_environment_and_never_shown() -> None:
    url = resolve_url(
        "postgresql://reader:${WAREHOUSE_PASSWORD}@db:5432/finance",
        {"WAREHOUSE_PASSWORD": "s3cr3t-pw"},
    )

    assert url.password == "s3cr3t-pw"
    assert url.drivername == "postgresql+psycopg"
    assert describe(url) == "postgresql+psycopg://reader:***@db:5432/finance"


def test_a_whole_url_reference_is_read_from_the_environment() -> None:
    url = resolve_url("${WAREHOUSE_URL}", {"WAREHOUSE_URL": "postgresql://reader:pw@db/finance"})

    assert (url.host, url.database, url.password) == ("db", "finance", "pw")


def test_an_unset_variable_is_fatal_and_names_it_not_its_purpose_elsewhere() -> None:
    with pytest.raises(FatalError, match="WAREHOUSE_PASSWORD is not set") as raised:
        resolve_url("postgresql://reader:${WAREHOUSE_PASSWORD}@db/finance", {})

    assert "Salesforce" not in str(raised.value)
    assert "reader:***@db" in str(raised.value)


def test_a_variable_that_holds_no_url_is_reported_without_echoing_it() -> None:
    with pytest.raises(SourceConfigError) as raised:
        resolve_url("${WAREHOUSE_URL}", {"WAREHOUSE_URL": "hunter2 is my password"})

    assert "WAREHOUSE_URL does not hold a database URL" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_an_unreachable_server_is_retried_then_fatal_and_the_password_never_logged() -> None:
    url = resolve_url("postgresql://reader:${PW}@127.0.0.1:9/finance", {"PW": "s3cr3t-pw"})
    settings = example_settings().model_copy(update={"connect_attempts": 3})
    slept: list[float] = []
    source = sql.SqlSource(settings, create_source_engine(url), sleep=slept.append)

    with capture_logs() as logs, pytest.raises(FatalError) as raised:
        list(source.pull())

    assert len(slept) == 2
    assert [e["event"] for e in logs] == ["erp.sql.connect_retried"] * 2
    assert str(raised.value).startswith("cannot connect to postgresql+psycopg://reader:***@")
    assert "s3cr3t-pw" not in str(raised.value) + repr(logs)


def test_a_missing_sqlite_file_is_an_error_not_a_new_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"

    with pytest.raises(SourceConfigError, match="no SQLite database file"):
        source_for(f"sqlite:///{path}")

    assert not path.exists()


def test_the_sqlite_connection_refuses_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_warehouse(url, contract_ledger())
    source = source_for(url)

    with source.engine.connect() as connection, pytest.raises(sa.exc.OperationalError):
        connection.exec_driver_sql("DELETE FROM dim_customer")
    source.engine.dispose()


# -- pulling ----------------------------------------------------------------------------


def test_the_whole_ledger_comes_back_from_either_database(
    warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    source = open_source(warehouse)

    records, rejected = pull_all(source)

    assert rejected == []
    assert comparable(records, {}) == comparable(contract_ledger(), {})
    assert source.data_as_of() == LOADED_AT


def test_locations_name_the_table_or_query_and_the_key(
    warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    pulled, _ = _items(open_source(warehouse))

    by_id = {item.record.id: item for item in pulled}
    assert by_id["C1"].location == "sql:dim_customer/C1"
    assert by_id["I2"].location == "sql:fact_ar_invoice/I2"
    assert by_id["P2"].location == "sql:cash_receipts/P2"
    assert by_id["P2"].part_locations == ("sql:fact_receipt_application/P2->I2",)
    assert by_id["CM1"].part_locations == ("sql:fact_credit_memo_application/CM1->I6",)


def test_rows_stream_in_batches_and_applications_are_looked_up_per_batch(
    warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    source = open_source(warehouse, example_settings().model_copy(update={"batch_size": 2}))
    executed = record_statements(source.engine)
    transactions: list[dict[str, Any]] = []
    event.listen(source.engine, "begin", lambda c: transactions.append(c.get_execution_options()))

    with capture_logs() as logs:
        records, rejected = pull_all(source)

    assert rejected == []
    assert len(records) == 15
    reads = [e for e in executed if e.yield_per is not None]
    assert {e.yield_per for e in reads} == {2}
    assert any("FROM fact_ar_invoice" in e.statement for e in reads)
    assert any("FROM (SELECT r.receipt_id" in e.statement for e in reads)
    lookups = [e for e in executed if "fact_receipt_application.receipt_id IN" in e.statement]
    assert [sorted(e.parameters) for e in lookups] == [["P1", "P2"], ["P3"]]
    batches = [
        e["rows"] for e in logs if e["event"] == "erp.batch_fetched" and e["stream"] == "invoices"
    ]
    assert batches == [2, 2, 2, 1]
    assert len(transactions) == 1  # one transaction, one snapshot, for the whole pull
    if source.engine.dialect.name == "postgresql":
        assert all(e.server_side for e in reads)
        assert transactions[0]["postgresql_readonly"] is True
        assert transactions[0]["isolation_level"] == "REPEATABLE READ"


def test_where_a_driver_runs_one_query_at_a_time_lookups_use_a_second_connection_then_close_it(
    warehouse: str, open_source: Callable[..., sql.SqlSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_source, "_SHARED_CONNECTION_DIALECTS", frozenset())
    source = open_source(warehouse)
    opened: list[object] = []
    closed: list[object] = []
    event.listen(source.engine, "checkout", lambda dbapi, record, proxy: opened.append(dbapi))
    event.listen(source.engine, "checkin", lambda dbapi, record: closed.append(dbapi))

    pulled, rejected = _items(source)

    assert rejected == []
    assert sorted(item.record.id for item in pulled) == sorted(
        item.record.id for item in _items(open_source(warehouse))[0]
    )
    # the pull's own, and one per document type with applications (payments, credit memos)
    assert len(opened) == 3
    assert sorted(map(id, closed)) == sorted(map(id, opened))


def test_a_second_pull_reads_the_changed_rows_and_the_open_invoices_again(
    warehouse_url: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    fed = [
        r.model_copy(update={"last_modified": LOADED_AT}) if isinstance(r, Invoice) else r
        for r in contract_ledger()
    ]
    write_warehouse(warehouse_url, fed, changed_at=LOADED_AT)
    first = open_source(warehouse_url)
    pull_all(first)
    cursors = first.cursors()
    assert set(cursors) == {
        "customers",
        "invoices",
        "payments",
        "payment_applications",
        "credit_memos",
        "credit_memo_applications",
    }
    assert all(_instant(text) == LOADED_AT for text in cursors.values())
    # I3 is part-paid by P2's unapplied 100.00: the invoice row and one new application change.
    tables = warehouse_tables().tables
    engine = engine_for(warehouse_url)
    with engine.begin() as connection:
        connection.execute(
            tables["fact_ar_invoice"]
            .update()
            .where(tables["fact_ar_invoice"].c.invoice_id == "I3")
            .values(open_amount=D("350.50"), updated_at=LATER)
        )
        connection.execute(
            tables["fact_receipt_application"].insert(),
            [
                {
                    "receipt_id": "P2",
                    "invoice_id": "I3",
                    "applied_amount": D("100.00"),
                    "applied_date": dt.date(2026, 7, 1),
                    "updated_at": LATER,
                }
            ],
        )
    engine.dispose()
    second = open_source(warehouse_url)
    executed = record_statements(second.engine)

    pulled, rejected = _items(second, since=cursors)

    assert rejected == []
    # Was ["I3", "P2"]: the open invoices were not re-read, so a balance lowered without a
    # new stamp stayed stale. Now I2, I4 and I6 (open, unchanged) come again; the closed and
    # unchanged I1, I5, I7, the customers and the unchanged payments still do not.
    assert sorted(item.record.id for item in pulled) == ["I2", "I3", "I4", "I6", "P2"]
    by_id = {item.record.id: item.record for item in pulled}
    invoice, payment = by_id["I3"], by_id["P2"]
    assert isinstance(invoice, Invoice)
    assert invoice.open_balance == D("350.50")
    assert invoice.last_modified == LATER
    assert isinstance(payment, Payment)
    assert sorted((a.invoice_id, a.amount) for a in payment.applications) == [
        ("I2", D("500.00")),
        ("I3", D("100.00")),
    ]
    dialect = second.engine.dialect.name
    invoices = _assert_filtered(
        executed, "FROM fact_ar_invoice", _later(dialect, "fact_ar_invoice"), cursors["invoices"]
    )
    assert "fact_ar_invoice.open_amount" in invoices.statement
    # Every value bound, none written into the SQL; the one literal is the payments query's.
    assert "'" not in invoices.statement.replace("<> 'REVERSED'", "")
    _assert_filtered(
        executed, "FROM dim_customer", _later(dialect, "dim_customer"), cursors["customers"]
    )
    payments = _assert_filtered(
        executed,
        "FROM (SELECT r.receipt_id",
        _later(dialect, "cash_receipts"),
        cursors["payments"],
    )
    assert _later(dialect, "fact_receipt_application") in payments.statement
    new = second.cursors()
    assert _instant(new["invoices"]) == LATER
    assert _instant(new["payment_applications"]) == LATER
    assert new["customers"] == cursors["customers"]
    assert new["payments"] == cursors["payments"]

    third = open_source(warehouse_url)
    # Was ([], []): nothing changed, but the open invoices are verified again, every run.
    again, rejected = _items(third, since=new)
    assert rejected == []
    assert sorted(item.record.id for item in again) == OPEN_INVOICES
    assert third.cursors() == new

    counted = record_statements(second.engine)
    # Was (2, 2), the changes only: the re-verified invoices are read, so they are counted.
    assert bar_of(second, since=cursors).seen[-1] == (5, 5)
    counts = [e for e in counted if e.statement.lstrip().upper().startswith("SELECT COUNT(*)")]
    assert len(counts) == 4  # one per record type, each with the filter of its read
    assert _later(dialect, "fact_ar_invoice") in next(
        e.statement for e in counts if "FROM fact_ar_invoice" in e.statement
    )


def test_an_invoice_paid_off_without_a_new_stamp_is_read_through_what_paid_it(
    warehouse_url: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    """Closed now, so not among the open invoices: the new application that closed it brings
    it back, from a payment (I4) or a credit memo (I6), although neither stamp moved."""
    fed = [
        r.model_copy(update={"last_modified": LOADED_AT}) if isinstance(r, Invoice) else r
        for r in contract_ledger()
    ]
    write_warehouse(warehouse_url, fed, changed_at=LOADED_AT)
    first = open_source(warehouse_url)
    pull_all(first)
    cursors = first.cursors()
    receipt = {"receipt_date": dt.date(2026, 7, 1), "currency_code": "USD"}
    _insert(
        warehouse_url,
        "fact_cash_receipt",
        [
            {
                **receipt,
                "receipt_id": "P9",
                "customer_id": "C2",
                "receipt_amount": D("2000.00"),
                "payment_method": "WIRE",
                "receipt_status": "POSTED",
                "updated_at": LATER,
            }
        ],
    )
    applied = {"applied_date": dt.date(2026, 7, 1), "updated_at": LATER}
    _insert(
        warehouse_url,
        "fact_receipt_application",
        [{**applied, "receipt_id": "P9", "invoice_id": "I4", "applied_amount": D("2000.00")}],
    )
    memo = {"memo_date": dt.date(2026, 7, 1), "currency_code": "EUR", "updated_at": LATER}
    _insert(
        warehouse_url,
        "fact_credit_memo",
        [{**memo, "credit_memo_id": "CM2", "customer_id": "C3", "memo_amount": D("1400.00")}],
    )
    _insert(
        warehouse_url,
        "fact_credit_memo_application",
        [{**applied, "credit_memo_id": "CM2", "invoice_id": "I6", "applied_amount": D("1400.00")}],
    )
    engine = engine_for(warehouse_url)
    with engine.begin() as connection:  # the warehouse closes both, their stamps unmoved
        connection.execute(
            sa.text(
                "UPDATE fact_ar_invoice SET open_amount = 0, invoice_status = 'PAID' "
                "WHERE invoice_id IN ('I4', 'I6')"
            )
        )
    engine.dispose()
    second = open_source(warehouse_url)

    pulled, rejected = _items(second, since=cursors)

    assert rejected == []
    invoices = {i.record.id: i.record for i in pulled if isinstance(i.record, Invoice)}
    assert sorted(invoices) == ["I2", "I3", "I4", "I6"]  # I2, I3 open; I4, I6 paid off
    assert [(invoices[i].open_balance, invoices[i].status) for i in ("I4", "I6")] == [
        (D("0"), InvoiceStatus.PAID),
        (D("0"), InvoiceStatus.PAID),
    ]
    assert sorted(i.record.id for i in pulled if not isinstance(i.record, Invoice)) == [
        "CM2",
        "P9",
    ]
    bar = bar_of(open_source(warehouse_url), since=cursors)
    assert bar.seen[-1] == (6, 6)  # four invoices, a payment, a credit memo


def test_sqlite_money_as_text_is_open_unless_it_spells_zero(
    tmp_path: Path, open_source: Callable[..., sql.SqlSource]
) -> None:
    """Text compared with 0 compares text in SQLite ('0.00' <> '0'): the spellings of zero
    stay closed, any other is read again, a blank one (quarantined) too."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_warehouse(url, contract_ledger())
    _stamp_invoices(url, {}, others="2026-06-01 09:00:00")
    first = open_source(url)
    pull_all(first)
    spellings = {"I1": "0", "I2": "0.01", "I3": "", "I4": " 0.000 ", "I5": "-0,00", "I6": "00.50"}
    engine = engine_for(url)
    with engine.begin() as connection:
        for invoice, text in spellings.items():
            connection.execute(
                sa.text("UPDATE fact_ar_invoice SET open_amount = :text WHERE invoice_id = :id"),
                {"text": text, "id": invoice},
            )
    engine.dispose()

    pulled, rejected = _items(open_source(url), since=first.cursors())

    assert sorted(item.record.id for item in pulled) == ["I2", "I6"]
    assert [(entry.record_id, entry.reason) for entry in rejected] == [
        ("I3", "column 'open_amount' is NULL")
    ]


def _stamp_invoices(url: str, stamps: dict[str, str], others: str) -> None:
    """Each invoice's `updated_at` as the text given (SQLite keeps it as written), every
    invoice settled: an open one is read by every incremental pull whatever its stamp, so
    only settled ones show what the stamp comparison alone reads."""
    engine = engine_for(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE fact_ar_invoice SET updated_at = :at, open_amount = '0.00'"),
            {"at": others},
        )
        for invoice, at in stamps.items():
            connection.execute(
                sa.text("UPDATE fact_ar_invoice SET updated_at = :at WHERE invoice_id = :id"),
                {"at": at, "id": invoice},
            )
    engine.dispose()


def _invoice_ids(source: sql.SqlSource, since: dict[str, str]) -> list[str]:
    """The invoices a pull since these cursors reads. Payments and credit memos unchanged
    since the load unless `since` says otherwise: read whole, they would bring every invoice
    they apply to (which of them paid one off since would be unknown)."""
    unchanged = dict.fromkeys(DOCUMENT_STREAMS, LOADED_AT.isoformat())
    pulled, rejected = _items(source, since={**unchanged, **since})
    assert rejected == []
    return sorted(item.record.id for item in pulled if isinstance(item.record, Invoice))


def _mixed_spellings(tmp_path: Path) -> str:
    """A SQLite warehouse whose invoice stamps are text in several ISO spellings."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_warehouse(url, contract_ledger())
    _stamp_invoices(
        url,
        {
            "I1": "2026-06-01T12:00:00",  # the latest: the cursor
            "I2": "2026-06-01 11:30:00",  # earlier, and ' ' sorts before 'T'
            "I3": "2026-06-01T13:00:00+02:00",  # 11:00 UTC, though its text sorts later
            "I6": "2026-06-01T11:59:59.5Z",
        },
        others="2026-06-01 09:00:00",
    )
    return url


def test_sqlite_text_stamps_before_the_cursor_are_not_read_again(
    tmp_path: Path, open_source: Callable[..., sql.SqlSource]
) -> None:
    url = _mixed_spellings(tmp_path)
    first = open_source(url)
    pull_all(first)

    assert _invoice_ids(open_source(url), first.cursors()) == []
    assert first.cursors()["invoices"] == "2026-06-01T12:00:00+00:00"  # one spelling


def test_a_sqlite_text_stamp_after_the_cursor_is_read_whatever_its_spelling(
    tmp_path: Path, open_source: Callable[..., sql.SqlSource]
) -> None:
    url = _mixed_spellings(tmp_path)
    first = open_source(url)
    pull_all(first)
    # Disputed later the same day, stamped with a space: text-wise before the cursor's T. (It
    # was paid down to 1500.00 open; an open invoice is read whatever its stamp, so that no
    # longer tells whether the stamp was compared as an instant. A dispute leaves it settled.)
    engine = engine_for(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE fact_ar_invoice SET is_disputed = 1, dispute_reason = 'short shipped', "
                "updated_at = '2026-06-01 18:00:00' WHERE invoice_id = 'I4'"
            )
        )
    engine.dispose()
    second = open_source(url)

    pulled, rejected = _items(second, since=first.cursors())

    assert rejected == []
    changed = [item.record for item in pulled if isinstance(item.record, Invoice)]
    assert [(r.id, r.disputed, r.dispute_reason) for r in changed] == [
        ("I4", True, "short shipped")
    ]
    assert second.cursors()["invoices"] == "2026-06-01T18:00:00+00:00"


def test_a_cursor_in_another_spelling_is_compared_as_its_instant(
    tmp_path: Path, open_source: Callable[..., sql.SqlSource]
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_warehouse(url, contract_ledger())
    _stamp_invoices(url, {"I1": "2026-06-01 12:00:00Z"}, others="2026-06-01 09:00:00")

    # Saved by an earlier arsync in the row's own spelling, or from another zone.
    assert _invoice_ids(open_source(url), {"invoices": "2026-06-01 14:00:00+02:00"}) == []
    assert _invoice_ids(open_source(url), {"invoices": "2026-06-01T13:59:59+02:00"}) == ["I1"]


def test_a_stamp_sqlite_cannot_read_is_read_every_run_not_never(
    tmp_path: Path, open_source: Callable[..., sql.SqlSource]
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_warehouse(url, contract_ledger())
    # Python reads `+0200`; SQLite's date functions do not.
    _stamp_invoices(url, {"I1": "2026-06-01T10:00:00+0200"}, others="2026-06-01 09:00:00")

    assert _invoice_ids(open_source(url), {"invoices": "2026-06-01T12:00:00+00:00"}) == ["I1"]


@pytest.mark.parametrize("warehouse_url", ["postgresql"], indirect=True)
def test_cursors_are_utc_whatever_zone_the_postgresql_session_speaks(
    warehouse_url: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    stamped = [
        r.model_copy(update={"last_modified": LOADED_AT}) if isinstance(r, Invoice) else r
        for r in contract_ledger()
    ]
    write_warehouse(warehouse_url, stamped)
    url = sa.make_url(warehouse_url)
    options = f"{url.query['options']} -cTimeZone=Asia/Kolkata"
    zoned = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    first = open_source(zoned)
    pull_all(first)

    cursors = first.cursors()
    assert cursors["customers"] == LOADED_AT.isoformat() == "2026-06-30T23:00:00+00:00"
    assert all(text.endswith("+00:00") and "T" in text for text in cursors.values())
    second = open_source(zoned)
    # Compared natively, as instants: no row is read for its stamp. Was ([], []); the open
    # invoices are now read again on every incremental pull, and they alone.
    pulled, rejected = _items(second, since=cursors)
    assert (sorted(item.record.id for item in pulled), rejected) == (OPEN_INVOICES, [])
    later = {"invoices": "2026-07-01 04:30:00+05:30"}  # LOADED_AT, spelled in Kolkata
    assert _invoice_ids(open_source(zoned), later) == OPEN_INVOICES


def test_the_bar_counts_each_record_type_before_reading_it(
    warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    bar = bar_of(open_source(warehouse, example_settings().model_copy(update={"batch_size": 2})))

    customers = sum(isinstance(r, Customer) for r in contract_ledger())
    assert bar.seen[0][0] == customers  # known before the first customer is read
    assert bar.seen[-1] == (15, 15)


def _later(dialect: str, table: str) -> str:
    """The modified-at condition as the dialect is sent it: instants, not SQLite's text."""
    if dialect == "sqlite":
        return f"julianday({table}.updated_at) > julianday(?)"
    return f"{table}.updated_at >"


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _instant_or_text(text: str) -> dt.datetime | str:
    """A bound cursor as its instant; any other bound text (SQLite's spellings of zero) as is."""
    try:
        return _instant(text)
    except ValueError:
        return text


def _assert_filtered(
    executed: list[Executed], source: str, condition: str, cursor: str
) -> Executed:
    """The statement reading `source` has the modified-at condition, the cursor bound."""
    statement = next(e for e in executed if source in e.statement and e.yield_per is not None)
    assert condition in statement.statement
    bound = [_instant_or_text(v) if isinstance(v, str) else v for v in statement.parameters]
    assert _instant(cursor) in bound
    return statement


def test_rows_that_break_record_rules_are_quarantined_and_the_rest_pulled(
    warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    invoice = {
        "customer_id": "C1",
        "invoice_number": None,
        "invoice_date": dt.date(2026, 6, 1),
        "due_date": dt.date(2026, 7, 1),
        "currency_code": "USD",
        "total_amount": D("10.00"),
        "open_amount": D("10.00"),
        "invoice_status": "OPEN",
        "is_disputed": False,
        "dispute_reason": None,
        "updated_at": LOADED_AT,
    }
    _insert(
        warehouse,
        "fact_ar_invoice",
        [
            {**invoice, "invoice_id": "I8", "due_date": None},
            {**invoice, "invoice_id": "I9", "currency_code": "E1R"},
            {**invoice, "invoice_id": "I10", "invoice_status": "DRAFT"},
            {**invoice, "invoice_id": "I11", "due_date": dt.date(2026, 5, 1)},
        ],
    )
    receipt = {
        "customer_id": "C2",
        "receipt_date": dt.date(2026, 6, 2),
        "currency_code": "USD",
        "receipt_amount": D("40.00"),
        "payment_method": "CHK",
        "updated_at": LOADED_AT,
    }
    _insert(
        warehouse,
        "fact_cash_receipt",
        [
            {**receipt, "receipt_id": "R9", "receipt_status": "REVERSED"},
            {**receipt, "receipt_id": "R10", "receipt_status": "POSTED"},
        ],
    )
    application = {"applied_date": dt.date(2026, 6, 2), "updated_at": LOADED_AT}
    _insert(
        warehouse,
        "fact_receipt_application",
        [
            {**application, "receipt_id": "R9", "invoice_id": "I4", "applied_amount": D("40.00")},
            {**application, "receipt_id": "P404", "invoice_id": "I4", "applied_amount": D("1.00")},
            {**application, "receipt_id": "R10", "invoice_id": "I4", "applied_amount": D("50.00")},
        ],
    )

    pulled, rejected = _items(open_source(warehouse))

    reasons = {e.location: (e.rule, e.reason) for e in rejected}
    assert reasons == {
        "sql:fact_ar_invoice/I8": ("invalid_record", "column 'due_date' is NULL"),
        "sql:fact_ar_invoice/I9": (
            "invalid_record",
            "column 'currency_code': String should match pattern '^[A-Z]{3}$' (got 'E1R')",
        ),
        "sql:fact_ar_invoice/I10": (
            "invalid_record",
            "column 'invoice_status': Input should be 'open', 'paid' or 'void' (got 'DRAFT')",
        ),
        "sql:fact_ar_invoice/I11": (
            "invalid_record",
            "column 'due_date': due date 2026-05-01 is before issue date 2026-06-01",
        ),
        "sql:cash_receipts/R10": (
            "invalid_record",
            "column 'receipt_amount': applications total 50.00 exceeds the amount 40.00",
        ),
        "sql:fact_receipt_application/R9->I4": (
            "unknown_document",
            "payment 'R9' is not in sql:cash_receipts (or that query leaves it out)",
        ),
        "sql:fact_receipt_application/P404->I4": (
            "unknown_document",
            "payment 'P404' is not in sql:cash_receipts (or that query leaves it out)",
        ),
    }
    assert {e.record_type for e in rejected} == {"invoice", "payment", "payment_application"}
    assert len(pulled) == len(contract_ledger())


def test_money_loads_exact_to_the_digits_its_columns_leave_and_quarantines_past_them(
    warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    """On PostgreSQL the example's money columns are numeric(18,2): the pull keeps 2 places,
    so 16 digits before the point load exactly. On SQLite they are text, which says nothing of
    their places: 4 are kept, so 14 digits (see arsync.money). Past the limit a row is
    quarantined with the limit named, never wrapped."""
    invoice = {
        "customer_id": "C1",
        "invoice_number": None,
        "invoice_date": dt.date(2026, 6, 1),
        "due_date": dt.date(2026, 7, 1),
        "currency_code": "USD",
        "invoice_status": "OPEN",
        "is_disputed": False,
        "dispute_reason": None,
        "updated_at": LOADED_AT,
    }
    numeric = warehouse.startswith("postgresql")
    largest = D("9999999999999999.99") if numeric else D("99999999999999.99")
    # 17 (15) digits before the point, within 18 in all: the whole-digit limit is what refuses it
    too_large = D("12345678901234567.00") if numeric else D("123456789012345.6")
    whole = 16 if numeric else 14
    if numeric:  # a wider column of 2 places: the pull still keeps 2, so 16 digits
        engine = engine_for(warehouse)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "ALTER TABLE fact_ar_invoice ALTER COLUMN total_amount TYPE numeric(19, 2)"
            )
        engine.dispose()
    _insert(
        warehouse,
        "fact_ar_invoice",
        [
            {**invoice, "invoice_id": "I8", "total_amount": largest, "open_amount": largest},
            {**invoice, "invoice_id": "I9", "total_amount": too_large, "open_amount": D(1)},
        ],
    )
    source = open_source(warehouse)

    records, rejected = pull_all(source)

    assert source.money_places() == (2 if numeric else 4)
    assert [(e.location, e.rule, e.reason) for e in rejected] == [
        (
            "sql:fact_ar_invoice/I9",
            "invalid_record",
            f"column 'total_amount': Decimal input should have no more than {whole} digits "
            f"before the decimal point (got Decimal('{too_large}'))",
        )
    ]
    loaded = next(r for r in records if r.id == "I8")
    assert isinstance(loaded, Invoice)
    assert (loaded.total, loaded.open_balance) == (largest, largest)
    ledger = build(records, source.money_places())
    row = ledger.invoices[ledger.invoices["invoice_id"] == "I8"]
    assert row[["total_minor", "open_minor"]].to_numpy().tolist() == [[int(largest * 100)] * 2]


def test_text_values_that_do_not_parse_quarantine_their_row(
    tmp_path: Path, open_source: Callable[..., sql.SqlSource]
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_warehouse(url, contract_ledger())
    engine = engine_for(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO fact_ar_invoice (invoice_id, customer_id, invoice_date, due_date, "
            "currency_code, total_amount, open_amount, invoice_status, is_disputed) "
            "VALUES ('I12', 'C1', 'soon', '2026-07-01', 'USD', 'lots', '0', 'OPEN', 0)"
        )
    engine.dispose()

    _, rejected = _items(open_source(url))

    assert [(e.location, e.reason) for e in rejected] == [
        (
            "sql:fact_ar_invoice/I12",
            "column 'invoice_date': 'soon' is not an ISO 8601 date (2026-06-30); "
            "column 'total_amount': 'lots' is not a number written as 1234.56 (decimal "
            "separator '.', thousands separator 'none')",
        )
    ]


def test_a_mapped_column_missing_from_the_table_is_a_settings_error(
    tmp_path: Path, warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    settings = _settings_from(tmp_path, ("      industry: industry\n", "      industry: sector\n"))

    with pytest.raises(SourceConfigError) as raised:
        list(open_source(warehouse, settings).pull())

    message = str(raised.value)
    assert message.startswith("sql:dim_customer: no column 'sector' (records.customers maps it)")
    assert "columns found: customer_id, customer_name" in message


def test_a_missing_table_is_a_settings_error(
    tmp_path: Path, warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    settings = _settings_from(tmp_path, ("table: fact_ar_invoice", "table: ar.fact_ar_invoice_v2"))

    with pytest.raises(SourceConfigError, match=r"no table or view 'ar.fact_ar_invoice_v2'"):
        list(open_source(warehouse, settings).pull())


def test_a_query_the_database_refuses_is_a_settings_error(
    tmp_path: Path, warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    settings = _settings_from(tmp_path, ("FROM fact_cash_receipt r", "FROM fact_cash_receipts r"))

    with pytest.raises(
        SourceConfigError,
        match=r"^records.payments.query: the database refused it: .*fact_cash_receipts",
    ):
        list(open_source(warehouse, settings).pull())


def test_a_saved_cursor_that_is_not_a_timestamp_is_fatal(
    warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    with pytest.raises(
        FatalError, match="the invoices cursor 'yesterday' is not an ISO 8601 timestamp"
    ):
        list(open_source(warehouse).pull(since={"invoices": "yesterday"}))


def test_a_data_as_of_query_the_database_refuses_stops_the_run_naming_it(
    warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    query = "SELECT MAX(finished_at) FROM no_such_log"
    settings = example_settings().model_copy(update={"data_as_of_query": query})

    with pytest.raises(FatalError, match=r"data_as_of_query.*no_such_log"):
        open_source(warehouse, settings).data_as_of()


def test_without_a_data_as_of_query_the_source_does_not_know(
    warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    settings = example_settings().model_copy(update={"data_as_of_query": None})

    assert open_source(warehouse, settings).data_as_of() is None


# -- values -----------------------------------------------------------------------------


def test_text_and_coded_values_are_read_with_the_formats_and_value_maps() -> None:
    formats = ValueFormats(
        date="%d.%m.%Y", decimal_separator=",", thousands_separator=".", true_values=("J",)
    )
    columns = {
        "id": Column(column="BELNR"),
        "customer_id": Column(column="KUNNR"),
        "issue_date": Column(column="BLDAT"),
        "due_date": Column(column="FAEDT"),
        "currency": Column(column="WAERS"),
        "total": Column(column="WRBTR"),
        "open_balance": Column(column="OFFEN"),
        "status": Column(column="STATUS", values={"1": "open", "2": "paid"}),
        "disputed": Column(column="STRITTIG"),
        "last_modified": Column(column="AEDAT"),
    }
    reader = RowReader(Invoice, columns, formats, modified_at="AEDAT")

    read = reader.read(
        {
            "BELNR": 90001234,
            "KUNNR": " 4711 ",
            "BLDAT": "01.06.2026",
            "FAEDT": dt.date(2026, 7, 1),
            "WAERS": "eur",
            "WRBTR": "1.234,50",
            "OFFEN": 1234.5,
            "STATUS": 1,
            "STRITTIG": "J",
            "AEDAT": dt.datetime(2026, 6, 30, 12, 0),  # noqa: DTZ001 - a zone-less column
        }
    )

    assert read.problems == []
    record = Invoice.model_validate(read.values)
    assert (record.id, record.customer_id, record.currency) == ("90001234", "4711", "EUR")
    assert (record.issue_date, record.total, record.open_balance) == (
        dt.date(2026, 6, 1),
        D("1234.50"),
        D("1234.5"),
    )
    assert record.status is InvoiceStatus.OPEN
    assert record.disputed is True
    assert record.last_modified == dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)
    assert read.changed_text == "2026-06-30T12:00:00"


def test_a_date_column_as_modified_at_is_refused() -> None:
    reader = RowReader(Invoice, {}, ValueFormats(), modified_at="AEDAT")

    with pytest.raises(SourceConfigError, match="holds dates, not timestamps"):
        reader.read({"AEDAT": dt.date(2026, 6, 30)})


# -- the control figure -----------------------------------------------------------------

CONTROL_QUERY = "SELECT customer_id, currency, balance FROM ar_control ORDER BY customer_id"


def _with_control(query: str = CONTROL_QUERY, basis: str = "net") -> sql.Settings:
    control = ControlQuery(query=query, basis=Basis(basis), figure="warehouse AR control")
    return example_settings().model_copy(update={"control": control})


def _control_table(url: str, rows: list[tuple[str, str, object]]) -> None:
    """The warehouse's own AR control, balance a NUMERIC column (SQLite: numeric affinity)."""
    engine = engine_for(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE ar_control "
                "(customer_id VARCHAR(64), currency VARCHAR(3), balance NUMERIC(18, 2))"
            )
        )
        for customer, currency, balance in rows:
            connection.execute(
                sa.text("INSERT INTO ar_control VALUES (:customer, :currency, :balance)"),
                {"customer": customer, "currency": currency, "balance": balance},
            )
    engine.dispose()


@pytest.fixture
def sqlite_warehouse(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_warehouse(url, contract_ledger())
    return url


def test_without_a_control_query_the_source_reports_no_control_figure(
    sqlite_warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    source = open_source(sqlite_warehouse)
    pull_all(source)

    assert source.control_balances() is None


def test_the_control_query_gives_exact_balances_read_in_the_pulls_transaction(
    sqlite_warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    _control_table(
        sqlite_warehouse,
        [("C1", "usd", "750.50"), ("C2", "USD", 2000), ("C3", "EUR", "1234567.89")],
    )
    source = open_source(sqlite_warehouse, _with_control())
    pull_all(source)
    engine = engine_for(sqlite_warehouse)
    with engine.begin() as connection:  # after the pull: not what the pull saw
        connection.execute(sa.text("UPDATE ar_control SET balance = 1"))
    engine.dispose()

    control = source.control_balances()

    assert control == ControlBalances(
        figure="warehouse AR control",
        basis=Basis.NET,
        balances=(
            ControlBalance("C1", "USD", D("750.50")),
            ControlBalance("C2", "USD", D("2000")),
            ControlBalance("C3", "EUR", D("1234567.89")),
        ),
        every_customer=False,
    )
    assert [str(b.amount) for b in control.balances] == ["750.5", "2000", "1234567.89"]
    assert all(type(b.amount) is Decimal for b in control.balances)
    # Asked of a source that has not pulled, the figure is read there and then.
    fresh = open_source(sqlite_warehouse, _with_control(basis="open_invoices"))
    assert fresh.control_balances() == ControlBalances(
        "warehouse AR control",
        Basis.OPEN_INVOICES,
        tuple(
            ControlBalance(c, cur, D(1)) for c, cur in (("C1", "USD"), ("C2", "USD"), ("C3", "EUR"))
        ),
    )


def test_the_control_figure_of_the_warehouse_reconciles_with_the_ledger_pulled(
    warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    query = (
        "SELECT customer_id, currency_code AS currency, SUM(open_amount) AS balance "
        "FROM fact_ar_invoice WHERE invoice_status <> 'VOID' GROUP BY customer_id, currency_code"
    )
    source = open_source(warehouse, _with_control(query, basis="open_invoices"))
    records, rejected = pull_all(source)
    control = source.control_balances()
    assert rejected == []
    assert control is not None

    result = reconcile(build(records), AS_OF, control, tolerance=D("0.01"), max_portfolio_share=0.0)

    rows = result.customers[["customer_id", "currency", "erp_balance", "status"]]
    assert rows.values.tolist() == [
        ["C1", "USD", D("750.50"), "reconciled"],
        ["C2", "USD", D("2000.00"), "reconciled"],
        ["C3", "EUR", D("1400.00"), "reconciled"],
    ]
    assert result.unchecked == 1  # C4 has no invoice, so the query lists no figure for it


def test_a_control_query_without_the_balance_column_stops_the_pull_before_a_row(
    sqlite_warehouse: str, open_source: Callable[..., sql.SqlSource]
) -> None:
    _control_table(sqlite_warehouse, [("C1", "USD", "750.50")])
    query = "SELECT customer_id, currency, balance AS amount FROM ar_control"
    source = open_source(sqlite_warehouse, _with_control(query))

    with pytest.raises(SourceConfigError) as raised:
        next(iter(source.pull()))

    assert str(raised.value) == (
        "source.control.query returns no column 'balance' (it must return customer_id, "
        "currency, balance, by those names; name them with AS); columns found: customer_id, "
        "currency, amount"
    )
    with pytest.raises(SourceConfigError, match="no column 'balance'"):
        source.control_balances()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("C2", "USD", "n/a"), "row 2: column 'balance': "),
        (("C2", "USD", None), "row 2: column 'balance': is empty (write 0 for a customer"),
        (("C2", "US", "10.00"), "row 2: column 'currency': 'US' is not a three-letter currency"),
        ((None, "USD", "10.00"), "row 2: column 'customer_id': is empty (a control total needs"),
        # Checked as the files' control totals are: exact to the money's places and digits.
        (("C2", "USD", "10.00001"), "row 2: column 'balance': 10.00001 has more than 4 decimal"),
        (
            ("C2", "USD", "1" * 15),
            "row 2: column 'balance': " + "1" * 15 + " has more than 14 digits",
        ),
        (("C2" * 200, "USD", "1"), "row 2: column 'customer_id': the customer id has 400"),
    ],
)
def test_a_control_figure_that_is_not_an_amount_is_fatal_and_named(
    sqlite_warehouse: str,
    open_source: Callable[..., sql.SqlSource],
    row: tuple[str, str, object],
    message: str,
) -> None:
    _control_table(sqlite_warehouse, [("C1", "USD", "750.50"), row])
    query = "SELECT customer_id, currency, balance FROM ar_control ORDER BY customer_id IS NULL"
    source = open_source(sqlite_warehouse, _with_control(query))
    pull_all(source)

    with pytest.raises(FatalError) as raised:
        source.control_balances()

    assert message in str(raised.value)
    assert not isinstance(raised.value, SourceConfigError)  # the data, not the settings


def test_control_settings_problems_name_their_line(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "kind: sql\n",
        "kind: sql\ncontrol:\n  query: DELETE FROM ar_control\n  basis: gross\n",
    )
    path = tmp_path / "sql.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_model(sql.Settings, path)

    problems = {p.key_path: p for p in raised.value.problems}
    lines = dict(enumerate(text.splitlines(), start=1))
    assert problems["control.query"].file == path
    assert lines.get(problems["control.query"].line or 0) == "  query: DELETE FROM ar_control"
    assert "one SELECT statement" in problems["control.query"].message
    assert lines.get(problems["control.basis"].line or 0) == "  basis: gross"
    assert "'net' or 'open_invoices'" in problems["control.basis"].message
