"""Money places per pull: a `numeric(18,2)` warehouse's amounts of 16 digits before the point
reach the ledger exactly, where the files and the APIs keep 4 places and 14 digits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from contract.case_sql import EXAMPLE, URL_VARIABLE, Money, engine_for, source_for, warehouse_rows
from contract.case_sql import warehouse_tables as contract_tables
from sqlalchemy.dialects import mssql, postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

from arsync.control import Basis
from arsync.errors import FatalError
from arsync.ledger import Ledger, LedgerBuilder
from arsync.quarantine import QuarantineEntry
from arsync.reconcile import computed_balances
from arsync.records import (
    MONEY_PLACES_CONTEXT,
    CanonicalRecord,
    Customer,
    Invoice,
    Payment,
)
from arsync.yamlfile import load_model
from connector.erp import sql
from connector.erp.base import Cursors, PulledItem, Source
from connector.erp.sql.money import declared_places
from jobs.load import pull_into
from jobs.progress import Silent

D = Decimal
BIGGEST = D("9999999999999999.99")  # numeric(18,2)'s largest: 16 digits before the point
PAID = D("1234567890123456.78")
TOO_BIG = D("12345678901234567.00")  # 17 digits: numeric(19,2) holds it, int64 cents do not
AS_OF = dt.date(2026, 6, 30)
STAMP = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)
AT_TWO = {MONEY_PLACES_CONTEXT: 2}


# -- the places from the declared types --------------------------------------------------


@pytest.mark.parametrize(
    ("types", "places"),
    [
        ([postgresql.NUMERIC(18, 2)], 2),
        ([postgresql.NUMERIC(18, 3), postgresql.NUMERIC(18, 2)], 3),
        ([postgresql.NUMERIC(18, 2), postgresql.INTEGER()], 2),
        ([postgresql.BIGINT()], 0),
        ([postgresql.NUMERIC(20, 6)], 4),  # capped: canonical money keeps 4 places
        ([postgresql.NUMERIC()], 4),  # numeric without a scale: any places
        ([postgresql.NUMERIC(18, 2), postgresql.DOUBLE_PRECISION()], 4),
        ([postgresql.NUMERIC(18, 2), postgresql.TEXT()], 4),
        ([postgresql.NUMERIC(18, 2), None], 4),  # a query's column: not known
        ([mssql.MONEY()], 4),
        ([mssql.DECIMAL(19, 2)], 2),
        ([], 4),
    ],
)
def test_the_places_are_the_largest_declared_scale_and_4_when_any_is_unknown(
    types: list[TypeEngine[Any] | None], places: int
) -> None:
    assert declared_places(types) == places


def test_the_places_come_from_types_as_postgresql_reflection_gives_them() -> None:
    """What `Inspector.get_columns` returns for `numeric(18,2)` on PostgreSQL: the dialect's
    own type, parsed from the catalogue's `format_type` text."""
    dialect = postgresql.dialect()
    reflected = [
        dialect.ischema_names["numeric"](18, 2),
        dialect.ischema_names["numeric"](18, 3),
        dialect.ischema_names["integer"](),
    ]

    assert declared_places(reflected) == 3
    assert declared_places(reflected[:1]) == 2
    assert declared_places([dialect.ischema_names["double precision"]()]) == 4


# -- a numeric(18,2) warehouse, end to end --------------------------------------------------


class _DeclaredNumeric(UserDefinedType[Decimal]):
    """`NUMERIC(18, 2)` in the DDL, the value bound as given (SQLAlchemy's own SQLite numeric
    binds a float)."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "NUMERIC(18, 2)"


class CommaMoney(TypeDecorator[Decimal]):
    """NUMERIC(18, 2) on both databases. SQLite turns any text that reads as a number in a
    NUMERIC column into a float (15 digits) or an integer: written with a decimal comma, it
    keeps the text exactly, as a warehouse in that convention would, and `formats` reads it."""

    impl = sa.Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return _DeclaredNumeric()
        return dialect.type_descriptor(sa.Numeric(18, 2))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is not None and dialect.name == "sqlite":
            return f"{value:f}".replace(".", ",")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return value  # as the driver gave it: the source reads the raw cell


def _numeric_tables() -> sa.MetaData:
    """The example's star schema, every money column NUMERIC(18, 2)."""
    metadata = contract_tables()
    for table in metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, Money):
                column.type = CommaMoney()
    return metadata


def _write(url: str, records: list[CanonicalRecord], *, wide_totals: bool = False) -> None:
    """The records into the numeric tables; `wide_totals`: invoice totals numeric(19, 2) on
    PostgreSQL, which refuses 17 digits before the point in numeric(18, 2) (SQLite keeps
    the text as written)."""
    metadata = _numeric_tables()
    engine = engine_for(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            if wide_totals and url.startswith("postgresql"):
                connection.exec_driver_sql(
                    "ALTER TABLE fact_ar_invoice ALTER COLUMN total_amount TYPE numeric(19, 2)"
                )
            for name, rows in warehouse_rows(records, STAMP).items():
                if rows:
                    connection.execute(metadata.tables[name].insert(), rows)
    finally:
        engine.dispose()


def _settings(tmp_path: Path, *, payments_table: bool = True) -> sql.Settings:
    """The example mapping, decimal comma; the payments read from their table (a query's
    columns have no declared type on SQLite) unless `payments_table` is False."""
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'decimal_separator: "."', 'decimal_separator: ","'
    )
    text = text.replace("data_as_of_query: SELECT MAX(finished_at)", "# data_as_of_query:")
    if payments_table:
        start = text.index("    name: cash_receipts\n")
        end = text.index("    modified_at: updated_at\n", start)
        text = text[:start] + "    table: fact_cash_receipt\n" + text[end:]
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    settings = load_model(sql.Settings, path)
    return settings.model_copy(update={"url": f"${{{URL_VARIABLE}}}"})


def _records(*extra: CanonicalRecord) -> list[CanonicalRecord]:
    payment = Payment.model_validate(
        {
            "id": "P1",
            "customer_id": "C1",
            "received_date": dt.date(2026, 6, 1),
            "currency": "USD",
            "amount": PAID,
            "applications": [{"invoice_id": "I1", "amount": PAID}],
        },
        context=AT_TWO,
    )
    return [
        Customer(id="C1", name="Large Holdings", currency="USD"),
        _invoice("I1", BIGGEST, BIGGEST - PAID),
        payment,
        *extra,
    ]


def _invoice(invoice_id: str, total: Decimal, open_balance: Decimal) -> Invoice:
    return Invoice.model_validate(
        {
            "id": invoice_id,
            "customer_id": "C1",
            "issue_date": dt.date(2026, 5, 1),
            "due_date": dt.date(2026, 5, 31),
            "currency": "USD",
            "total": total,
            "open_balance": open_balance,
            "last_modified": STAMP,
        },
        context=AT_TWO,
    )


@pytest.fixture
def sources() -> Iterator[list[sql.SqlSource]]:
    made: list[sql.SqlSource] = []
    yield made
    for source in made:
        source.engine.dispose()


def _ledger(
    url: str, settings: sql.Settings, made: list[sql.SqlSource]
) -> tuple[sql.SqlSource, Ledger, list[QuarantineEntry]]:
    source = source_for(url, settings)
    made.append(source)
    pull = pull_into(source, frozenset({"USD"}), Silent())
    ledger = pull.builder.build(as_of=AS_OF)
    return source, ledger, list(pull.builder.quarantine)


def test_numeric_18_2_amounts_of_16_digits_reach_the_ledger_exactly_in_cents(
    warehouse_url: str, tmp_path: Path, sources: list[sql.SqlSource]
) -> None:
    _write(warehouse_url, _records())

    source, ledger, quarantined = _ledger(warehouse_url, _settings(tmp_path), sources)

    assert quarantined == []
    assert source.money_places() == 2
    assert ledger.invoices[["invoice_id", "total_minor", "open_minor"]].values.tolist() == [
        ["I1", 999999999999999999, 876543210987654321]
    ]
    assert ledger.payments["amount_minor"].tolist() == [123456789012345678]
    assert ledger.payments["unapplied_minor"].tolist() == [0]
    assert ledger.applications["amount_minor"].tolist() == [123456789012345678]
    balances = computed_balances(ledger, AS_OF, Basis.NET)
    assert balances.to_dict("records") == [
        {"customer_id": "C1", "currency": "USD", "balance_minor": 876543210987654321}
    ]


def test_17_digits_before_the_point_are_still_quarantined_naming_the_row_and_the_limit(
    warehouse_url: str, tmp_path: Path, sources: list[sql.SqlSource]
) -> None:
    big = Invoice.model_construct(**{**_invoice("I2", D(1), D(1)).__dict__, "total": TOO_BIG})
    _write(warehouse_url, _records(big), wide_totals=True)

    _, ledger, quarantined = _ledger(warehouse_url, _settings(tmp_path), sources)

    assert [(e.record_type, e.record_id, e.location) for e in quarantined] == [
        ("invoice", "I2", "sql:fact_ar_invoice/I2")
    ]
    assert quarantined[0].reason == (
        "column 'total_amount': Decimal input should have no more than 16 digits before the "
        "decimal point (got Decimal('12345678901234567.00'))"
    )
    assert ledger.invoices["invoice_id"].tolist() == ["I1"]


def test_a_query_of_numeric_18_2_columns_keeps_2_places_on_postgresql(
    warehouse_url: str, tmp_path: Path, sources: list[sql.SqlSource]
) -> None:
    """The example maps payments with a query: psycopg describes its numeric columns' scale.
    (On SQLite a query's columns have no type: 4 places, so 14 digits, the next test.)"""
    url = warehouse_url
    if not url.startswith("postgresql"):
        pytest.skip("a query's column types are described by PostgreSQL's driver only")
    _write(url, _records())

    source, ledger, quarantined = _ledger(url, _settings(tmp_path, payments_table=False), sources)

    assert quarantined == []
    assert source.money_places() == 2
    assert ledger.payments["amount_minor"].tolist() == [123456789012345678]


def test_a_query_of_unknown_types_keeps_4_places_and_quarantines_16_digits(
    tmp_path: Path, sources: list[sql.SqlSource]
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    _write(url, _records())

    source, _, quarantined = _ledger(url, _settings(tmp_path, payments_table=False), sources)

    assert source.money_places() == 4
    assert sorted((e.record_type, e.record_id) for e in quarantined) == [
        ("invoice", "I1"),
        ("payment", "P1"),
        ("payment_application", "P1->I1"),
    ]
    assert "no more than 14 digits before the decimal point" in quarantined[0].reason


# -- the ledger at 2 places ----------------------------------------------------------------


def test_a_currency_with_more_minor_places_than_the_pull_must_fit_int64_in_them() -> None:
    """16 digits before the point at 2 places are 10**19 fils in Kuwaiti dinars: more than
    int64 holds, so quarantined, never wrapped around."""
    builder = LedgerBuilder(money_places=2)
    customer = Customer(id="C1", name="Gulf Trading", currency="KWD")
    fits = D("999999999999999.99")  # 15 digits: 10**18 fils less 10, int64 holds it
    builder.add(customer, "c:1")
    for number, total in (("I1", fits), ("I2", BIGGEST)):
        invoice = Invoice.model_validate(
            {
                "id": number,
                "customer_id": "C1",
                "issue_date": dt.date(2026, 5, 1),
                "due_date": dt.date(2026, 5, 31),
                "currency": "KWD",
                "total": total,
                "open_balance": total,
            },
            context=AT_TWO,
        )
        builder.add(invoice, f"i:{number}")

    ledger = builder.build(as_of=AS_OF)

    assert ledger.invoices["total_minor"].tolist() == [999999999999999990]
    [entry] = builder.quarantine
    assert (entry.record_id, entry.rule) == ("I2", "invalid_record")
    assert entry.reason == (
        "total 9999999999999999.99 has more than 15 digits before the point, too many for KWD "
        "in its minor unit (3 places); open_balance 9999999999999999.99 has more than 15 "
        "digits before the point, too many for KWD in its minor unit (3 places)"
    )


# -- records kept from an earlier incremental pull --------------------------------------------


class _Unchanged(Source):
    """An incremental source with nothing changed since the last run, at `places`."""

    name = "unchanged"
    incremental = True

    def __init__(self, places: int) -> None:
        self._places = places

    def pull(self, since: Cursors | None = None) -> Iterator[PulledItem]:
        return iter(())

    def data_as_of(self) -> dt.datetime | None:
        return None

    def money_places(self) -> int:
        return self._places


def _kept_payloads() -> list[tuple[str, dict[str, Any], str]]:
    customer, invoice = _records()[:2]
    return [
        ("customer", customer.model_dump(mode="json"), "sql:dim_customer/C1"),
        ("invoice", invoice.model_dump(mode="json"), "sql:fact_ar_invoice/I1"),
    ]


def test_records_kept_from_the_last_run_are_read_at_the_pulls_places() -> None:
    pull = pull_into(_Unchanged(2), frozenset({"USD"}), Silent(), since={}, kept=_kept_payloads())

    ledger = pull.builder.build(as_of=AS_OF)

    assert list(pull.builder.quarantine) == []
    assert ledger.invoices["total_minor"].tolist() == [999999999999999999]


def test_a_kept_record_the_pulls_places_cannot_hold_stops_the_run_asking_for_a_full_pull() -> None:
    with pytest.raises(FatalError) as raised:
        pull_into(_Unchanged(4), frozenset({"USD"}), Silent(), since={}, kept=_kept_payloads())

    assert str(raised.value) == (
        "the invoice 'I1' kept from the last run does not fit this pull's money (4 decimal "
        "places, from the source's money columns): Decimal input should have no more than 14 "
        "digits before the decimal point; run with --full to read every record again"
    )


def test_a_customer_whose_amounts_would_add_up_past_int64_is_quarantined_the_others_kept(
    warehouse_url: str, tmp_path: Path, sources: list[sql.SqlSource]
) -> None:
    """Five invoices of 16 digits are 5e18 cents: each fits int64, their sum would wrap."""
    more = [_invoice(f"I{n}", BIGGEST, BIGGEST) for n in range(2, 6)]
    small = Invoice.model_construct(
        **{**_invoice("I9", D("10.00"), D("10.00")).__dict__, "customer_id": "C2"}
    )
    _write(warehouse_url, _records(*more, Customer(id="C2", name="Small", currency="USD"), small))

    _, ledger, quarantined = _ledger(warehouse_url, _settings(tmp_path), sources)

    [held] = [e for e in quarantined if e.record_type == "customer"]
    assert (held.record_id, held.rule) == ("C1", "amounts_too_large")
    assert held.reason == (
        "its invoices, payments and credit memos add up to about 5.12e+18 in minor units "
        "(cents, fils), more than arsync adds exactly (4.61e+18)"
    )
    followed = {(e.record_type, e.record_id, e.rule) for e in quarantined if e is not held}
    invoices = {("invoice", f"I{n}", "unknown_customer") for n in range(1, 6)}
    assert followed == invoices | {
        ("payment", "P1", "unknown_customer"),
        ("payment_application", "P1->I1", "unknown_document"),
    }
    assert ledger.customers["customer_id"].tolist() == ["C2"]
    assert ledger.invoices[["invoice_id", "total_minor"]].values.tolist() == [["I9", 1000]]
