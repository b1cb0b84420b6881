"""The SQL source under contract: the ledger written into the warehouse schema that
`mappings/erp/sql_example.yaml` maps, in a SQLite file (and, in tests/test_erp_sql.py, in
PostgreSQL too)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import responses
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from arsync.control import Basis
from arsync.records import CanonicalRecord, CreditMemo, Customer, Invoice, Payment
from arsync.yamlfile import load_model
from connector.erp import sql
from connector.erp.base import Source
from connector.erp.sql.settings import ControlQuery
from contract.balances import Unseen, erp_balances
from contract.harness import CHANGED_AT, ConnectorCase, ErpState

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "mappings/erp/sql_example.yaml"
URL_VARIABLE = "WAREHOUSE_URL"
LOADED_AT = dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.UTC)

# The spellings of mappings/erp/sql_example.yaml, from canonical value to warehouse value.
CHANNELS = {"paper": "PRINT", "email": "EMAIL", "portal": "PORTAL", "edi": "EDI"}
METHODS = {"check": "CHK", "ach": "ACH", "card": "CC", "wire": "WIRE", "other": "OTH"}
STATUSES = {"open": "OPEN", "paid": "PAID", "void": "VOID"}


class Money(TypeDecorator[Decimal]):
    """NUMERIC(18, 2); text on SQLite, whose NUMERIC would round-trip through a float."""

    impl = sa.Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.Numeric(18, 2))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is not None and dialect.name == "sqlite":
            return str(value)
        return value


def _text(length: int = 64) -> sa.String:
    return sa.String(length)


def warehouse_tables() -> sa.MetaData:
    """The star schema the example mapping reads."""
    metadata = sa.MetaData()
    stamp = sa.DateTime(timezone=True)
    sa.Table(
        "dim_customer",
        metadata,
        sa.Column("customer_id", _text(), primary_key=True),
        sa.Column("customer_name", _text(200), nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("credit_limit", Money()),
        sa.Column("payment_terms_days", sa.Integer),
        sa.Column("industry", _text()),
        sa.Column("invoice_channel", _text(16)),
        sa.Column("usual_payment_method", _text(16)),
        sa.Column("parent_customer_id", _text()),
        sa.Column("sfdc_account_id", sa.String(18)),
        sa.Column("updated_at", stamp),
    )
    sa.Table(
        "fact_ar_invoice",
        metadata,
        sa.Column("invoice_id", _text(), primary_key=True),
        sa.Column("invoice_number", _text()),
        sa.Column("customer_id", _text()),
        sa.Column("invoice_date", sa.Date),
        sa.Column("due_date", sa.Date),
        sa.Column("currency_code", sa.String(3)),
        sa.Column("total_amount", Money()),
        sa.Column("open_amount", Money()),
        sa.Column("invoice_status", _text(8)),
        sa.Column("is_disputed", sa.Boolean, nullable=False),
        sa.Column("dispute_reason", _text(200)),
        sa.Column("updated_at", stamp),
    )
    sa.Table(
        "fact_cash_receipt",
        metadata,
        sa.Column("receipt_id", _text(), primary_key=True),
        sa.Column("customer_id", _text()),
        sa.Column("receipt_date", sa.Date),
        sa.Column("currency_code", sa.String(3)),
        sa.Column("receipt_amount", Money()),
        sa.Column("payment_method", _text(8)),
        sa.Column("receipt_status", _text(16), nullable=False),
        sa.Column("updated_at", stamp),
    )
    sa.Table(
        "fact_credit_memo",
        metadata,
        sa.Column("credit_memo_id", _text(), primary_key=True),
        sa.Column("customer_id", _text()),
        sa.Column("memo_date", sa.Date),
        sa.Column("currency_code", sa.String(3)),
        sa.Column("memo_amount", Money()),
        sa.Column("reason_text", _text(200)),
        sa.Column("updated_at", stamp),
    )
    for name, document in (
        ("fact_receipt_application", "receipt_id"),
        ("fact_credit_memo_application", "credit_memo_id"),
    ):
        sa.Table(
            name,
            metadata,
            sa.Column(document, _text()),
            sa.Column("invoice_id", _text()),
            sa.Column("applied_amount", Money()),
            sa.Column("applied_date", sa.Date),
            sa.Column("updated_at", stamp),
        )
    sa.Table(
        "etl_batch_log",
        metadata,
        sa.Column("batch_id", sa.Integer, primary_key=True),
        sa.Column("finished_at", stamp),
        sa.Column("status", _text(16)),
    )
    return metadata


def control_table() -> sa.Table:
    """The warehouse's own AR balance per customer (a finance team's control table), kept out
    of `warehouse_tables`: tests/test_erp_sql.py writes controls of its own."""
    return sa.Table(
        "ar_customer_balance",
        sa.MetaData(),
        sa.Column("customer_id", _text(), primary_key=True),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("balance_amount", Money(), nullable=False),
    )


CONTROL = ControlQuery(
    query="SELECT customer_id, currency_code AS currency, balance_amount AS balance "
    "FROM ar_customer_balance",
    basis=Basis.NET,
    figure="warehouse AR control",
)


def write_control(url: str, records: Iterable[CanonicalRecord], unseen: Unseen | None) -> None:
    """Every customer's balance, zero ones too, into the control table."""
    table = control_table()
    rows = [
        {"customer_id": b.customer_id, "currency_code": b.currency, "balance_amount": b.amount}
        for b in erp_balances(records, unseen).values()
    ]
    engine = engine_for(url)
    try:
        table.create(engine)
        with engine.begin() as connection:
            connection.execute(table.insert(), rows)
    finally:
        engine.dispose()


def engine_for(url: str) -> sa.Engine:
    """An engine to write the test warehouse with; `postgresql://` means psycopg 3 here too."""
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed)


def write_warehouse(
    url: str, records: Iterable[CanonicalRecord], changed_at: dt.datetime = LOADED_AT
) -> None:
    """Create the schema in an empty database and load `records` into it; every row but an
    invoice's (whose `last_modified` says) was last changed at `changed_at`."""
    metadata = warehouse_tables()
    engine = engine_for(url)
    try:
        metadata.create_all(engine)
        rows = warehouse_rows(records, changed_at)
        with engine.begin() as connection:
            for name, table_rows in rows.items():
                if table_rows:
                    connection.execute(metadata.tables[name].insert(), table_rows)
            batch = {"batch_id": 1, "finished_at": LOADED_AT, "status": "succeeded"}
            connection.execute(metadata.tables["etl_batch_log"].insert(), [batch])
    finally:
        engine.dispose()


def warehouse_rows(
    records: Iterable[CanonicalRecord], changed_at: dt.datetime
) -> dict[str, list[dict[str, Any]]]:
    """The canonical records as rows of the warehouse tables."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in warehouse_tables().tables}
    for record in records:
        if isinstance(record, Customer):
            rows["dim_customer"].append(_customer(record, changed_at))
        elif isinstance(record, Invoice):
            rows["fact_ar_invoice"].append(_invoice(record))
        elif isinstance(record, Payment):
            rows["fact_cash_receipt"].append(_payment(record, changed_at))
            rows["fact_receipt_application"] += _applications(record, "receipt_id", changed_at)
        else:
            rows["fact_credit_memo"].append(_credit_memo(record, changed_at))
            rows["fact_credit_memo_application"] += _applications(
                record, "credit_memo_id", changed_at
            )
    return rows


def _customer(customer: Customer, changed_at: dt.datetime) -> dict[str, Any]:
    return {
        "customer_id": customer.id,
        "customer_name": customer.name,
        "currency_code": customer.currency,
        "credit_limit": customer.credit_limit,
        "payment_terms_days": customer.payment_terms_days,
        "industry": customer.industry,
        "invoice_channel": CHANNELS[customer.invoice_delivery]
        if customer.invoice_delivery
        else None,
        "usual_payment_method": METHODS[customer.payment_method]
        if customer.payment_method
        else None,
        "parent_customer_id": customer.parent_id,
        "sfdc_account_id": customer.crm_account_id,
        "updated_at": changed_at,
    }


def _invoice(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "invoice_number": invoice.number,
        "customer_id": invoice.customer_id,
        "invoice_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "currency_code": invoice.currency,
        "total_amount": invoice.total,
        "open_amount": invoice.open_balance,
        "invoice_status": STATUSES[invoice.status],
        "is_disputed": invoice.disputed,
        "dispute_reason": invoice.dispute_reason,
        "updated_at": invoice.last_modified,
    }


def _payment(payment: Payment, changed_at: dt.datetime) -> dict[str, Any]:
    return {
        "receipt_id": payment.id,
        "customer_id": payment.customer_id,
        "receipt_date": payment.received_date,
        "currency_code": payment.currency,
        "receipt_amount": payment.amount,
        "payment_method": METHODS[payment.method] if payment.method else None,
        "receipt_status": "POSTED",
        "updated_at": changed_at,
    }


def _credit_memo(memo: CreditMemo, changed_at: dt.datetime) -> dict[str, Any]:
    return {
        "credit_memo_id": memo.id,
        "customer_id": memo.customer_id,
        "memo_date": memo.date,
        "currency_code": memo.currency,
        "memo_amount": memo.amount,
        "reason_text": memo.reason,
        "updated_at": changed_at,
    }


def _applications(
    document: Payment | CreditMemo, key: str, changed_at: dt.datetime
) -> list[dict[str, Any]]:
    return [
        {
            key: document.id,
            "invoice_id": application.invoice_id,
            "applied_amount": application.amount,
            "applied_date": application.applied_date,
            "updated_at": changed_at,
        }
        for application in document.applications
    ]


def example_settings() -> sql.Settings:
    """The shipped example mapping, its URL taken from WAREHOUSE_URL (set by `build`)."""
    settings = load_model(sql.Settings, EXAMPLE)
    return settings.model_copy(update={"url": f"${{{URL_VARIABLE}}}"})


def source_for(url: str, settings: sql.Settings | None = None) -> sql.SqlSource:
    source = sql.build(settings or example_settings(), environ={URL_VARIABLE: url})
    assert isinstance(source, sql.SqlSource)
    return source


def serve(
    records: list[CanonicalRecord],
    tmp_path: Path,
    mock: responses.RequestsMock,
    unseen: Unseen | None = None,
) -> Source:
    """The example mapping with its `control:` switched on, over the warehouse's control."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_warehouse(url, records)
    write_control(url, records, unseen)
    return source_for(url, with_control())


def with_control() -> sql.Settings:
    return example_settings().model_copy(update={"control": CONTROL})


LATER_ROWS = {
    "customer": (("dim_customer", "customer_id"),),
    "payment": (("fact_cash_receipt", "receipt_id"), ("fact_receipt_application", "receipt_id")),
}


def serve_state(state: ErpState, tmp_path: Path, mock: responses.RequestsMock) -> Source:
    """A later change moves the rows' `updated_at`. The example schema has no customer status
    column: an archived customer is a row like any other."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_warehouse(url, state.records)
    write_control(url, state.records, None)
    engine = engine_for(url)
    try:
        tables = warehouse_tables().tables
        with engine.begin() as connection:
            for kind, key in state.later:
                for name, column in LATER_ROWS[kind]:
                    table = tables[name]
                    connection.execute(
                        table.update().where(table.c[column] == key).values(updated_at=CHANGED_AT)
                    )
    finally:
        engine.dispose()
    return source_for(url, with_control())


# A database has a column for every canonical field: nothing is left out.
CASE = ConnectorCase(name="sql", serve=serve, serve_state=serve_state, cannot_carry={})
