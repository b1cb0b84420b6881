"""LedgerBuilder on record frames: the same Ledger as record by record, the rules that need
the whole ledger, and every row that reaches the builder in exactly one bucket."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pandas as pd
import pytest
from factories import customer, invoice, payment
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from ledger_strategies import consistent_ledgers

from arsync.frames import LOCATION, STREAM, RecordFrame, records_to_frames, rows_to_frame
from arsync.ledger import (
    APPLICATION_COLUMNS,
    CREDIT_MEMO_COLUMNS,
    CUSTOMER_COLUMNS,
    INVOICE_COLUMNS,
    PAYMENT_COLUMNS,
    Ledger,
    LedgerBuilder,
)
from arsync.quarantine import Action, QuarantineEntry
from arsync.record_rules import DateWindow
from arsync.records import CanonicalRecord

FRAMES = ("customers", "invoices", "payments", "credit_memos", "applications")
COLUMNS = {
    "customers": CUSTOMER_COLUMNS,
    "invoices": INVOICE_COLUMNS,
    "payments": PAYMENT_COLUMNS,
    "credit_memos": CREDIT_MEMO_COLUMNS,
    "applications": APPLICATION_COLUMNS,
}
FILES = {
    "customer": "customers.csv",
    "invoice": "invoices.csv",
    "payment": "payments.csv",
    "credit_memo": "credit_memos.csv",
}
AS_OF = dt.date(2026, 3, 31)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def batch(kind: str, rows: list[dict[str, Any]], stream: str | None = None) -> RecordFrame:
    """Rows of one file, located at their line (the header is line 1)."""
    stream = stream or FILES.get(kind, "payment_applications.csv")
    located = [
        {**row, LOCATION: row.get(LOCATION, f"{stream}:{n}"), STREAM: stream}
        for n, row in enumerate(rows, start=2)
    ]
    return RecordFrame(kind, rows_to_frame(kind, located), {"amount": "column 'Amount'"})


def cust(id: str = "C1", **fields: Any) -> dict[str, Any]:
    return {"id": id, "name": f"Customer {id}", "currency": "USD", **fields}


def inv(id: str, total: int, **fields: Any) -> dict[str, Any]:
    """An invoice of `total` dollars, all open, issued 2026-01-01."""
    return {
        "id": id,
        "customer_id": "C1",
        "issue_date": day("2026-01-01"),
        "due_date": day("2026-01-31"),
        "currency": "USD",
        "total": total * 10_000,
        "open_balance": total * 10_000,
        **fields,
    }


def pay(id: str, amount: int, received: str = "2026-02-01", **fields: Any) -> dict[str, Any]:
    return {
        "id": id,
        "customer_id": "C1",
        "received_date": day(received),
        "currency": "USD",
        "amount": amount * 10_000,
        **fields,
    }


def app(document: str, invoice_id: str, amount: int, **fields: Any) -> dict[str, Any]:
    return {
        "document_type": "payment",
        "document_id": document,
        "invoice_id": invoice_id,
        "amount": amount * 10_000,
        **fields,
    }


def build_frames(
    *batches: RecordFrame, as_of: dt.date | None = AS_OF
) -> tuple[LedgerBuilder, Ledger]:
    builder = LedgerBuilder(currencies={"USD", "EUR"})
    for one in batches:
        builder.add_frame(one)
    return builder, builder.build(as_of=as_of)


def rules(builder: LedgerBuilder) -> list[tuple[str, str | None, str, str]]:
    return [(e.location, e.record_id, e.rule, e.action.value) for e in builder.quarantine]


def assert_same_ledger(actual: Ledger, expected: Ledger) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(actual, name), getattr(expected, name), obj=name)


# --- the same Ledger whichever way the rows came -------------------------------------------


@settings(max_examples=examples(60))
@given(records=consistent_ledgers())
def test_frames_and_records_give_the_same_ledger(records: list[CanonicalRecord]) -> None:
    by_record = LedgerBuilder(currencies={"USD", "EUR"})
    for number, record in enumerate(records):
        by_record.add(record, f"r:{number}")
    by_frame = LedgerBuilder(currencies={"USD", "EUR"})
    located = [(record, f"r:{number}") for number, record in enumerate(records)]
    for frame in records_to_frames(located).values():
        by_frame.add_frame(frame)

    assert_same_ledger(by_frame.build(), by_record.build())
    assert list(by_frame.quarantine) == list(by_record.quarantine) == []


def test_an_empty_builder_gives_typed_empty_frames() -> None:
    ledger = Ledger.empty()

    for name in FRAMES:
        frame = getattr(ledger, name)
        assert frame.empty
        assert {c: str(t) for c, t in frame.dtypes.items()} == COLUMNS[name]


def test_a_builder_builds_once() -> None:
    builder = LedgerBuilder()
    builder.build()

    with pytest.raises(RuntimeError, match="runs once"):
        builder.build()


# --- duplicates ------------------------------------------------------------------------------


def test_identical_rows_merge_into_the_first_and_conflicting_ones_are_all_quarantined() -> None:
    builder, ledger = build_frames(
        batch("customer", [cust()]),
        batch(
            "invoice",
            [inv("I1", 10), inv("I2", 10), inv("I1", 10), inv("I2", 20), inv("I2", 10)],
        ),
    )

    assert ledger.invoices["invoice_id"].tolist() == ["I1"]
    assert builder.merged == [("invoice", "I1", "invoices.csv:2", "invoices.csv:4")]
    where = "(invoices.csv:3, invoices.csv:5, invoices.csv:6)"
    assert [(e.location, e.rule) for e in builder.quarantine] == [
        ("invoices.csv:3", "conflicting_duplicate_id"),
        ("invoices.csv:5", "conflicting_duplicate_id"),
        ("invoices.csv:6", "conflicting_duplicate_id"),
    ]
    assert all(
        e.reason == f"id 'I2' appears 3 times with different values {where}; none is scored"
        for e in builder.quarantine
    )
    assert builder.accounting()["invoices.csv"].as_dict() == {
        "read": 0,
        "ledger": 1,
        "quarantined": 3,
        "merged": 1,
    }


def test_copies_compare_as_the_model_normalises_them() -> None:
    """ " I1 " and "I1" with "usd" and "USD" are one invoice twice: merged, not conflicting."""
    builder, _ledger = build_frames(
        batch("customer", [cust()]),
        batch("invoice", [inv("I1", 10), inv(" I1 ", 10, currency="usd")]),
    )

    assert len(builder.quarantine) == 0
    assert builder.merged == [("invoice", "I1", "invoices.csv:2", "invoices.csv:3")]


def test_a_document_added_twice_is_merged_with_its_applications() -> None:
    """A record-by-record source (an API page read twice) hands the same payment twice, each
    copy with its applications: the copy's applications merge with it, never applied twice."""
    twice = payment("P1", "100", received="2026-02-01", applied={"I1": "60"})
    builder = LedgerBuilder()
    for number, record in enumerate(
        [customer("C1"), invoice("I1", "100", "40", issued="2026-01-01", due="2026-01-31")]
    ):
        builder.add(record, f"r:{number}")
    builder.add(twice, "page1:1", ("page1:1/1",))
    builder.add(twice, "page2:1", ("page2:1/1",))
    ledger = builder.build()

    assert ledger.applications["amount_minor"].tolist() == [6000]
    assert ledger.payments["unapplied_minor"].tolist() == [4000]
    assert builder.merged == [
        ("payment", "P1", "page1:1", "page2:1"),
        ("application", "P1->I1", "page1:1", "page2:1/1"),
    ]
    assert builder.accounting()["payment_application"].as_dict() == {
        "read": 0,
        "ledger": 1,
        "quarantined": 0,
        "merged": 1,
    }


def test_documents_added_with_different_applications_conflict() -> None:
    builder = LedgerBuilder()
    builder.add(customer("C1"), "r:1")
    builder.add(invoice("I1", "100", issued="2026-01-01", due="2026-01-31"), "r:2")
    builder.add(payment("P1", "100", received="2026-02-01", applied={"I1": "60"}), "r:3")
    builder.add(payment("P1", "100", received="2026-02-01", applied={"I1": "70"}), "r:4")
    ledger = builder.build()

    assert ledger.payments.empty
    assert ledger.applications.empty
    assert rules(builder) == [
        ("r:3", "P1", "conflicting_duplicate_id", "rejected"),
        ("r:4", "P1", "conflicting_duplicate_id", "rejected"),
        ("r:3", "P1->I1", "unknown_document", "rejected"),
        ("r:4", "P1->I1", "unknown_document", "rejected"),
    ]


# --- documents and their applications -------------------------------------------------------


def test_applications_of_a_missing_or_quarantined_document_are_quarantined() -> None:
    builder, ledger = build_frames(
        batch("customer", [cust()]),
        batch("invoice", [inv("I1", 1000)]),
        batch("payment", [pay("P1", 100), pay("P3", 500)]),
        batch(
            "application",
            [app("P1", "I1", 30), app("P3", "I1", 400), app("P3", "I1", 200), app("P9", "I1", 5)],
        ),
    )

    assert ledger.payments["payment_id"].tolist() == ["P1"]
    assert ledger.applications["document_id"].tolist() == ["P1"]
    found = {e.location: e for e in builder.quarantine}
    over = found["payments.csv:3"]
    assert (over.record_id, over.rule) == ("P3", "invalid_record")
    assert over.reason == "column 'Amount': applications total 600.00 exceeds the amount 500.00"
    assert found["payment_applications.csv:3"].rule == "unknown_document"
    assert (
        found["payment_applications.csv:3"].reason
        == "payment 'P3' was quarantined (payments.csv:3)"
    )
    assert found["payment_applications.csv:4"].record_id == "P3->I1"
    missing = found["payment_applications.csv:5"]
    assert (missing.record_type, missing.record_id, missing.rule) == (
        "payment_application",
        "P9->I1",
        "unknown_document",
    )
    assert missing.reason == "payment 'P9' is not in payments.csv"


def test_unapplied_cash_counts_every_application_the_document_declares() -> None:
    """An application quarantined for its invoice stays applied cash: never unapplied."""
    builder, ledger = build_frames(
        batch("customer", [cust(), cust("C2")]),
        batch("invoice", [inv("I1", 100), inv("I2", 50, customer_id="C2")]),
        batch("payment", [pay("P1", 100)]),
        batch("application", [app("P1", "I1", 60), app("P1", "I9", 30), app("P1", "I2", 5)]),
    )

    assert ledger.applications["invoice_id"].tolist() == ["I1"]
    assert ledger.payments["unapplied_minor"].tolist() == [500]
    assert [(e.record_id, e.rule) for e in builder.quarantine] == [
        ("P1->I9", "unknown_invoice"),
        ("P1->I2", "foreign_invoice"),
    ]


def test_applications_beyond_an_invoice_total_are_quarantined_latest_first() -> None:
    """Payments and credit memos on one invoice count by applied date, then document date,
    then arrival; the ones that take it above its total are quarantined."""
    builder, ledger = build_frames(
        batch("customer", [cust()]),
        batch("invoice", [inv("I1", 100)]),
        batch("payment", [pay("P1", 60, "2026-02-10"), pay("P2", 60, "2026-02-01")]),
        batch(
            "credit_memo",
            [
                {
                    "id": "M1",
                    "customer_id": "C1",
                    "date": day("2026-02-05"),
                    "currency": "USD",
                    "amount": 30 * 10_000,
                }
            ],
        ),
        batch("application", [app("P1", "I1", 60), app("P2", "I1", 60)]),
        batch(
            "application",
            [app("M1", "I1", 30, document_type="credit_memo")],
            "credit_memo_applications.csv",
        ),
    )

    # P2 (1 Feb) and M1 (5 Feb) fit in 100 with 90; P1 (10 Feb) would make 150.
    assert sorted(ledger.applications["document_id"]) == ["M1", "P2"]
    [entry] = builder.quarantine
    assert (entry.location, entry.record_id, entry.rule) == (
        "payment_applications.csv:2",
        "P1->I1",
        "over_applied_invoice",
    )
    assert entry.reason == (
        "applies 60.00 to invoice 'I1', which brings what is applied to it to 150.00, "
        "above its total 100.00"
    )
    # The cash stays applied: P1 has nothing unapplied, as it declared.
    unapplied = ledger.payments.set_index("payment_id")["unapplied_minor"]
    assert unapplied.to_dict() == {"P1": 0, "P2": 0}


def test_applications_come_in_document_order_whatever_the_file_order() -> None:
    _builder, ledger = build_frames(
        batch("customer", [cust()]),
        batch("invoice", [inv("I1", 100), inv("I2", 100)]),
        batch("payment", [pay("P1", 100), pay("P2", 100)]),
        batch("application", [app("P2", "I2", 5), app("P1", "I2", 5), app("P1", "I1", 5)]),
    )

    applications = ledger.applications
    assert list(zip(applications["document_id"], applications["invoice_id"], strict=True)) == [
        ("P1", "I2"),
        ("P1", "I1"),
        ("P2", "I2"),
    ]
    # Without a date of its own an application is dated by its document.
    assert applications["applied_date"].dt.date.tolist() == [day("2026-02-01")] * 3


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize("year", [9999, 202, 2100, 1])
def test_a_date_outside_the_window_is_quarantined_never_an_overflow(year: int) -> None:
    far = dt.date(year, 1, 15)
    builder, ledger = build_frames(
        batch("customer", [cust()]),
        batch("invoice", [inv("I1", 10), inv("I2", 10, issue_date=far, due_date=far)]),
    )

    assert ledger.invoices["invoice_id"].tolist() == ["I1"]
    [entry] = builder.quarantine
    assert (entry.location, entry.rule) == ("invoices.csv:3", "date_out_of_range")
    text = far.isoformat() if year >= 1000 else f"{year:04d}-01-15"
    window = "the accepted dates 1990-01-01 to 2027-03-31"
    assert (
        entry.reason
        == f"issue_date: {text} is outside {window}; due_date: {text} is outside {window}"
    )


def test_the_window_is_the_builders_to_set() -> None:
    builder, ledger = build_frames(
        batch("customer", [cust()]),
        batch("invoice", [inv("I1", 10, issue_date=day("1985-06-01"))]),
        as_of=None,
    )
    assert [e.rule for e in builder.quarantine] == ["date_out_of_range"]

    wide = LedgerBuilder()
    wide.add_frame(batch("customer", [cust()]))
    wide.add_frame(batch("invoice", [inv("I1", 10, issue_date=day("1985-06-01"))]))
    ledger = wide.build(as_of=AS_OF, date_window=DateWindow(earliest=dt.date(1980, 1, 1)))
    assert len(wide.quarantine) == 0
    assert ledger.invoices["issue_date"].dt.date.tolist() == [day("1985-06-01")]


def test_an_application_dated_outside_the_window_keeps_its_cash_applied() -> None:
    builder, ledger = build_frames(
        batch("customer", [cust()]),
        batch("invoice", [inv("I1", 100)]),
        batch("payment", [pay("P1", 100)]),
        batch("application", [app("P1", "I1", 40, applied_date=dt.date(2206, 2, 1))]),
    )

    assert ledger.applications.empty
    assert ledger.payments["unapplied_minor"].tolist() == [6000]
    assert [e.rule for e in builder.quarantine] == ["date_out_of_range"]


def test_an_invoice_issued_after_the_as_of_date_is_kept_and_reported() -> None:
    builder, ledger = build_frames(
        batch("customer", [cust()]),
        batch(
            "invoice",
            [
                inv("I1", 10),
                inv("I2", 10, issue_date=day("2026-04-02"), due_date=day("2026-05-02")),
            ],
        ),
    )

    assert ledger.invoices["invoice_id"].tolist() == ["I1", "I2"]
    [entry] = builder.quarantine
    assert (entry.location, entry.record_id, entry.rule, entry.action) == (
        "invoices.csv:3",
        "I2",
        "issued_after_as_of",
        Action.REPORTED,
    )
    assert "2026-04-02" in entry.reason
    assert "2026-03-31" in entry.reason
    assert builder.quarantine.rejected_ids("invoice") == set()
    assert builder.accounting()["invoices.csv"].ledger == 2
    assert builder.accounting()["invoices.csv"].quarantined == 0


# --- customers --------------------------------------------------------------------------------


def test_unknown_customers_say_whether_they_were_quarantined() -> None:
    builder, _ledger = build_frames(
        batch("customer", [cust(), cust("C2", currency="GBP"), cust("C3", name="")]),
        batch(
            "invoice",
            [
                inv("I1", 10, customer_id="C2"),
                inv("I2", 10, customer_id="C3"),
                inv("I3", 10, customer_id="C9"),
            ],
        ),
    )

    reasons = {e.record_id: e.reason for e in builder.quarantine if e.record_type == "invoice"}
    assert reasons == {
        "I1": "customer 'C2' was quarantined",
        "I2": "customer 'C3' was quarantined",
        "I3": "customer 'C9' is not in the customer data",
    }


def test_an_unknown_parent_is_cleared_and_reported() -> None:
    builder, ledger = build_frames(
        batch("customer", [cust("C1", parent_id="C9"), cust("C2", parent_id="C1")])
    )

    customers = ledger.customers
    assert customers["parent_id"].isna().tolist() == [True, False]
    assert rules(builder) == [("customers.csv:2", "C1", "unknown_parent", "corrected")]
    assert builder.accounting()["customers.csv"].ledger == 2


# --- row accounting ---------------------------------------------------------------------------

ids = st.sampled_from(["E", "F", "A"])  # A also has a clean row: a duplicate
days = st.sampled_from(
    [
        day("2026-01-01"),
        day("2026-02-01"),
        day("2026-02-01"),
        day("2026-05-01"),
        dt.date(9999, 1, 1),
    ]
)
money = st.sampled_from([10_000, 50_000, 100_000, 100_000, 0, -1])


@st.composite
def messy_batches(draw: st.DrawFn) -> list[RecordFrame]:
    """Small batches of every kind with duplicates (equal and not), bad rows, unknown
    references, dates out of the window and over-applications, split over streams."""
    counter = iter(range(10_000))

    def rows(make: Any, count: int) -> list[dict[str, Any]]:
        return [{**draw(make), LOCATION: f"row{next(counter)}"} for _ in range(count)]

    customers = st.fixed_dictionaries(
        {
            "id": ids,
            "name": st.sampled_from(["N", "N", ""]),
            "currency": st.sampled_from(["USD", "USD", "EUR", "GBP"]),
            "parent_id": st.sampled_from([None, None, "A", "Z"]),
        }
    )
    invoices = st.fixed_dictionaries(
        {
            "id": ids.map(lambda i: f"I{i}"),
            "customer_id": st.sampled_from(["A", "B", "C", "D", "Z"]),
            "issue_date": days,
            "due_date": st.sampled_from([day("2026-03-01"), day("2026-01-01")]),
            "currency": st.sampled_from(["USD", "USD", "EUR"]),
            "total": st.sampled_from([100_000, 150_000, 0]),
            "open_balance": st.sampled_from([0, 10_000, 100_000, 200_000]),
        }
    )
    payments = st.fixed_dictionaries(
        {
            "id": ids.map(lambda i: f"P{i}"),
            "customer_id": st.sampled_from(["A", "B", "C", "D"]),
            "received_date": days,
            "currency": st.sampled_from(["USD", "USD", "EUR"]),
            "amount": money,
        }
    )
    applications = st.fixed_dictionaries(
        {
            "document_type": st.just("payment"),
            "document_id": st.sampled_from(["PA", "PA", "PB", "PB", "PE", "PZ"]),
            "invoice_id": st.sampled_from(["IA", "IA", "IB", "IE", "IZ"]),
            "amount": st.sampled_from([10_000, 50_000, 100_000, 0]),
            "applied_date": st.sampled_from([None, day("2026-02-01"), dt.date(1900, 1, 1)]),
        }
    )
    clean = {  # a consistent row per id, for the messy ones to collide with and refer to
        "customer": lambda i: {"id": i, "name": "N", "currency": "USD"},
        "invoice": lambda i: inv(f"I{i}", 10, customer_id=i, due_date=day("2026-03-01")),
        "payment": lambda i: pay(f"P{i}", 100, customer_id=i),
        "application": lambda i: app(f"P{i}", f"I{i}", 4),
    }
    found = []
    for kind, make in (
        ("customer", customers),
        ("invoice", invoices),
        ("payment", payments),
        ("application", applications),
    ):
        for stream in draw(st.lists(st.sampled_from(["one", "two"]), min_size=1, max_size=2)):
            made = [
                {**clean[kind](i), LOCATION: f"row{next(counter)}"}
                for i in draw(st.lists(st.sampled_from("ABCD"), max_size=4, unique=True))
            ]
            made += rows(make, draw(st.integers(0, 8 if kind == "application" else 4)))
            if made and draw(st.booleans()):  # an exact copy of a row, elsewhere
                made.append({**made[0], LOCATION: f"row{next(counter)}"})
            frame = rows_to_frame(kind, [{**row, STREAM: f"{kind}.{stream}"} for row in made])
            found.append(RecordFrame(kind, frame))
    return found


@settings(max_examples=examples(100))
@given(batches=messy_batches(), rejected=st.integers(0, 3))
def test_every_row_that_reaches_the_builder_is_in_exactly_one_bucket(
    batches: list[RecordFrame], rejected: int
) -> None:
    builder = LedgerBuilder(currencies={"USD", "EUR"})
    given_rows: Counter[str] = Counter()
    for one in batches:
        builder.add_frame(one)
        given_rows.update(one.frame[STREAM].tolist())
    for number in range(rejected):
        entry = QuarantineEntry("invoice", None, f"bad{number}", "csv_damage", "unreadable")
        builder.reject(entry, "invoice.one")
        given_rows["invoice.one"] += 1
    ledger = builder.build(as_of=AS_OF)
    counts = builder.accounting()

    assert set(counts) == set(given_rows)
    for stream, count in counts.items():
        assert count.ledger + count.quarantined + count.merged == given_rows[stream], stream
    left_out = [e.location for e in builder.quarantine if e.action is Action.REJECTED]
    merged = [m[3] for m in builder.merged]
    kept_and_told = [e.location for e in builder.quarantine if e.action is not Action.REJECTED]
    assert len(set(left_out)) == len(left_out) == sum(c.quarantined for c in counts.values())
    assert len(set(merged)) == len(merged) == sum(c.merged for c in counts.values())
    assert not set(left_out) & set(merged)
    assert not set(kept_and_told) & (set(left_out) | set(merged))
    assert sum(ledger.counts().values()) == sum(c.ledger for c in counts.values())
