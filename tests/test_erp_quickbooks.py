"""QuickBooks Online source: paging, mapping (voids, credit memos applied through payments),
quarantine, errors, retries, token refresh and rotation, and incremental pulls."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from contract.harness import BarRecorder, bar_of
from contract.ledger import contract_ledger
from fakes.jsonmoney import dumps, number
from fakes.quickbooks import (
    PREFERENCES_URL,
    QUERY_URL,
    REALM,
    SERVER_TIME,
    TOKEN_URL,
    FakeQuickBooks,
    credit_applications,
    credit_memo,
    customer,
    invoice,
    meta,
    payment,
    ref,
    render,
)
from pydantic import ValidationError
from responses import matchers
from structlog.testing import capture_logs

from arsync.control import Basis, ControlBalance, ControlBalances
from arsync.errors import FatalError
from arsync.quarantine import QuarantineEntry
from arsync.records import (
    Application,
    CanonicalRecord,
    CreditMemo,
    Customer,
    DeliveryMode,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
)
from connector.erp import quickbooks
from connector.erp.base import Extent, Pulled, PulledItem
from connector.erp.http import ApiError, HttpSettings
from connector.erp.tokenstore import RefreshTokenStore
from jobs.load import RECORD_TYPES, pull_into

D = Decimal
ENVIRON = {"QBO_CLIENT_ID": "ci", "QBO_CLIENT_SECRET": "cs", "QBO_REFRESH_TOKEN": "rt-1"}
FAST = HttpSettings(requests_per_minute=600_000, initial_wait_seconds=0)


def settings(**changes: Any) -> quickbooks.Settings:
    values: dict[str, Any] = {
        "kind": "quickbooks",
        "realm_id": REALM,
        "client_id": "${QBO_CLIENT_ID}",
        "client_secret": "${QBO_CLIENT_SECRET}",
        "refresh_token": "${QBO_REFRESH_TOKEN}",
        "http": FAST,
    }
    return quickbooks.Settings.model_validate({**values, **changes})


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as requests_mock:
        yield requests_mock


def source(sleeps: list[float] | None = None, **changes: Any) -> quickbooks.QuickBooksSource:
    sleep = sleeps.append if sleeps is not None else lambda _: None
    client = quickbooks.make_client(settings(**changes), ENVIRON, sleep=sleep)
    return quickbooks.QuickBooksSource(settings(**changes), client)


def pulled(items: list[PulledItem]) -> dict[str, CanonicalRecord]:
    return {item.record.id: item.record for item in items if isinstance(item, Pulled)}


def rejected(items: list[PulledItem]) -> list[QuarantineEntry]:
    return [item for item in items if isinstance(item, QuarantineEntry)]


def the(records: dict[str, CanonicalRecord], key: str, kind: type[Any]) -> Any:
    record = records[key]
    assert isinstance(record, kind)
    return record


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def company(*records: CanonicalRecord) -> FakeQuickBooks:
    base = [Customer(id="1", name="Amy's Bird Sanctuary", currency="USD")]
    return render([*base, *records])


# --------------------------------------------------------------------------- paging


def token(mock: responses.RequestsMock, access: str = "at-1", refresh: str = "rt-1") -> None:
    body = {
        "token_type": "bearer",
        "access_token": access,
        "expires_in": 3600,
        "refresh_token": refresh,
        "x_refresh_token_expires_in": 8726400,
    }
    mock.post(TOKEN_URL, json=body)


def answer(
    mock: responses.RequestsMock, statement: str, entity: str, items: list[Any], start: int = 1
) -> None:
    """One documented query answer: `QueryResponse` holds the page, or nothing when empty."""
    body: dict[str, Any] = {"QueryResponse": {}, "time": SERVER_TIME}
    if items:
        body["QueryResponse"] = {entity: items, "startPosition": start, "maxResults": len(items)}
    mock.get(
        QUERY_URL,
        body=dumps(body),
        content_type="application/json",
        match=[matchers.query_param_matcher({"query": statement, "minorversion": "75"})],
    )


def counted(mock: responses.RequestsMock, entity: str, where: str | None, total: int) -> None:
    """The documented answer to `SELECT COUNT(*)`: `QueryResponse.totalCount`."""
    condition = f" WHERE {where}" if where else ""
    body = {"QueryResponse": {"totalCount": total}, "time": SERVER_TIME}
    statement = f"SELECT COUNT(*) FROM {entity}{condition}"  # noqa: S608
    mock.get(
        QUERY_URL,
        body=dumps(body),
        content_type="application/json",
        match=[matchers.query_param_matcher({"query": statement, "minorversion": "75"})],
    )


def select(entity: str, where: str | None, start: int, size: int) -> str:
    """A statement as the source words it (QuickBooks' query language, not SQL)."""
    condition = f" WHERE {where}" if where else ""
    return f"SELECT * FROM {entity}{condition} STARTPOSITION {start} MAXRESULTS {size}"  # noqa: S608


def test_pages_through_each_query_with_startposition_and_maxresults(
    mock: responses.RequestsMock,
) -> None:
    token(mock)
    active = "Active IN (true, false)"
    answer(mock, select("Term", active, 1, 2), "Term", [])
    answer(mock, select("PaymentMethod", active, 1, 2), "PaymentMethod", [])
    first = [
        {
            "Id": "1",
            "SyncToken": "0",
            "DisplayName": "Amy's Bird Sanctuary",
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            "PreferredDeliveryMethod": "Print",
            "Active": True,
            "Job": False,
            "Balance": number(D("239.00")),
            "domain": "QBO",
            "sparse": False,
            "MetaData": meta(),
        },
        {
            "Id": "2",
            "SyncToken": "0",
            "DisplayName": "Bill's Windsurf Shop",
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            "PreferredDeliveryMethod": "Email",
            "Active": True,
            "Job": False,
            "Balance": number(D("85.00")),
            "domain": "QBO",
            "sparse": False,
            "MetaData": meta(),
        },
    ]
    second = [
        {
            "Id": "3",
            "SyncToken": "0",
            "DisplayName": "Bill's Windsurf Shop:Kite repair",
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            "ParentRef": {"value": "2"},
            "Job": True,
            "Active": True,
            "Balance": number(0),
            "domain": "QBO",
            "sparse": False,
            "MetaData": meta(),
        }
    ]
    answer(mock, select("Customer", active, 1, 2), "Customer", first)
    answer(mock, select("Customer", active, 3, 2), "Customer", second, start=3)
    counted(mock, "Customer", active, 3)  # a full first page: the count is asked for
    for entity in ("Invoice", "Payment", "CreditMemo"):
        answer(mock, select(entity, None, 1, 2), entity, [])
    pulling = source(page_size=2)

    items = list(pulling.pull())

    assert pulled(items) == {
        "1": Customer(
            id="1",
            name="Amy's Bird Sanctuary",
            currency="USD",
            invoice_delivery=DeliveryMode.PAPER,
        ),
        "2": Customer(
            id="2",
            name="Bill's Windsurf Shop",
            currency="USD",
            invoice_delivery=DeliveryMode.EMAIL,
        ),
        "3": Customer(
            id="3", name="Bill's Windsurf Shop:Kite repair", currency="USD", parent_id="2"
        ),
    }
    assert [i.location for i in items if isinstance(i, Pulled)] == [
        "quickbooks:Customer/1",
        "quickbooks:Customer/2",
        "quickbooks:Customer/3",
    ]
    assert pulling.extent() == Extent(3, "records")
    asked = [parse_qs(urlsplit(call.request.url).query)["query"][0] for call in mock.calls[1:]]
    assert [q for q in asked if "COUNT" in q] == [
        "SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)"
    ]
    for call in mock.calls[1:]:
        assert call.request.headers["Authorization"] == "Bearer at-1"
        assert call.request.headers["Accept"] == "application/json"
        assert "%20" in call.request.url  # a statement, not a form: spaces are not '+'
        assert "+" not in call.request.url


# --------------------------------------------------------------------------- mapping


def test_maps_terms_methods_statuses_and_a_voided_invoice(mock: responses.RequestsMock) -> None:
    fake = render(
        [
            Customer(id="1", name="Amy", currency="USD", payment_terms_days=45),
            Customer(
                id="2",
                name="Amy West",
                currency="USD",
                parent_id="1",
                payment_method=PaymentMethod.WIRE,
            ),
            Invoice(
                id="130",
                number="1037",
                customer_id="1",
                issue_date=day("2026-03-01"),
                due_date=day("2026-04-15"),
                currency="USD",
                total=D("362.07"),
                open_balance=D("62.07"),
            ),
            Invoice(
                id="131",
                customer_id="2",
                issue_date=day("2026-03-02"),
                due_date=day("2026-04-01"),
                currency="USD",
                total=D("100.00"),
                open_balance=D("0"),
                status=InvoiceStatus.PAID,
            ),
            Invoice(
                id="132",
                number="1039",
                customer_id="2",
                issue_date=day("2026-03-03"),
                due_date=day("2026-04-02"),
                currency="USD",
                total=D("80.00"),
                open_balance=D("0"),
                status=InvoiceStatus.VOID,
            ),
            Payment(
                id="140",
                customer_id="1",
                currency="USD",
                amount=D("500.00"),
                received_date=day("2026-03-20"),
                method=PaymentMethod.CARD,
                applications=(
                    Application(
                        invoice_id="130", amount=D("300.00"), applied_date=day("2026-03-20")
                    ),
                ),
            ),
        ]
    )
    fake.entities["Customer"][1]["CurrencyRef"] = ref("usd")
    fake.register(mock)

    items = list(source().pull())
    records = pulled(items)

    assert rejected(items) == []
    assert records["1"] == Customer(id="1", name="Amy", currency="USD", payment_terms_days=45)
    assert records["2"] == Customer(
        id="2", name="Amy West", currency="USD", parent_id="1", payment_method=PaymentMethod.WIRE
    )
    assert the(records, "130", Invoice).status is InvoiceStatus.OPEN
    assert the(records, "131", Invoice).status is InvoiceStatus.PAID
    voided = records["132"]
    assert isinstance(voided, Invoice)
    assert (voided.status, voided.total, voided.open_balance, voided.number) == (
        InvoiceStatus.VOID,
        D(0),
        D(0),
        "1039",
    )
    paid = records["140"]
    assert isinstance(paid, Payment)
    assert (paid.amount, paid.unapplied, paid.method) == (D("500.00"), D("200.00"), "card")
    assert paid.applications == (
        Application(invoice_id="130", amount=D("300.00"), applied_date=day("2026-03-20")),
    )


def test_a_credit_memo_is_applied_through_a_payment_and_the_receipt_splits_cash_and_credit(
    mock: responses.RequestsMock,
) -> None:
    memo = CreditMemo(
        id="73",
        customer_id="1",
        currency="USD",
        amount=D("150.00"),
        date=day("2026-05-01"),
    )
    fake = company(
        Invoice(
            id="201",
            customer_id="1",
            issue_date=day("2026-04-01"),
            due_date=day("2026-05-01"),
            currency="USD",
            total=D("100.00"),
            open_balance=D("0"),
            status=InvoiceStatus.PAID,
        ),
        Invoice(
            id="202",
            customer_id="1",
            issue_date=day("2026-04-02"),
            due_date=day("2026-05-02"),
            currency="USD",
            total=D("300.00"),
            open_balance=D("0"),
            status=InvoiceStatus.PAID,
        ),
        memo,
    )
    # One receipt: both invoices settled with 120 of the credit and 280 in cash.
    fake.add(
        "Payment",
        {
            "Id": "210",
            "SyncToken": "0",
            "TxnDate": "2026-05-10",
            "CustomerRef": ref("1", "Amy's Bird Sanctuary"),
            "CurrencyRef": ref("USD", "United States Dollar"),
            "TotalAmt": number(D("280.00")),
            "UnappliedAmt": number(0),
            "Line": [
                {
                    "Amount": number(D("100.00")),
                    "LinkedTxn": [{"TxnId": "201", "TxnType": "Invoice"}],
                },
                {
                    "Amount": number(D("300.00")),
                    "LinkedTxn": [{"TxnId": "202", "TxnType": "Invoice"}],
                },
                {
                    "Amount": number(D("120.00")),
                    "LinkedTxn": [{"TxnId": "73", "TxnType": "CreditMemo"}],
                },
            ],
            "MetaData": meta(),
        },
    )
    fake.register(mock)

    records = pulled(list(source().pull()))

    receipt = records["210"]
    assert isinstance(receipt, Payment)
    assert receipt.amount == D("280.00")
    assert receipt.applications == (
        Application(invoice_id="202", amount=D("280.00"), applied_date=day("2026-05-10")),
    )
    credit = records["73"]
    assert isinstance(credit, CreditMemo)
    assert credit.applications == (
        Application(invoice_id="201", amount=D("100.00"), applied_date=day("2026-05-10")),
        Application(invoice_id="202", amount=D("20.00"), applied_date=day("2026-05-10")),
    )
    assert credit.unapplied == D("30.00")
    assert not any(key.startswith("73-apply") for key in records)  # credit-only: no payment


def test_records_without_currency_take_the_companys_home_currency_read_once(
    mock: responses.RequestsMock,
) -> None:
    fake = company()
    fake.home_currency = "CAD"
    for entity in fake.entities["Customer"]:
        del entity["CurrencyRef"]
    fake.add(
        "Customer", {**customer(Customer(id="2", name="B", currency="EUR")), "CurrencyRef": None}
    )
    fake.register(mock)

    records = pulled(list(source().pull()))

    assert [the(records, key, Customer).currency for key in records] == ["CAD", "CAD"]
    reads = [c.request.url for c in mock.calls if PREFERENCES_URL in c.request.url]
    assert reads == [f"{PREFERENCES_URL}?minorversion=75"]


# --------------------------------------------------------------------------- quarantine


def test_quarantines_what_it_cannot_map_naming_the_entity(mock: responses.RequestsMock) -> None:
    fake = company()
    fake.add("Invoice", {**invoice(_invoice("130")), "DueDate": None})
    fake.add("Invoice", {**invoice(_invoice("131")), "CurrencyRef": ref("US Dollar")})
    fake.add(
        "Payment",
        {
            **payment(_payment("150", D("40.00"))),
            "Line": [
                {
                    "Amount": number(D("40.00")),
                    "LinkedTxn": [{"TxnId": "9", "TxnType": "JournalEntry"}],
                }
            ],
        },
    )
    fake.add(
        "Payment",
        {
            **payment(_payment("151", D("10.00"))),
            "Line": [
                {
                    "Amount": number(D("10.00")),
                    "LinkedTxn": [{"TxnId": "131", "TxnType": "Invoice"}],
                },
                {
                    "Amount": number(D("90.00")),
                    "LinkedTxn": [{"TxnId": "7", "TxnType": "CreditMemo"}],
                },
            ],
        },
    )
    fake.register(mock)

    items = list(source().pull())

    entries = {(e.location, e.rule): e.reason for e in rejected(items)}
    assert entries[("quickbooks:Invoice/130", "invalid_record")].startswith("DueDate is empty")
    assert "CurrencyRef" in entries[("quickbooks:Invoice/131", "invalid_record")]
    assert "JournalEntry 9" in entries[("quickbooks:Payment/150", "unsupported_link")]
    assert "CreditMemo 7" in entries[("quickbooks:Payment/151", "invalid_record")]
    records = pulled(items)
    assert set(records) == {"1", "150"}
    assert the(records, "150", Payment).unapplied == D("40.00")
    entry = next(e for e in rejected(items) if e.location == "quickbooks:Invoice/130")
    assert (entry.record_type, entry.record_id) == ("invoice", "130")


def _invoice(key: str) -> Invoice:
    return Invoice(
        id=key,
        customer_id="1",
        issue_date=day("2026-04-01"),
        due_date=day("2026-05-01"),
        currency="USD",
        total=D("10.00"),
        open_balance=D("10.00"),
    )


def _payment(key: str, amount: Decimal) -> Payment:
    return Payment(
        id=key, customer_id="1", currency="USD", amount=amount, received_date=day("2026-05-03")
    )


# --------------------------------------------------------------------------- errors


def test_a_refused_query_stops_the_run_with_quickbooks_words(mock: responses.RequestsMock) -> None:
    token(mock)
    fault = {
        "Fault": {
            "Error": [
                {
                    "Message": "Error parsing query",
                    "Detail": 'QueryParserError: Encountered " <INTEGER> "1 "" at line 1',
                    "code": "4000",
                }
            ],
            "type": "ValidationFault",
        },
        "time": SERVER_TIME,
    }
    mock.get(QUERY_URL, status=400, json=fault)

    with pytest.raises(ApiError, match=r"HTTP 400 .*QueryParserError") as raised:
        list(source().pull())

    assert isinstance(raised.value, FatalError)
    assert raised.value.status == 400


def test_a_429_is_retried_after_the_time_it_asks(mock: responses.RequestsMock) -> None:
    fake = company()
    throttled = {
        "Fault": {
            "Error": [
                {
                    "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                    "Detail": "The request limit was reached.",
                    "code": "3001",
                }
            ],
            "type": "SERVICE",
        },
        "time": SERVER_TIME,
    }
    mock.get(QUERY_URL, status=429, json=throttled, headers={"Retry-After": "7"})
    fake.register(mock)
    sleeps: list[float] = []

    records = pulled(list(source(sleeps).pull()))

    assert list(records) == ["1"]
    assert 7.0 in sleeps


def test_a_401_refreshes_the_token_once_and_keeps_the_rotated_one(
    mock: responses.RequestsMock, tmp_path: Path
) -> None:
    fake = company()
    fake.rotate_to = "rt-2"
    expired = {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired: ...",
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        },
        "time": SERVER_TIME,
    }
    mock.get(QUERY_URL, status=401, json=expired)
    fake.register(mock)
    kept = tmp_path / "secrets" / "qbo-refresh-token"
    seen: list[str] = []

    client = quickbooks.make_client(
        settings(refresh_token_file=kept), ENVIRON, sleep=lambda _: None, on_rotate=seen.append
    )
    records = pulled(list(quickbooks.QuickBooksSource(settings(), client).pull()))

    assert list(records) == ["1"]
    tokens = [c for c in mock.calls if c.request.url == TOKEN_URL]
    assert len(tokens) == 2
    assert parse_qs(str(tokens[1].request.body))["refresh_token"] == ["rt-2"]
    assert kept.read_text(encoding="utf-8") == "rt-2"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert seen == ["rt-2"]
    # The next run starts from the file, not from the variable's stale token.
    store = RefreshTokenStore("${QBO_REFRESH_TOKEN}", kept, "QuickBooks Online")
    assert store.load(ENVIRON) == "rt-2"


def test_secrets_are_environment_references_and_a_missing_one_is_named() -> None:
    with pytest.raises(ValidationError, match="secrets come from the environment"):
        settings(client_secret="hunter2")
    with pytest.raises(FatalError, match=r"QBO_REFRESH_TOKEN is not set .*QuickBooks Online"):
        quickbooks.build(settings(), environ={"QBO_CLIENT_ID": "ci", "QBO_CLIENT_SECRET": "cs"})


# --------------------------------------------------------------------------- incremental


def test_a_second_pull_from_the_cursors_reads_only_what_changed(
    mock: responses.RequestsMock,
) -> None:
    old_memo = CreditMemo(
        id="72", customer_id="1", currency="USD", amount=D("50.00"), date=day("2026-04-01")
    )
    new_memo = old_memo.model_copy(update={"id": "73", "date": day("2026-05-01")})
    fake = company(_invoice("130"), _invoice("131"), old_memo, new_memo)
    fake.entities["Invoice"][0]["MetaData"] = meta(_at("2026-06-01T09:00:00"))
    fake.entities["CreditMemo"][0]["MetaData"] = meta(_at("2026-04-01T10:00:00"))
    fake.entities["CreditMemo"][1]["MetaData"] = meta(_at("2026-05-01T10:00:00"))
    fake.register(mock)
    qbo = source()

    first = list(qbo.pull())
    cursors = qbo.cursors()

    assert set(pulled(first)) == {"1", "130", "131", "72", "73"}
    assert cursors == {
        "Customer": "2026-06-30T16:00:00+00:00",
        "Invoice": "2026-06-30T16:00:00+00:00",
        "CreditMemo": "2026-05-01T17:00:00+00:00",
    }
    assert qbo.data_as_of() == dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.UTC)

    # Later: invoice 131 is paid off with part of the older, unchanged credit memo 72, and a
    # new invoice 132 is raised.
    later = _at("2026-07-01T08:30:00")
    fake.entities["Invoice"][1].update(Balance=number(D("0.00")), MetaData=meta(later))
    application = Application(invoice_id="131", amount=D("10.00"), applied_date=later.date())
    applied = credit_applications(old_memo.model_copy(update={"applications": (application,)}))
    fake.add("Payment", {**applied[0], "MetaData": meta(later)})
    fake.add("Invoice", {**invoice(_invoice("132")), "MetaData": meta(later)})
    fake.statements.clear()
    since = {**cursors, "Payment": "2026-06-30T16:00:00.123456+00:00"}  # capped at a run start

    second = list(qbo.pull(since))

    records = pulled(second)
    # 131, 132 and memo 72 changed; customer 1 and memo 73 sit on their stream's cursor second
    # (`>=`, so nothing committed later in that second is missed) and are read again; 130 is
    # open, so it is verified again.
    assert set(records) == {"131", "132", "72", "1", "73", "130"}
    assert the(records, "131", Invoice).status is InvoiceStatus.PAID
    assert the(records, "72", CreditMemo).applications == (application,)
    sent = fake.statements
    assert (
        "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2026-06-30T16:00:00+00:00' "
        "STARTPOSITION 1 MAXRESULTS 1000"
    ) in sent
    assert "SELECT * FROM Invoice WHERE Balance > '0' STARTPOSITION 1 MAXRESULTS 1000" in sent
    assert (
        "SELECT * FROM Customer WHERE Active IN (true, false) AND "
        "MetaData.LastUpdatedTime >= '2026-06-30T16:00:00+00:00' STARTPOSITION 1 MAXRESULTS 1000"
    ) in sent
    assert (  # the capped cursor, floored to QuickBooks' whole seconds
        "SELECT * FROM Payment WHERE MetaData.LastUpdatedTime >= '2026-06-30T16:00:00+00:00' "
        "STARTPOSITION 1 MAXRESULTS 1000"
    ) in sent
    # Memo 72 did not change itself: it is fetched by id, and every payment is read for its
    # applications (the unchanged ones are not yielded).
    assert "SELECT * FROM CreditMemo WHERE Id IN ('72') STARTPOSITION 1 MAXRESULTS 1000" in sent
    assert "SELECT * FROM Payment STARTPOSITION 1 MAXRESULTS 1000" in sent
    assert qbo.cursors() == {
        "Customer": "2026-06-30T16:00:00+00:00",
        "Invoice": "2026-07-01T15:30:00+00:00",
        "Payment": "2026-07-01T15:30:00+00:00",
        "CreditMemo": "2026-05-01T17:00:00+00:00",
    }


def test_a_partial_payment_that_does_not_move_the_stamp_is_seen_next_run(
    mock: responses.RequestsMock,
) -> None:
    """A payment lowers an invoice's Balance; Intuit does not document that it moves the
    invoice's LastUpdatedTime, so the incremental run reads the open invoices again (and the
    one paid off by id, through its payment), over the records kept from the first run."""
    owed = _invoice("130").model_copy(update={"total": D("1250.50"), "open_balance": D("1250.50")})
    small = _invoice("131").model_copy(update={"total": D("400"), "open_balance": D("400")})
    settled = _invoice("129").model_copy(update={"open_balance": D("0")})
    fake = company(owed, small, settled)
    for entity, stamp in zip(fake.entities["Invoice"], ("06-01", "06-01", "06-02"), strict=True):
        entity["MetaData"] = meta(_at(f"2026-{stamp}T09:00:00"))  # 129 holds the cursor
    fake.register(mock)
    qbo = source()
    currencies = frozenset({"USD"})
    first = pull_into(qbo, currencies, BarRecorder())
    kept = [
        (RECORD_TYPES[type(p.record)], p.record.model_dump(mode="json"), p.location)
        for p in first.pulled
    ]

    # 1,000.00 of 130 paid, 400.00 of 131 (paid off): the payments are new, the invoices'
    # MetaData stays as it was.
    later = _at("2026-07-01T08:30:00")
    fake.entities["Invoice"][0]["Balance"] = number(D("250.50"))
    fake.entities["Invoice"][1]["Balance"] = number(D("0"))
    paid = [
        Application(invoice_id="130", amount=D("1000.00")),
        Application(invoice_id="131", amount=D("400.00")),
    ]
    for n, application in enumerate(paid, start=1):
        cash = Payment(
            id=f"P{n}",
            customer_id="1",
            currency="USD",
            amount=application.amount,
            received_date=later.date(),
            applications=(application,),
        )
        fake.add("Payment", {**payment(cash), "MetaData": meta(later)})
    fake.statements.clear()
    bar = BarRecorder()

    second = pull_into(qbo, currencies, bar, since=qbo.cursors(), kept=kept)

    invoices = second.builder.build(as_of=dt.date(2026, 7, 1)).invoices
    balances = dict(zip(invoices["invoice_id"], invoices["open_minor"], strict=True))
    assert balances == {"129": 0, "130": 25050, "131": 0}
    assert second.incremental
    invoice_reads = [s for s in fake.statements if s.startswith("SELECT * FROM Invoice")]
    assert invoice_reads == [  # two requests more than the changes alone
        "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2026-06-02T16:00:00+00:00' "
        "STARTPOSITION 1 MAXRESULTS 1000",
        "SELECT * FROM Invoice WHERE Balance > '0' STARTPOSITION 1 MAXRESULTS 1000",
        "SELECT * FROM Invoice WHERE Id IN ('131') STARTPOSITION 1 MAXRESULTS 1000",
    ]
    # customer 1 and invoice 129 sit on their cursor second; 130 open; 131 by id; 2 payments
    assert bar.seen[-1] == (1 + 1 + 1 + 1 + 2, 1 + 1 + 1 + 1 + 2)
    yielded = [p.record.id for p in second.pulled if isinstance(p.record, Invoice)]
    assert yielded == ["129", "130", "131"]  # each once


# --------------------------------------------------------------------------- progress


def test_the_bar_knows_each_streams_total_from_its_first_page_or_a_count(
    mock: responses.RequestsMock,
) -> None:
    fake = render(contract_ledger())
    fake.register(mock)
    streams = ("Customer", "Invoice", "Payment", "CreditMemo")
    entities = {name: len(fake.entities.get(name, [])) for name in streams}

    bar = bar_of(source(page_size=4))

    assert bar.unit == "records"
    assert bar.seen[0][0] == entities["Customer"]  # known before the second page is read
    assert bar.seen[-1] == (sum(entities.values()), sum(entities.values()))
    counts = [statement for statement in fake.statements if "COUNT" in statement]
    # Only a stream whose first page is full needs the count; each once, with the pull's filter.
    active = " WHERE Active IN (true, false)"
    assert counts == [
        f"SELECT COUNT(*) FROM {name}{active if name == 'Customer' else ''}"  # noqa: S608
        for name in streams
        if entities[name] >= 4
    ]
    assert len(counts) >= 2


def test_an_incremental_bar_counts_only_the_changes_and_ends_at_its_total(
    mock: responses.RequestsMock,
) -> None:
    fake = company(_invoice("130"), _invoice("131"), _invoice("132"))
    old = _at("2026-06-01T09:00:00")
    for entity in fake.entities["Invoice"][:2]:
        entity["MetaData"] = meta(old)
    fake.register(mock)
    cursor = "2026-06-15T00:00:00+00:00"

    bar = bar_of(source(page_size=1), since={"Customer": cursor, "Invoice": cursor})

    # Customer 1 and invoice 132 changed after the cursors (the fake stamps them later), and
    # the three open invoices are read again: each read is counted, in the total too.
    assert bar.seen[-1] == (1 + 1 + 3, 1 + 1 + 3)
    assert (
        "SELECT COUNT(*) FROM Invoice WHERE MetaData.LastUpdatedTime >= '2026-06-15T00:00:00+00:00'"
    ) in fake.statements
    assert "SELECT COUNT(*) FROM Invoice WHERE Balance > '0'" in fake.statements


def test_a_cursor_that_is_not_a_time_is_refused(mock: responses.RequestsMock) -> None:
    company().register(mock)

    with pytest.raises(FatalError, match=r"Invoice cursor .* not an ISO 8601 time"):
        list(source().pull({"Invoice": "' OR 1=1 --"}))


def _at(text: str) -> dt.datetime:
    """A QuickBooks time in the company's zone (Pacific, as Intuit's samples are)."""
    zone = dt.timezone(dt.timedelta(hours=-7))
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone)


def test_the_fake_writes_money_as_quickbooks_does() -> None:
    assert json.loads(dumps({"TotalAmt": number(D("1200.00"))}), parse_float=Decimal) == {
        "TotalAmt": D("1200.00")
    }
    assert credit_memo(
        CreditMemo(id="1", customer_id="1", currency="USD", amount=D("5"), date=day("2026-01-01"))
    )["RemainingCredit"] == number(D("5"))


# --------------------------------------------------------------------------- control balances


def _owing(key: str, name: str, balance: Decimal, **extra: Any) -> dict[str, Any]:
    """A Customer as Intuit's query answer shows it (its sample: Amy's Bird Sanctuary)."""
    return {
        "Id": key,
        "SyncToken": "5",
        "DisplayName": name,
        "Job": False,
        "Active": True,
        "Balance": number(balance),
        "BalanceWithJobs": number(balance),
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        "domain": "QBO",
        "sparse": False,
        "MetaData": meta(),
        **extra,
    }


def test_control_balances_are_each_customers_own_balance_owed_or_owing_inactive_ones_too(
    mock: responses.RequestsMock,
) -> None:
    token(mock)
    owed = "Active IN (true, false) AND Balance > '0'"
    owing = "Active IN (true, false) AND Balance < '0'"
    first = [
        _owing("1", "Amy's Bird Sanctuary", D("274.00")),
        # A parent: its own balance, not the one with its jobs (arsync keeps the job apart).
        _owing("2", "Bill's Windsurf Shop", D("85.00"), BalanceWithJobs=number(D("285.00"))),
    ]
    second = [
        _owing(
            "3",
            "Bill's Windsurf Shop:Kite repair",
            D("200.00"),
            Job=True,
            ParentRef={"value": "2"},
            Level=1,
            Active=False,
        )
    ]
    credit = [
        _owing(
            "4",
            "Cool Cars",
            D("-12.35"),
            CurrencyRef={"value": "EUR", "name": "Euro"},
        )
    ]
    answer(mock, select("Customer", owed, 1, 2), "Customer", first)
    answer(mock, select("Customer", owed, 3, 2), "Customer", second, start=3)
    answer(mock, select("Customer", owing, 1, 2), "Customer", credit)
    reading = source(page_size=2)

    with capture_logs() as logs:
        control = reading.control_balances()

    assert control == ControlBalances(
        "QuickBooks Online Customer.Balance",
        Basis.NET,
        (
            ControlBalance("1", "USD", D("274.00")),
            ControlBalance("2", "USD", D("85.00")),
            ControlBalance("3", "USD", D("200.00")),
            ControlBalance("4", "EUR", D("-12.35")),
        ),
        every_customer=True,
    )
    asked = [parse_qs(urlsplit(c.request.url).query)["query"][0] for c in mock.calls[1:]]
    assert asked == [
        "SELECT * FROM Customer WHERE Active IN (true, false) AND Balance > '0'"
        " STARTPOSITION 1 MAXRESULTS 2",
        "SELECT * FROM Customer WHERE Active IN (true, false) AND Balance > '0'"
        " STARTPOSITION 3 MAXRESULTS 2",
        "SELECT * FROM Customer WHERE Active IN (true, false) AND Balance < '0'"
        " STARTPOSITION 1 MAXRESULTS 2",
    ]
    read = [e for e in logs if e["event"] == "erp.control_balances_read"]
    assert read == [
        {
            "event": "erp.control_balances_read",
            "erp": "quickbooks",
            "customers": 4,
            "calls": 3,
            "complete": True,
            "log_level": "info",
        }
    ]


def test_control_balances_after_a_pull_take_the_home_currency_read_by_the_pull(
    mock: responses.RequestsMock,
) -> None:
    fake = company()
    fake.home_currency = "CAD"
    fake.entities["Customer"][0].update(Balance=number(D("1200.10")))
    del fake.entities["Customer"][0]["CurrencyRef"]
    fake.add("Customer", _owing("2", "Paid Up", D("0")))
    fake.add("Customer", _owing("3", "In credit", D("-0.01"), Active=False))
    fake.register(mock)
    reading = source()
    list(reading.pull())
    fake.statements.clear()

    control = reading.control_balances()

    assert control.balances == (
        ControlBalance("1", "CAD", D("1200.10")),
        ControlBalance("3", "USD", D("-0.01")),
    )
    assert control.every_customer is True  # "Paid Up" owes nothing: not listed, and 0
    assert fake.statements == [
        "SELECT * FROM Customer WHERE Active IN (true, false) AND Balance > '0'"
        " STARTPOSITION 1 MAXRESULTS 1000",
        "SELECT * FROM Customer WHERE Active IN (true, false) AND Balance < '0'"
        " STARTPOSITION 1 MAXRESULTS 1000",
    ]
    assert sum(PREFERENCES_URL in c.request.url for c in mock.calls) == 1  # by the pull


def test_a_customer_answered_without_its_balance_is_left_out_never_taken_as_zero(
    mock: responses.RequestsMock,
) -> None:
    token(mock)
    sparse = {"Id": "7", "DisplayName": "Sparse", "sparse": True, "MetaData": meta()}
    answer(
        mock,
        select("Customer", "Active IN (true, false) AND Balance > '0'", 1, 1000),
        "Customer",
        [sparse, _owing("8", "Read", D("5.50"))],
    )
    answer(
        mock,
        select("Customer", "Active IN (true, false) AND Balance < '0'", 1, 1000),
        "Customer",
        [],
    )

    with capture_logs() as logs:
        control = source().control_balances()

    assert control.balances == (ControlBalance("8", "USD", D("5.50")),)
    assert control.every_customer is False  # customer 7 is not at 0: the list is not whole
    skipped = [e for e in logs if e["event"] == "erp.control_balance_skipped"]
    assert skipped == [
        {
            "event": "erp.control_balance_skipped",
            "erp": "quickbooks",
            "record": "quickbooks:Customer/7",
            "reason": "Balance is empty",
            "log_level": "debug",
        }
    ]
