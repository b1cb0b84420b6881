"""FileSource with the shipped generic mapping: typed records from CSV/XLSX exports, bad rows
quarantined by file and line, and the good rows scored to hand-computed balances."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from arsync.errors import SourceConfigError
from arsync.frames import RecordFrame
from arsync.quarantine import QuarantineEntry
from arsync.records import (
    Application,
    Customer,
    DeliveryMode,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
)
from arsync.yamlfile import load_model
from connector.erp.base import Pulled, PulledItem
from connector.erp.files.mapping import FileMapping
from connector.erp.files.source import FileSource
from jobs.load import pull_ledger
from jobs.progress import Silent
from scoring import CurrencyTable, ScoringSettings, score_accounts

REPO = Path(__file__).resolve().parents[1]
GENERIC_MAPPING = REPO / "mappings" / "erp" / "generic_csv.yaml"
D = Decimal
UTC = dt.UTC
SF_ID = "001000000000001AAA"  # a Salesforce Account id the ERP holds

# The headers exactly as mappings/erp/generic_csv.yaml names them.
HEADERS = {
    "customers.csv": "Customer No.,Name,Currency,Credit Limit,Payment Terms (days),Industry,"
    "Invoice Delivery,Payment Method,Parent Customer No.,Salesforce Account ID",
    "invoices.csv": "Invoice ID,Invoice No.,Customer No.,Invoice Date,Due Date,Currency,Amount,"
    "Balance Due,Status,Disputed,Dispute Reason,Last Modified",
    "payments.csv": "Payment ID,Customer No.,Date Received,Currency,Amount,Method",
    "payment_applications.csv": "Payment ID,Invoice ID,Amount Applied,Date Applied",
    "credit_memos.csv": "Credit Memo ID,Customer No.,Date,Currency,Amount,Reason",
    "credit_memo_applications.csv": "Credit Memo ID,Invoice ID,Amount Applied,Date Applied",
}


# --------------------------------------------------------------------------- helpers


def write_export(folder: Path, files: dict[str, list[str]], delimiter: str = ",") -> Path:
    """Every file the generic mapping names: header on line 1, then the given lines verbatim."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, header in HEADERS.items():
        lines = [header.replace(",", delimiter), *files.get(name, [])]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def generic_mapping() -> FileMapping:
    return load_model(FileMapping, GENERIC_MAPPING)


def edited_mapping(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> FileMapping:
    """The generic mapping, changed the way an admin would change the YAML, loaded again."""
    data = yaml.safe_load(GENERIC_MAPPING.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "edited_mapping.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_model(FileMapping, path)


def pull(folder: Path, mapping: FileMapping | None = None) -> list[PulledItem]:
    return list(FileSource(folder, mapping or generic_mapping()).pull())


def records(items: list[PulledItem]) -> dict[str, Pulled]:
    return {item.record.id: item for item in items if isinstance(item, Pulled)}


def entries(items: list[PulledItem]) -> list[QuarantineEntry]:
    return [item for item in items if isinstance(item, QuarantineEntry)]


def only_customers_and_invoices(data: dict[str, Any]) -> None:
    for kind in ("payments", "payment_applications", "credit_memos", "credit_memo_applications"):
        data["files"].pop(kind)
    data.pop("manifest")


# --------------------------------------------------------------------------- good rows

GOOD_FILES = {
    "customers.csv": [
        "C1,Acme Corp,USD,10000.00,30,Manufacturing,Email,ACH,,001000000000001AAA",
        "C2,Beta GmbH,EUR,,45,,EDI,Wire,C1,",
    ],
    "invoices.csv": [
        'I1,INV-1,C1,2026-01-01,2026-01-31,USD,"1,200.50","1,200.50",Open,no,,'
        "2026-01-02T09:30:00+0000",
        "I5,INV-5,C1,2026-03-01,2026-04-30,USD,800.00,500.00,Open,yes,Price dispute,",
        "I7,INV-7,C2,2026-01-10,2026-02-09,EUR,400.00,0.00,Paid,No,,",
    ],
    "payments.csv": ['P1,C1,2026-03-15,USD,"1,000.00",ACH'],
    "payment_applications.csv": ["P1,I5,300.00,2026-03-15", "P1,I1,100.25,"],
}

EXPECTED_C1 = Customer(
    id="C1",
    name="Acme Corp",
    currency="USD",
    credit_limit=D("10000.00"),
    payment_terms_days=30,
    industry="Manufacturing",
    invoice_delivery=DeliveryMode.EMAIL,
    payment_method=PaymentMethod.ACH,
    crm_account_id=SF_ID,
)
EXPECTED_C2 = Customer(
    id="C2",
    name="Beta GmbH",
    currency="EUR",
    payment_terms_days=45,
    invoice_delivery=DeliveryMode.EDI,
    payment_method=PaymentMethod.WIRE,
    parent_id="C1",
)
EXPECTED_I1 = Invoice(
    id="I1",
    number="INV-1",
    customer_id="C1",
    issue_date=dt.date(2026, 1, 1),
    due_date=dt.date(2026, 1, 31),
    currency="USD",
    total=D("1200.50"),
    open_balance=D("1200.50"),
    status=InvoiceStatus.OPEN,
    disputed=False,
    last_modified=dt.datetime(2026, 1, 2, 9, 30, tzinfo=UTC),
)
EXPECTED_I5 = Invoice(
    id="I5",
    number="INV-5",
    customer_id="C1",
    issue_date=dt.date(2026, 3, 1),
    due_date=dt.date(2026, 4, 30),
    currency="USD",
    total=D("800.00"),
    open_balance=D("500.00"),
    disputed=True,
    dispute_reason="Price dispute",
)
EXPECTED_I7 = Invoice(
    id="I7",
    number="INV-7",
    customer_id="C2",
    issue_date=dt.date(2026, 1, 10),
    due_date=dt.date(2026, 2, 9),
    currency="EUR",
    total=D("400.00"),
    open_balance=D("0"),
    status=InvoiceStatus.PAID,
)


def test_good_rows_become_records_with_exact_typed_values(tmp_path: Path) -> None:
    items = pull(write_export(tmp_path, GOOD_FILES))

    assert entries(items) == []
    pulled = records(items)
    assert set(pulled) == {"C1", "C2", "I1", "I5", "I7", "P1"}

    c1, c2 = pulled["C1"], pulled["C2"]
    assert (c1.record, c1.location) == (EXPECTED_C1, "customers.csv:2")
    assert (c2.record, c2.location) == (EXPECTED_C2, "customers.csv:3")
    assert isinstance(c1.record, Customer)
    assert isinstance(c1.record.credit_limit, Decimal)
    assert c1.record.invoice_delivery is DeliveryMode.EMAIL

    i1, i5, i7 = pulled["I1"], pulled["I5"], pulled["I7"]
    assert (i1.record, i1.location) == (EXPECTED_I1, "invoices.csv:2")
    assert (i5.record, i5.location) == (EXPECTED_I5, "invoices.csv:3")
    assert (i7.record, i7.location) == (EXPECTED_I7, "invoices.csv:4")
    assert isinstance(i1.record, Invoice)
    assert type(i1.record.total) is Decimal
    assert str(i1.record.total) == "1200.50"  # thousands separator dropped, cents kept
    assert type(i1.record.issue_date) is dt.date
    assert i1.record.last_modified is not None
    assert i1.record.last_modified.utcoffset() == dt.timedelta(0)

    p1 = pulled["P1"]
    assert p1.record == Payment(
        id="P1",
        customer_id="C1",
        received_date=dt.date(2026, 3, 15),
        currency="USD",
        amount=D("1000.00"),
        method=PaymentMethod.ACH,
        applications=(
            Application(invoice_id="I5", amount=D("300.00"), applied_date=dt.date(2026, 3, 15)),
            Application(invoice_id="I1", amount=D("100.25"), applied_date=None),
        ),
    )
    assert p1.location == "payments.csv:2"
    assert p1.part_locations == ("payment_applications.csv:2", "payment_applications.csv:3")
    assert isinstance(p1.record, Payment)
    assert p1.record.unapplied == D("599.75")


def test_empty_trailing_rows_are_ignored(tmp_path: Path) -> None:
    files = {
        "customers.csv": [*GOOD_FILES["customers.csv"], ",,,,,,,,,", "", ",,,,,,,,,"],
        "invoices.csv": [*GOOD_FILES["invoices.csv"], ",,,,,,,,,,,", ""],
    }
    items = pull(write_export(tmp_path, files))

    assert entries(items) == []
    assert sorted(item.location for item in items if isinstance(item, Pulled)) == [
        "customers.csv:2",
        "customers.csv:3",
        "invoices.csv:2",
        "invoices.csv:3",
        "invoices.csv:4",
    ]


def test_trailing_rows_of_blank_cells_are_ignored_too(tmp_path: Path) -> None:
    """Cells are stripped before parsing, so a row of spaces is as empty as a row of commas."""
    files = {"customers.csv": [*GOOD_FILES["customers.csv"], " , ,,,,,,,, ", "  "]}
    items = pull(write_export(tmp_path, files))

    assert entries(items) == []
    assert sorted(records(items)) == ["C1", "C2"]


@pytest.mark.parametrize(
    ("formats", "cell", "expected"),
    [
        ({}, '"10,000.00"', D("10000.00")),
        (
            {"decimal_separator": ",", "thousands_separator": ".", "date": "%d.%m.%Y"},
            '"10.000,50"',
            D("10000.50"),
        ),
    ],
    ids=["generic-thousands-comma", "decimal-comma"],
)
def test_optional_money_column_honours_the_number_format(
    tmp_path: Path, formats: dict[str, str], cell: str, expected: Decimal
) -> None:
    """Credit Limit is optional (`Money | None`): it must be parsed like any required amount."""
    mapping = edited_mapping(tmp_path, lambda data: data["formats"].update(formats))
    row = f"C1,Acme Corp,USD,{cell},30,,Email,ACH,,"
    items = pull(write_export(tmp_path / "export", {"customers.csv": [row]}), mapping)

    assert entries(items) == []
    customer = records(items)["C1"].record
    assert isinstance(customer, Customer)
    assert customer.credit_limit == expected


def test_custom_formats_decimal_comma_thousands_dot_and_day_first_dates(tmp_path: Path) -> None:
    def european(data: dict[str, Any]) -> None:
        data["formats"].update(
            {
                "decimal_separator": ",",
                "thousands_separator": ".",
                "date": "%d.%m.%Y",
                "delimiter": ";",
                "true_values": ["ja"],
                "false_values": ["nein", ""],
            }
        )

    mapping = edited_mapping(tmp_path, european)
    files = {
        "customers.csv": ["C1;Acme Corp;EUR;;14;;Portal;Check;;"],
        "invoices.csv": [
            "I1;INV-1;C1;31.01.2026;02.03.2026;EUR;1.234.567,89;1.000,5;Open;ja;Menge;",
            "I2;INV-2;C1;15.02.2026;17.03.2026;EUR;99,99;0;Paid;nein;;",
        ],
        "payments.csv": ["P1;C1;28.02.2026;EUR;2.000,00;Check"],
        "payment_applications.csv": ["P1;I2;99,99;28.02.2026"],
    }
    items = pull(write_export(tmp_path / "export", files, delimiter=";"), mapping)

    assert entries(items) == []
    pulled = records(items)
    i1, i2, p1 = pulled["I1"].record, pulled["I2"].record, pulled["P1"].record
    assert isinstance(i1, Invoice)
    assert isinstance(i2, Invoice)
    assert isinstance(p1, Payment)
    assert (i1.issue_date, i1.due_date) == (dt.date(2026, 1, 31), dt.date(2026, 3, 2))
    assert (i1.total, i1.open_balance) == (D("1234567.89"), D("1000.5"))
    assert (i1.disputed, i1.dispute_reason) == (True, "Menge")
    assert (i2.total, i2.open_balance, i2.status, i2.disputed) == (
        D("99.99"),
        D("0"),
        InvoiceStatus.PAID,
        False,
    )
    assert (p1.amount, p1.received_date, p1.method) == (
        D("2000.00"),
        dt.date(2026, 2, 28),
        PaymentMethod.CHECK,
    )
    assert p1.applications == (
        Application(invoice_id="I2", amount=D("99.99"), applied_date=dt.date(2026, 2, 28)),
    )
    customer = pulled["C1"].record
    assert isinstance(customer, Customer)
    assert (customer.payment_terms_days, customer.invoice_delivery) == (14, DeliveryMode.PORTAL)


def test_csv_saved_with_a_byte_order_mark_still_finds_its_first_column(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" export starts with a BOM; the first header must still match."""
    folder = write_export(tmp_path, GOOD_FILES)
    customers = folder / "customers.csv"
    customers.write_text(customers.read_text(encoding="utf-8"), encoding="utf-8-sig")

    items = pull(folder)

    assert entries(items) == []
    assert records(items)["C1"].record == EXPECTED_C1


# --------------------------------------------------------------------------- broken rows

BROKEN_FILES = {
    "customers.csv": [
        "C1,Acme Corp,USD,10000.00,30,Manufacturing,Email,ACH,,001000000000001AAA",  # 2
        "C2,Beta GmbH,EUR,,45,,EDI,Wire,C1,",  # 3
        "C3,Gamma Ltd,USD,,30,,Fax,Check,,",  # 4: delivery mode not in the values map
        ",,,,,,,,,",  # 5: empty
    ],
    "invoices.csv": [
        'I1,INV-1,C1,2026-01-01,2026-01-31,USD,"1,200.50","1,200.50",Open,no,,',  # 2
        "I2,INV-2,C1,2026-02-01,,USD,300.00,300.00,Open,no,,",  # 3: no due date
        "I3,INV-3,C1,2026-02-01,2026-03-03,USD,abc,100.00,Open,no,,",  # 4: text amount
        "I4,INV-4,C1,2026-02-10,2026-02-01,USD,50.00,50.00,Open,no,,",  # 5: due < issue
        "I5,INV-5,C1,2026-03-01,2026-04-30,USD,800.00,500.00,Open,yes,Price dispute,",  # 6
        'I6,INV-6,C2,2026-01-15,2026-02-28,EUR,"2,000.00","1,000.00",Open,no,,',  # 7
        "I7,INV-7,C2,2026-01-10,2026-02-09,EUR,400.00,0.00,Paid,no,,",  # 8
        "I8,INV-8,C2,2026-01-10,2026-02-09,EUR,70.00,70.00,Open,maybe,,",  # 9: bad boolean
        "I10,INV-10,C1,2026-01-05,31/01/2026,USD,10.00,n/a,Open,no,,",  # 10: two bad cells
        ",,,,,,,,,,,",  # 11: empty
    ],
    "payments.csv": [
        'P1,C1,2026-03-15,USD,"1,000.00",ACH',  # 2
        'P2,C2,2026-03-20,EUR,"1,400.00",Wire',  # 3
        "P3,C1,2026-03-25,USD,500.00,Check",  # 4: applied for 600.00
    ],
    "payment_applications.csv": [
        "P1,I5,300.00,2026-03-15",  # 2
        "P1,I9,150.00,2026-03-15",  # 3: invoice I9 does not exist
        'P2,I6,"1,000.00",2026-03-20',  # 4
        "P2,I7,400.00,2026-03-20",  # 5
        "P3,I1,400.00,2026-03-25",  # 6
        "P3,I1,200.00,2026-03-25",  # 7
        "P9,I1,50.00,2026-03-25",  # 8: payment P9 does not exist
    ],
}


@dataclass(frozen=True)
class BrokenRow:
    location: str
    record_type: str
    record_id: str
    rule: str
    reason_says: tuple[str, ...]  # the reason must hold each of these


BROKEN_ROWS = [
    BrokenRow(
        "customers.csv:4", "customer", "C3", "invalid_record", ("'Invoice Delivery'", "'Fax'")
    ),
    BrokenRow("invoices.csv:3", "invoice", "I2", "invalid_record", ("'Due Date'", "empty")),
    BrokenRow(
        "invoices.csv:4", "invoice", "I3", "invalid_record", ("'Amount'", "'abc'", "not a number")
    ),
    BrokenRow(
        "invoices.csv:5", "invoice", "I4", "invalid_record", ("'Due Date'", "before", "2026-02-10")
    ),
    BrokenRow("invoices.csv:9", "invoice", "I8", "invalid_record", ("'Disputed'", "'maybe'")),
    BrokenRow(
        "invoices.csv:10", "invoice", "I10", "invalid_record", ("'Due Date'", "'Balance Due'")
    ),
    BrokenRow(
        "payments.csv:4", "payment", "P3", "invalid_record", ("'Amount'", "600.00", "500.00")
    ),
    BrokenRow(
        "payment_applications.csv:8",
        "payment_application",
        "P9->I1",
        "unknown_document",
        ("'P9'", "payments.csv"),
    ),
]


@pytest.fixture
def broken_export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "export", BROKEN_FILES)


def test_broken_rows_are_quarantined_and_every_good_row_is_pulled(broken_export: Path) -> None:
    items = pull(broken_export)

    assert sorted(e.location for e in entries(items)) == sorted(row.location for row in BROKEN_ROWS)
    assert sorted(records(items)) == ["C1", "C2", "I1", "I5", "I6", "I7", "P1", "P2"]
    p1, p2 = records(items)["P1"], records(items)["P2"]
    assert p1.part_locations == ("payment_applications.csv:2", "payment_applications.csv:3")
    assert p2.part_locations == ("payment_applications.csv:4", "payment_applications.csv:5")


@pytest.mark.parametrize(
    "row", BROKEN_ROWS, ids=[f"{r.location}-{r.record_id}" for r in BROKEN_ROWS]
)
def test_each_broken_row_is_named_by_file_line_and_column(
    broken_export: Path, row: BrokenRow
) -> None:
    found = [e for e in entries(pull(broken_export)) if e.location == row.location]

    assert len(found) == 1, found
    entry = found[0]
    assert (entry.record_type, entry.record_id, entry.rule) == (
        row.record_type,
        row.record_id,
        row.rule,
    )
    for fragment in row.reason_says:
        assert fragment in entry.reason, entry.reason


def test_multi_line_row_is_located_at_its_first_line(tmp_path: Path) -> None:
    """A quoted cell may hold a line break; the row is where it starts, like the others."""
    files = {
        "customers.csv": GOOD_FILES["customers.csv"],
        "invoices.csv": [
            "I1,INV-1,C1,2026-01-01,2026-01-31,USD,10.00,10.00,Open,no,,",  # 2
            'I2,INV-2,C1,2026-02-01,,USD,10.00,10.00,Open,yes,"damaged',  # 3: no due date
            'goods",',  # 4: same row
            "I3,INV-3,C1,2026-02-01,2026-03-03,USD,abc,10.00,Open,no,,",  # 5
        ],
    }
    items = pull(write_export(tmp_path, files))

    assert [(e.record_id, e.location) for e in entries(items)] == [
        ("I2", "invoices.csv:3"),
        ("I3", "invoices.csv:5"),
    ]


def test_broken_export_through_the_ledger_to_hand_computed_balances(broken_export: Path) -> None:
    source = FileSource(broken_export, generic_mapping())
    builder = pull_ledger(source, frozenset({"USD", "EUR"}), Silent())
    ledger = builder.build()

    # The ledger builder adds the application to the unknown invoice, at its own row.
    unknown = [e for e in builder.quarantine if e.rule == "unknown_invoice"]
    assert [(e.record_type, e.record_id, e.location) for e in unknown] == [
        ("payment_application", "P1->I9", "payment_applications.csv:3")
    ]
    assert "'I9'" in unknown[0].reason
    # P3 was quarantined (over-applied): its two applications go with it, never vanish.
    assert sorted(e.location for e in builder.quarantine) == sorted(
        [row.location for row in BROKEN_ROWS]
        + ["payment_applications.csv:3", "payment_applications.csv:6", "payment_applications.csv:7"]
    )
    assert ledger.counts() == {
        "customers": 2,
        "invoices": 4,
        "payments": 2,
        "credit_memos": 0,
        "applications": 3,  # P1->I5, P2->I6, P2->I7; P1->I9 is quarantined
    }
    # P1's unapplied cash counts everything it declares, also the quarantined application.
    unapplied = dict(
        zip(ledger.payments["payment_id"], ledger.payments["unapplied_minor"], strict=True)
    )
    assert unapplied == {"P1": 55000, "P2": 0}

    scores = score_accounts(
        ledger,
        dt.date(2026, 3, 31),
        ScoringSettings(),
        CurrencyTable("USD", {"EUR": D("1.08")}),
    ).set_index("customer_id")

    assert scores.index.tolist() == ["C1", "C2"]
    c1, c2 = scores.loc["C1"], scores.loc["C2"]
    # C1: I1 1,200.50 is 59 days past due; I5 500.00 (disputed) is not due until April 30.
    assert c1["open_balance"] == 1700.50
    assert c1["overdue_balance"] == 1200.50
    assert c1["aging_current"] == 500.00
    assert c1["aging_d31_60"] == 1200.50
    assert c1["max_days_overdue"] == 59
    assert c1["open_invoice_count"] == 2
    assert c1["unapplied_credit"] == 550.00  # P1: 1,000.00 - 300.00 - 150.00
    assert c1["overdue_status"] == "31-60 days overdue"
    # C2: I6 has EUR 1,000.00 open, 31 days past due, at 1.08 USD per EUR; I7 is paid.
    assert c2["open_balance"] == 1080.00
    assert c2["overdue_balance"] == 1080.00
    assert c2["aging_d31_60"] == 1080.00
    assert c2["max_days_overdue"] == 31
    assert c2["unapplied_credit"] == 0.0


# --------------------------------------------------------------------------- XLSX


def xlsx_mapping(tmp_path: Path, invoices_sheet: str = "Invoices") -> FileMapping:
    def to_xlsx(data: dict[str, Any]) -> None:
        only_customers_and_invoices(data)
        data["files"]["customers"].update({"path": "x.xlsx", "sheet": "Customers"})
        data["files"]["invoices"].update({"path": "x.xlsx", "sheet": invoices_sheet})

    return edited_mapping(tmp_path, to_xlsx)


def excel(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A date cell as openpyxl writes and reads it: a datetime without a time zone."""
    return dt.datetime(year, month, day, hour, minute)  # noqa: DTZ001 - Excel has no zones


def write_workbook(path: Path, drop_invoice_column: str | None = None) -> None:
    from openpyxl import Workbook  # noqa: PLC0415 - only the XLSX tests need it

    workbook = Workbook()
    customers = workbook.active
    assert customers is not None
    customers.title = "Customers"
    customers.append(HEADERS["customers.csv"].split(","))
    customers.append(
        ["C1", "Acme Corp", "USD", 10000.0, 30, "Manufacturing", "Email", "ACH", None, SF_ID]
    )
    customers.append(["C2", "Beta GmbH", "EUR", None, 45, None, "EDI", "Wire", "C1", None])
    customers.append([None] * 10)  # an empty trailing row
    notes = workbook.create_sheet("Notes")
    notes.append(["not ledger data"])
    invoices = workbook.create_sheet("Invoices")
    header = HEADERS["invoices.csv"].split(",")
    rows: list[list[Any]] = [
        [
            "I1",
            "INV-1",
            "C1",
            excel(2026, 1, 1),
            excel(2026, 1, 31),
            "USD",
            1200.5,
            1200.5,
            "Open",
            "no",
            None,
            excel(2026, 1, 2, 9, 30),
        ],
        [
            "I5",
            "INV-5",
            "C1",
            excel(2026, 3, 1),
            excel(2026, 4, 30),
            "USD",
            800.0,
            500.0,
            "Open",
            True,
            "Price dispute",
            None,
        ],
        [
            "I7",
            "INV-7",
            "C2",
            excel(2026, 1, 10),
            excel(2026, 2, 9),
            "EUR",
            400,
            0,
            "Paid",
            False,
            None,
            None,
        ],
        [None] * 12,
        [""] * 12,
    ]
    keep = [i for i, name in enumerate(header) if name != drop_invoice_column]
    for row in [header, *rows]:
        invoices.append([row[i] for i in keep])
    workbook.save(path)


def test_xlsx_typed_cells_give_the_same_records_as_csv(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    write_workbook(export / "x.xlsx")

    items = pull(export, xlsx_mapping(tmp_path))

    assert entries(items) == []
    pulled = records(items)
    assert {key: (p.record, p.location) for key, p in pulled.items()} == {
        "C1": (EXPECTED_C1, "x.xlsx[Customers]:2"),
        "C2": (EXPECTED_C2, "x.xlsx[Customers]:3"),
        "I1": (EXPECTED_I1, "x.xlsx[Invoices]:2"),
        "I5": (EXPECTED_I5, "x.xlsx[Invoices]:3"),
        "I7": (EXPECTED_I7, "x.xlsx[Invoices]:4"),
    }
    i1 = pulled["I1"].record
    assert isinstance(i1, Invoice)
    assert type(i1.total) is Decimal
    assert type(i1.due_date) is dt.date  # an Excel date cell is a datetime; the field is a date


def test_xlsx_missing_sheet_is_a_source_config_error(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    write_workbook(export / "x.xlsx")
    source = FileSource(export, xlsx_mapping(tmp_path, invoices_sheet="Rechnungen"))

    with pytest.raises(SourceConfigError) as raised:
        list(source.pull())

    message = str(raised.value)
    assert "x.xlsx" in message
    assert "'Rechnungen'" in message
    assert "Invoices" in message  # the sheets that do exist


def test_xlsx_mapped_header_missing_is_a_source_config_error(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    write_workbook(export / "x.xlsx", drop_invoice_column="Due Date")

    with pytest.raises(SourceConfigError) as raised:
        pull(export, xlsx_mapping(tmp_path))

    message = str(raised.value)
    assert "x.xlsx" in message
    assert "'Due Date'" in message


def test_csv_mapped_header_missing_is_a_source_config_error(tmp_path: Path) -> None:
    folder = write_export(tmp_path, GOOD_FILES)
    invoices = folder / "invoices.csv"
    invoices.write_text(
        invoices.read_text(encoding="utf-8").replace("Balance Due", "Open Amount", 1),
        encoding="utf-8",
    )

    with pytest.raises(SourceConfigError) as raised:
        pull(folder)

    message = str(raised.value)
    assert "invoices.csv" in message
    assert "'Balance Due'" in message


# --------------------------------------------------------------------------- manifest


@pytest.mark.parametrize(
    ("exported_at", "expected"),
    [
        ("2026-03-31T23:00:00+02:00", dt.datetime(2026, 3, 31, 21, 0, tzinfo=UTC)),
        ("2026-03-31T23:00:00Z", dt.datetime(2026, 3, 31, 23, 0, tzinfo=UTC)),
        ("2026-03-31T23:00:00", dt.datetime(2026, 3, 31, 23, 0, tzinfo=UTC)),  # naive: UTC
    ],
)
def test_data_as_of_reads_exported_at_from_the_manifest(
    tmp_path: Path, exported_at: str, expected: dt.datetime
) -> None:
    (tmp_path / "export_manifest.json").write_text(
        json.dumps({"exported_at": exported_at, "files": ["customers.csv"]}), encoding="utf-8"
    )

    as_of = FileSource(tmp_path, generic_mapping()).data_as_of()

    assert as_of == expected
    assert as_of is not None
    assert as_of.utcoffset() is not None


def test_without_a_manifest_data_as_of_is_when_the_newest_file_was_written(
    tmp_path: Path,
) -> None:
    """Reading the same export twice must not look like fresher data."""
    mapping = edited_mapping(tmp_path, lambda data: data.pop("manifest"))
    source = FileSource(tmp_path, mapping)
    assert source.data_as_of() is None  # no export file yet

    for name, written in (("customers.csv", 1_700_000_000), ("invoices.csv", 1_700_000_600)):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
        os.utime(tmp_path / name, (written, written))
    (tmp_path / "unrelated.csv").write_text("x\n", encoding="utf-8")  # not in the mapping

    assert source.data_as_of() == dt.datetime.fromtimestamp(1_700_000_600, UTC)
    assert source.data_as_of() == source.data_as_of()


@pytest.mark.parametrize(
    "content", [None, "{}", '{"exported_at": "last tuesday"}', "not json"], ids=repr
)
def test_unreadable_manifest_is_a_source_config_error(tmp_path: Path, content: str | None) -> None:
    manifest = tmp_path / "export_manifest.json"
    if content is not None:
        manifest.write_text(content, encoding="utf-8")

    with pytest.raises(SourceConfigError) as raised:
        FileSource(tmp_path, generic_mapping()).data_as_of()

    assert str(manifest) in str(raised.value)
    assert "exported_at" in str(raised.value)


def test_a_files_pull_keeps_4_places_so_14_digits_and_quarantines_15(tmp_path: Path) -> None:
    """An export's text says nothing of its amounts' scale: the frames keep 4 places (14
    digits before the point), whatever an SQL source's columns may allow (arsync.money)."""
    files = {
        "customers.csv": ["C1,Acme Corp,USD,,30,,,,,"],
        "invoices.csv": [
            "I1,INV-1,C1,2026-01-01,2026-01-31,USD,99999999999999.9999,12.3456,Open,no,,",
            "I2,INV-2,C1,2026-01-01,2026-01-31,USD,999999999999999.00,1.00,Open,no,,",
        ],
    }
    source = FileSource(write_export(tmp_path, files), generic_mapping())
    frames = [item for item in source.pull_frames() if isinstance(item, RecordFrame)]

    assert {frame.places for frame in frames} == {4}
    assert source.money_places() == 4
    pulled = pull_ledger(source, frozenset({"USD"}), Silent())
    ledger = pulled.build()
    assert ledger.invoices[["invoice_id", "total_minor", "open_minor"]].values.tolist() == [
        ["I1", 10**16, 1235]
    ]
    [entry] = pulled.quarantine
    assert (entry.record_id, entry.location) == ("I2", "invoices.csv:3")
    assert entry.reason == (
        "column 'Amount': Decimal input should have no more than 14 digits before the decimal point"
    )
