"""The one-record rules on columns give every row the verdict its pydantic model gives.

Each property test draws rows of field values around the models' boundaries (empty and
whitespace ids, 255 and 256 characters, lower-case currencies, negative and zero money, 14
digits before the point, terms -1/0/365/366, enum values in the wrong case, due before issue,
open above total, paid with a balance, a customer its own parent) and hands the same values
once to `model_validate` and once, as a RecordFrame, to `check_records`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from pydantic import ValidationError

from arsync.frames import FIELDS, LOCATION, MONEY_FIELDS, STREAM, RecordFrame
from arsync.located import error_loc
from arsync.record_rules import (
    NS_LATEST,
    DateWindow,
    check_over_applied,
    check_records,
    format_money,
)
from arsync.records import (
    MONEY_PLACES_CONTEXT,
    Application,
    CreditMemo,
    Customer,
    Invoice,
    Payment,
    Record,
    RecordId,
)


class ApplicationRow(Application):
    """An application row as a file source reads it: with its document's id."""

    document_id: RecordId


MODELS: dict[str, type[Record]] = {
    "customer": Customer,
    "invoice": Invoice,
    "payment": Payment,
    "credit_memo": CreditMemo,
    "application": ApplicationRow,
}
ABSENT = object()  # the field is not there: a missing cell, <NA> in the frame

WHITESPACE_IDS = [" C1 ", "\tC1\n", "\u3000C1\u2003", "\x1cC1\x1c", "  ", "", "\xa0"]
ids = st.one_of(
    st.sampled_from(["C1", "C2", "x" * 255, "x" * 256, " " + "x" * 255 + " ", *WHITESPACE_IDS]),
    st.text(max_size=4),
)
optional_ids = st.one_of(st.just(ABSENT), ids)
texts = st.one_of(st.just(ABSENT), st.sampled_from(["", "  ", " Acme ", "x"]), st.text(max_size=3))
currencies = st.one_of(
    st.sampled_from(
        ["USD", "usd", " eur ", "Eur", "US", "USDX", "u$d", "", "\x1cusd", "ßa", "\uff35SD"]
    ),
    st.text(max_size=4),
)
MONEY_EDGES = [0, 1, -1, 10_000, 6_000_000, 10**18 - 1, 10**18, -(10**18), 12_345]
units = st.one_of(st.sampled_from(MONEY_EDGES), st.integers(-(10**18) - 5, 10**18 + 5))
money = st.one_of(st.just(ABSENT), units)
terms = st.one_of(st.just(ABSENT), st.sampled_from([-1, 0, 30, 365, 366]), st.integers(-5, 400))
DAYS = [dt.date(2026, 2, 1), dt.date(2026, 2, 10), dt.date(1, 1, 1), dt.date(9999, 12, 31)]
dates = st.one_of(st.sampled_from(DAYS), st.dates())
optional_dates = st.one_of(st.just(ABSENT), dates)
stamps = st.one_of(
    st.just(ABSENT),
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=dt.datetime(9999, 12, 30),  # noqa: DTZ001
    ).map(lambda moment: moment.replace(microsecond=0, tzinfo=dt.UTC)),
)
flags = st.sampled_from([ABSENT, True, False])


def enum_values(*good: str) -> st.SearchStrategy[Any]:
    wrong = [g.upper() for g in good] + [f" {good[0]}", "", "fax"]
    return st.one_of(st.just(ABSENT), st.sampled_from([*good, *wrong]))


FIELD_VALUES: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "customer": {
        "id": ids,
        "name": texts,
        "currency": currencies,
        "credit_limit": money,
        "payment_terms_days": terms,
        "industry": texts,
        "invoice_delivery": enum_values("paper", "email", "portal", "edi"),
        "payment_method": enum_values("check", "ach", "card", "wire", "other"),
        "parent_id": st.one_of(optional_ids, st.just("C1")),  # C1: often its own parent
        "crm_account_id": optional_ids,
    },
    "invoice": {
        "id": ids,
        "number": texts,
        "customer_id": ids,
        "issue_date": optional_dates,
        "due_date": optional_dates,
        "currency": currencies,
        "total": money,
        "open_balance": money,
        "status": enum_values("open", "paid", "void"),
        "disputed": flags,
        "dispute_reason": texts,
        "last_modified": stamps,
    },
    "payment": {
        "id": ids,
        "customer_id": ids,
        "received_date": optional_dates,
        "currency": currencies,
        "amount": money,
        "method": enum_values("check", "ach", "card", "wire", "other"),
    },
    "credit_memo": {
        "id": ids,
        "customer_id": ids,
        "date": optional_dates,
        "currency": currencies,
        "amount": money,
        "reason": texts,
    },
    "application": {
        "document_id": ids,
        "invoice_id": ids,
        "amount": money,
        "applied_date": optional_dates,
    },
}


good_ids = st.sampled_from(["C1", "C2", " C3 ", "x" * 255])
good_units = st.integers(1, 10**18 - 1)
good_day = st.dates(dt.date(1, 1, 1), dt.date(9000, 1, 1))


@st.composite
def good_row(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A row every model accepts: the base each example then breaks in a few fields."""
    if kind == "customer":
        return {
            "id": draw(good_ids),
            "name": "Acme",
            "currency": draw(st.sampled_from(["USD", "eur"])),
            "parent_id": draw(st.sampled_from([ABSENT, "P1"])),
        }
    if kind == "invoice":
        issued = draw(good_day)
        total = draw(st.integers(0, 10**18 - 1))
        balance = draw(st.sampled_from([0, total, total // 2]))
        return {
            "id": draw(good_ids),
            "customer_id": draw(good_ids),
            "issue_date": issued,
            "due_date": issued + dt.timedelta(days=draw(st.integers(0, 90))),
            "currency": "USD",
            "total": total,
            "open_balance": balance,
            "status": draw(st.sampled_from(["paid" if balance == 0 else "open", "void", ABSENT])),
        }
    if kind == "application":
        return {"document_id": draw(good_ids), "invoice_id": draw(good_ids), "amount": 1}
    date = "received_date" if kind == "payment" else "date"
    return {
        "id": draw(good_ids),
        "customer_id": draw(good_ids),
        date: draw(good_day),
        "currency": "USD",
        "amount": draw(good_units),
    }


@st.composite
def rows_of(draw: st.DrawFn, kind: str) -> list[dict[str, Any]]:
    """Valid rows with 0 to 3 fields each set to a value around the rules' boundaries."""
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        row = dict.fromkeys(FIELD_VALUES[kind], ABSENT) | draw(good_row(kind))
        changed = draw(st.lists(st.sampled_from(list(FIELD_VALUES[kind])), max_size=3, unique=True))
        for name in changed:
            row[name] = draw(FIELD_VALUES[kind][name])
        rows.append(row)
    return rows


def model_input(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the model takes it: money as Decimal, absent fields left out."""
    return {
        name: Decimal(value).scaleb(-4) if name in MONEY_FIELDS else value
        for name, value in row.items()
        if value is not ABSENT
    }


def frame_of(kind: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for name, dtype in FIELDS[kind].items():
        if name == "document_type":
            data[name] = pd.Series(["payment"] * len(rows), dtype=dtype)
            continue
        values = [None if row.get(name, ABSENT) is ABSENT else row[name] for row in rows]
        data[name] = pd.Series(values, dtype=dtype)
    data[LOCATION] = pd.Series([f"t:{n}" for n in range(len(rows))], dtype="string")
    data[STREAM] = pd.Series(["t"] * len(rows), dtype="string")
    return pd.DataFrame(data)


def labels(kind: str) -> dict[str, str]:
    return {name: f"<{name}>" for name in FIELDS[kind]}


def verdicts(kind: str, rows: list[dict[str, Any]]) -> list[Record | ValidationError]:
    model = MODELS[kind]
    found: list[Record | ValidationError] = []
    for row in rows:
        try:
            found.append(model.model_validate(model_input(row)))
        except ValidationError as error:
            found.append(error)
    return found


def fields_named(error: ValidationError) -> set[str]:
    named = set()
    for detail in error.errors():
        loc = detail["loc"] or error_loc(detail)
        named.add(str(loc[0]))
    return named


def assert_same_verdicts(kind: str, rows: list[dict[str, Any]]) -> None:
    expected = verdicts(kind, rows)
    valid, entries = check_records(RecordFrame(kind, frame_of(kind, rows), labels(kind)))

    accepted = [int(str(location)[2:]) for location in valid[LOCATION]]
    assert accepted == [n for n, v in enumerate(expected) if not isinstance(v, ValidationError)]
    rejected = {int(e.location[2:]): e for e in entries}
    assert sorted(rejected) == [n for n, v in enumerate(expected) if isinstance(v, ValidationError)]
    for number, entry in rejected.items():
        error = expected[number]
        assert isinstance(error, ValidationError)
        assert entry.rule == "invalid_record"
        assert entry.record_type == ("payment_application" if kind == "application" else kind)
        # Every field the model names is named, by its label, in the one reason.
        for name in fields_named(error):
            assert f"<{name}>" in entry.reason, (name, entry.reason, error)
    # The valid rows are normalised as the model normalises them.
    for (_, row), record in zip(
        valid.iterrows(),
        [v for v in expected if not isinstance(v, ValidationError)],
        strict=True,
    ):
        for name in MODELS[kind].model_fields:
            if name == "applications":
                continue
            value = getattr(record, name)
            cell = row[name]
            if value is None:
                assert pd.isna(cell), (name, cell)
            elif name in MONEY_FIELDS:
                assert Decimal(int(cell)).scaleb(-4) == value
            elif isinstance(value, dt.datetime):
                assert cell.to_pydatetime() == value
            elif isinstance(value, dt.date):
                assert cell.date() == value
            else:
                assert cell == value, (name, cell, value)


@settings(max_examples=examples(300))
@given(rows_of("customer"))
def test_customer_rules_match_the_model(rows: list[dict[str, Any]]) -> None:
    assert_same_verdicts("customer", rows)


@settings(max_examples=examples(300))
@given(rows_of("invoice"))
def test_invoice_rules_match_the_model(rows: list[dict[str, Any]]) -> None:
    assert_same_verdicts("invoice", rows)


@settings(max_examples=examples(150))
@given(rows_of("payment"))
def test_payment_rules_match_the_model(rows: list[dict[str, Any]]) -> None:
    assert_same_verdicts("payment", rows)


@settings(max_examples=examples(150))
@given(rows_of("credit_memo"))
def test_credit_memo_rules_match_the_model(rows: list[dict[str, Any]]) -> None:
    assert_same_verdicts("credit_memo", rows)


@settings(max_examples=examples(150))
@given(rows_of("application"))
def test_application_rules_match_the_model(rows: list[dict[str, Any]]) -> None:
    assert_same_verdicts("application", rows)


@settings(max_examples=examples(200))
@given(
    amount=st.integers(1, 10**6),
    parts=st.lists(st.integers(1, 10**6), max_size=4),
)
def test_over_applied_documents_match_the_model(amount: int, parts: list[int]) -> None:
    """A payment's applications may not sum above its amount: the one rule that needs the
    applications frame beside the documents."""
    payment = {
        "id": "P1",
        "customer_id": "C1",
        "received_date": dt.date(2026, 3, 1),
        "currency": "USD",
        "amount": amount,
    }
    applications = [
        {"document_id": "P1", "invoice_id": f"I{n}", "amount": units}
        for n, units in enumerate(parts)
    ]
    try:
        Payment.model_validate(
            {
                **model_input(payment),
                "applications": [
                    {"invoice_id": a["invoice_id"], "amount": Decimal(a["amount"]).scaleb(-4)}
                    for a in applications
                ],
            }
        )
        expected_valid = True
    except ValidationError:
        expected_valid = False

    documents, _ = check_records(RecordFrame("payment", frame_of("payment", [payment])))
    applied, _ = check_records(RecordFrame("application", frame_of("application", applications)))
    valid, entries = check_over_applied(
        RecordFrame("payment", documents, {"amount": "column 'Amount'"}), applied
    )

    assert (len(valid) == 1) is expected_valid
    if not expected_valid:
        [entry] = entries
        assert entry.reason == (
            f"column 'Amount': applications total {format_money(sum(parts), 4)} exceeds the "
            f"amount {format_money(amount, 4)}"
        )


# --- the words of the reasons ---------------------------------------------------------------

INVOICE_LABELS = {
    "id": "column 'Invoice ID'",
    "due_date": "column 'Due Date'",
    "open_balance": "column 'Balance Due'",
    "status": "column 'Status'",
}


def invoice_row(**fields: Any) -> dict[str, Any]:
    return {
        "id": "I1",
        "customer_id": "C1",
        "issue_date": dt.date(2026, 2, 10),
        "due_date": dt.date(2026, 3, 10),
        "currency": "USD",
        "total": 5_000_000,
        "open_balance": 5_000_000,
        **fields,
    }


def reason(kind: str, row: dict[str, Any], labelled: dict[str, str]) -> str:
    _, entries = check_records(RecordFrame(kind, frame_of(kind, [row]), labelled))
    [entry] = entries
    return entry.reason


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"due_date": ABSENT}, "column 'Due Date' is empty"),
        ({"customer_id": ABSENT}, "customer_id is missing"),
        (
            {"due_date": dt.date(2026, 2, 1)},
            "column 'Due Date': due date 2026-02-01 is before issue date 2026-02-10",
        ),
        (
            {"open_balance": 6_000_000},
            "column 'Balance Due': open balance 600.00 exceeds invoice total 500.00",
        ),
        (
            {"status": "paid", "open_balance": 1_250},
            "column 'Status': status is paid but open balance is 0.125",
        ),
        (
            {"status": "Paid"},
            "column 'Status': Input should be 'open', 'paid' or 'void' (got 'Paid')",
        ),
        (
            {"id": "x" * 256},
            f"column 'Invoice ID': String should have at most 255 characters (got '{'x' * 256}')",
        ),
        ({"currency": "US"}, "currency: String should match pattern '^[A-Z]{3}$' (got 'US')"),
        ({"total": -10_000}, "total: Input should be greater than or equal to 0 (got -1.00)"),
        (
            {"total": 10**18, "open_balance": 0},
            "total: Decimal input should have no more than 14 digits before the decimal point "
            "(got 100000000000000.00)",
        ),
    ],
)
def test_reasons_say_what_the_model_says_naming_the_column(
    fields: dict[str, Any], expected: str
) -> None:
    assert reason("invoice", invoice_row(**fields), INVOICE_LABELS) == expected


def test_every_problem_of_a_row_is_in_its_one_reason() -> None:
    row = invoice_row(due_date=dt.date(2026, 2, 1), currency="us", status="maybe")

    assert reason("invoice", row, INVOICE_LABELS) == (
        "currency: String should match pattern '^[A-Z]{3}$' (got 'us'); "
        "column 'Status': Input should be 'open', 'paid' or 'void' (got 'maybe'); "
        "column 'Due Date': due date 2026-02-01 is before issue date 2026-02-10"
    )


def test_an_application_is_named_by_its_document_and_invoice() -> None:
    rows = [{"document_id": " P9 ", "invoice_id": "I1", "amount": 0}]
    _, [entry] = check_records(RecordFrame("application", frame_of("application", rows)))

    assert (entry.record_type, entry.record_id) == ("payment_application", "P9->I1")
    assert entry.reason == "amount: Input should be greater than 0 (got 0.00)"


def test_defaults_are_filled_as_the_model_fills_them() -> None:
    customers = [{"id": "C1", "name": " Acme ", "currency": "usd"}]
    [customer] = check_records(RecordFrame("customer", frame_of("customer", customers)))[0].to_dict(
        "records"
    )
    [invoice] = check_records(RecordFrame("invoice", frame_of("invoice", [invoice_row()])))[
        0
    ].to_dict("records")

    assert (customer["name"], customer["currency"], customer["payment_terms_days"]) == (
        "Acme",
        "USD",
        30,
    )
    assert (invoice["status"], invoice["disputed"]) == ("open", False)


@pytest.mark.parametrize(
    ("units", "text"),
    [
        (6_000_000, "600.00"),
        (1_250, "0.125"),
        (123_456, "12.3456"),
        (-15_000, "-1.50"),
        (0, "0.00"),
        (10**18 - 1, "99999999999999.9999"),
    ],
)
def test_money_reads_as_the_decimal_prints_with_two_decimals_at_least(
    units: int, text: str
) -> None:
    assert format_money(units, 4) == text


# --- the date window ----------------------------------------------------------------------


def test_the_default_window_runs_from_1990_to_a_year_after_the_as_of_date() -> None:
    window = DateWindow()

    assert window.bounds(dt.date(2026, 3, 31)) == (dt.date(1990, 1, 1), dt.date(2027, 3, 31))
    assert window.bounds(dt.date(2028, 2, 29)) == (dt.date(1990, 1, 1), dt.date(2029, 2, 28))
    # Without an as-of date: as far as the Ledger's datetime64[ns] reaches, never further.
    assert window.bounds(None) == (dt.date(1990, 1, 1), NS_LATEST)


def test_the_window_is_configurable_and_refuses_what_a_ledger_cannot_hold() -> None:
    assert DateWindow(earliest=dt.date(2000, 1, 1), latest=dt.date(2030, 12, 31)).bounds(
        dt.date(2026, 1, 1)
    ) == (dt.date(2000, 1, 1), dt.date(2030, 12, 31))
    assert DateWindow(years_after_as_of=2).bounds(dt.date(2026, 1, 1))[1] == dt.date(2028, 1, 1)
    with pytest.raises(ValidationError, match="earliest must be 1677-09-22 or later"):
        DateWindow(earliest=dt.date(1500, 1, 1))
    with pytest.raises(ValidationError, match="latest must be between"):
        DateWindow(latest=dt.date(9999, 1, 1))


@pytest.mark.parametrize(
    ("places", "units", "expected"),
    [
        (2, 10**18 - 1, None),  # 9999999999999999.99: numeric(18,2)'s largest
        (2, 10**18, "no more than 16 digits before the decimal point (got 10000000000000000.00)"),
        (3, 10**18 - 1, None),  # 999999999999999.999
        (3, 10**18, "no more than 15 digits before the decimal point (got 1000000000000000.00)"),
        (4, 10**18, "no more than 14 digits before the decimal point (got 100000000000000.00)"),
    ],
)
def test_the_digit_limit_is_what_the_frames_places_leave_as_the_model_says_at_them(
    places: int, units: int, expected: str | None
) -> None:
    """A frame's places set the digits before the point (18 - places), the model's verdict
    when validated at the same places (`MONEY_PLACES_CONTEXT`)."""
    row = invoice_row(total=units, open_balance=0)
    frame = RecordFrame("invoice", frame_of("invoice", [row]), places=places)
    valid, entries = check_records(frame)
    amount = Decimal(units).scaleb(-places)
    values = {**row, "total": amount, "open_balance": Decimal(0)}
    context = {MONEY_PLACES_CONTEXT: places}

    if expected is None:
        assert (len(valid), entries) == (1, [])
        assert Invoice.model_validate(values, context=context).total == amount
        return
    [entry] = entries
    assert entry.reason == f"total: Decimal input should have {expected}"
    with pytest.raises(ValidationError) as raised:
        Invoice.model_validate(values, context=context)
    assert (
        raised.value.errors()[0]["msg"] == f"Decimal input should have {expected.split(' (got')[0]}"
    )
