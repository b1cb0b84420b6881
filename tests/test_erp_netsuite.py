"""The NetSuite source against SuiteQL answers in the documented shapes: paging, errors, retries,
token-based-auth signatures, quarantine, incremental pulls and the 100,000-row cap."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest
import responses
from contract.harness import BarRecorder, bar_of
from fakes.netsuite import ROOT, SUITEQL, FakeNetSuite
from responses import matchers
from structlog.testing import capture_logs

from arsync.control import Basis, ControlBalance, ControlBalances
from arsync.errors import FatalError
from arsync.quarantine import QuarantineEntry
from arsync.records import CreditMemo, Customer, Invoice, InvoiceStatus, Payment, PaymentMethod
from connector.erp import netsuite
from connector.erp.base import Pulled, Source
from connector.erp.http import ApiError, HttpSettings
from jobs.load import RECORD_TYPES, pull_into

D = Decimal
ENVIRON = {
    "NS_CONSUMER_KEY": "consumer-key",
    "NS_CONSUMER_SECRET": "consumer-secret",
    "NS_TOKEN_ID": "token-id",
    "NS_TOKEN_SECRET": "token-secret",
}
T0 = "2026-06-30T12:00:00"
T1 = "2026-07-01T08:30:00"


def settings(**changes: Any) -> netsuite.Settings:
    values: dict[str, Any] = {
        "kind": "netsuite",
        "account_id": "1234567_SB1",
        "consumer_key": "${NS_CONSUMER_KEY}",
        "consumer_secret": "${NS_CONSUMER_SECRET}",
        "token_id": "${NS_TOKEN_ID}",
        "token_secret": "${NS_TOKEN_SECRET}",
        "http": HttpSettings(max_attempts=3),
    }
    return netsuite.Settings(**(values | changes))


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as requests_mock:
        yield requests_mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


def source(
    sleeps: list[float] | None = None, clock: Callable[[], float] = time.time, **changes: Any
) -> Source:
    waits = sleeps if sleeps is not None else []
    return netsuite.build(settings(**changes), environ=ENVIRON, sleep=waits.append, clock=clock)


def pull(src: Source, since: dict[str, str] | None = None) -> tuple[list[Any], list[Any]]:
    records, rejected = [], []
    for item in src.pull(since):
        if isinstance(item, QuarantineEntry):
            rejected.append(item)
        else:
            records.append(item.record)
    return records, rejected


def page(items: list[dict[str, Any]], offset: int, total: int, has_more: bool) -> dict[str, Any]:
    """One SuiteQL answer exactly as NetSuite shapes it."""
    return {
        "links": [
            {"rel": "next", "href": f"{SUITEQL}?limit=2&offset={offset + 2}"},
            {"rel": "self", "href": f"{SUITEQL}?limit=2&offset={offset}"},
        ]
        if has_more
        else [{"rel": "self", "href": f"{SUITEQL}?limit=2&offset={offset}"}],
        "count": len(items),
        "hasMore": has_more,
        "items": [{"links": [], **item} for item in items],
        "offset": offset,
        "totalResults": total,
    }


def customer(number: int, **extra: str) -> dict[str, str]:
    row = {
        "id": str(number),
        "entityid": f"CUST{number}",
        "companyname": f"Customer {number}",
        "currency": "USD",
        "daysuntilnetdue": "30",
        "lastmodified": T0,
    }
    return row | extra


def invoice(number: int, **extra: str) -> dict[str, str]:
    row = {
        "id": str(number),
        "type": "CustInvc",
        "tranid": f"INV{number}",
        "entity": "1",
        "trandate": "2026-06-01",
        "duedate": "2026-07-01",
        "currency": "USD",
        "foreigntotal": "100.00",
        "foreignamountunpaid": "100.00",
        "status": "CustInvc:A",
        "voided": "F",
        "lastmodified": T0,
    }
    return row | extra


def payment(number: int, **extra: str) -> dict[str, str]:
    row = {
        "id": str(number),
        "type": "CustPymt",
        "tranid": f"PYMT{number}",
        "entity": "1",
        "trandate": "2026-06-20",
        "currency": "USD",
        "foreigntotal": "150.00",
        "status": "CustPymt:C",
        "voided": "F",
        "paymentmethod": "Check",
        "lastmodified": T0,
    }
    return row | extra


def link(invoice_id: int, doc_id: int, amount: str, kind: str = "CustPymt") -> dict[str, str]:
    return {
        "previousdoc": str(invoice_id),
        "previoustype": "CustInvc",
        "nextdoc": str(doc_id),
        "nexttype": kind,
        "linktype": "Payment",
        "foreignamount": amount,
    }


# --------------------------------------------------------------------------- settings


def test_the_account_id_gives_the_host_and_the_realm() -> None:
    sandbox = settings()

    assert sandbox.api_root == ROOT
    assert sandbox.realm == "1234567_SB1"
    assert settings(base_url="http://localhost:8080/").api_root == "http://localhost:8080"


def test_a_missing_secret_names_its_variable_and_netsuite() -> None:
    with pytest.raises(FatalError, match=r"NS_TOKEN_SECRET is not set .*NetSuite"):
        netsuite.build(
            settings(), environ={k: v for k, v in ENVIRON.items() if k != "NS_TOKEN_SECRET"}
        )


def test_secrets_must_be_environment_references() -> None:
    with pytest.raises(ValueError, match="environment"):
        settings(token_secret="plain-text")


# --------------------------------------------------------------------------- paging


def test_pages_are_followed_by_offset_until_has_more_is_false(
    mock: responses.RequestsMock,
) -> None:
    for offset, items, more in ((0, [customer(1), customer(2)], True), (2, [customer(3)], False)):
        mock.add(
            responses.POST,
            SUITEQL,
            json=page(items, offset, total=3, has_more=more),
            match=[matchers.query_param_matcher({"limit": "2", "offset": str(offset)})],
        )
    fake_links = FakeNetSuite()
    fake_links.register(mock)  # the transactions query: an empty account

    records, rejected = pull(source(page_size=2))

    assert rejected == []
    assert [r.id for r in records] == ["1", "2", "3"]
    first = mock.calls[0].request
    assert first.headers["Prefer"] in {"transient", b"transient"}
    assert json.loads(first.body)["q"].startswith("SELECT c.id, c.entityid")
    assert "ORDER BY c.id" in json.loads(first.body)["q"]


def test_customers_map_names_currency_terms_limit_and_parent(mock: responses.RequestsMock) -> None:
    FakeNetSuite(
        customers=[
            customer(1, creditlimit="50000.5"),
            customer(2, companyname="", firstname="Ada", lastname="Lovelace", parent="1"),
            {"links": [], "id": "3", "entityid": "CUST3", "currency": "eur"},
        ]
    ).register(mock)

    records, _ = pull(source())

    assert records == [
        Customer(id="1", name="Customer 1", currency="USD", credit_limit=D("50000.5")),
        Customer(id="2", name="Ada Lovelace", currency="USD", parent_id="1"),
        Customer(id="3", name="CUST3", currency="EUR"),
    ]


def test_a_long_query_goes_on_in_id_windows_past_the_row_cap(
    mock: responses.RequestsMock,
) -> None:
    fake = FakeNetSuite(
        transactions=[invoice(n) for n in range(1, 8)] + [payment(20), payment(21), payment(22)],
        links=[link(n, 20 + n % 3, "10.00") for n in range(1, 8)],
        max_rows=4,
    )
    fake.register(mock)

    records, rejected = pull(source(page_size=2, max_rows_per_query=4))

    assert rejected == []
    invoices = [r.id for r in records if isinstance(r, Invoice)]
    assert invoices == [str(n) for n in range(1, 8)]
    applied = {r.id: r.applied for r in records if isinstance(r, Payment)}
    assert applied == {"20": D("20.00"), "21": D("30.00"), "22": D("20.00")}
    windows = [q for q in fake.queries if "FROM transaction t" in q]
    assert any("t.id >= 4" in q for q in windows)
    link_windows = [q for q in fake.queries if "NextTransactionLineLink" in q]
    # the window stopped inside payment 21's links: they are all read again in the next one
    assert any("l.nextdoc >= 21" in q for q in link_windows)


def test_the_bar_takes_each_streams_total_from_the_first_windows_total_results(
    mock: responses.RequestsMock,
) -> None:
    pending = invoice(30, status="CustInvc:D")  # pending approval: read last, and skipped
    fake = FakeNetSuite(
        customers=[customer(1), customer(2)],
        transactions=[invoice(n) for n in range(1, 8)] + [payment(20), payment(21), pending],
        links=[link(n, 20 + n % 2, "10.00") for n in range(1, 8)],
        max_rows=4,
    )
    fake.register(mock)
    posts = len(mock.calls)

    bar = bar_of(source(page_size=2, max_rows_per_query=4))

    # The later windows' totalResults count only their own rows (and rows read again): unused.
    assert bar.seen[0][0] == 2  # the customers, known from their first page
    assert {total for total, _ in bar.seen[1:]} == {2 + 10}
    assert bar.seen[-1] == (12, 12)  # the skipped invoice counted as read
    assert len(fake.queries) == len(mock.calls) - posts  # no request but the pages


def test_an_incremental_bar_counts_only_what_changed(mock: responses.RequestsMock) -> None:
    fake = FakeNetSuite(
        customers=[customer(1)],
        transactions=[invoice(1), invoice(2, lastmodified=T1), invoice(3, lastmodified=T1)],
    )
    fake.register(mock)

    bar = bar_of(source(), since={"customers": T0, "transactions": T0})

    # no customer changed; invoices 2 and 3 did, and all three are open: read again
    assert bar.seen[-1] == (2 + 3, 2 + 3)


# --------------------------------------------------------------------------- errors and retries


def test_a_refused_query_is_fatal_with_netsuites_detail(mock: responses.RequestsMock) -> None:
    mock.add(
        responses.POST,
        SUITEQL,
        status=400,
        json={
            "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
            "title": "Bad Request",
            "status": 400,
            "o:errorDetails": [
                {
                    "detail": "Invalid search query. Detailed unprocessed description follows. "
                    "Search error occurred: Field 'daysuntilnetdue' for record 'term' was not "
                    "found.",
                    "o:errorCode": "INVALID_PARAMETER",
                }
            ],
        },
    )

    with pytest.raises(ApiError, match=r"HTTP 400 .*daysuntilnetdue") as raised:
        pull(source())
    assert isinstance(raised.value, FatalError)
    assert "?" not in str(raised.value).split(":")[1]  # the query string stays out of messages


def test_429_waits_as_told_then_succeeds(mock: responses.RequestsMock, sleeps: list[float]) -> None:
    mock.add(
        responses.POST,
        SUITEQL,
        status=429,
        headers={"Retry-After": "7"},
        json={
            "type": "https://www.rfc-editor.org/rfc/rfc6585.html#section-4",
            "title": "Too Many Requests",
            "status": 429,
            "o:errorDetails": [
                {"detail": "Concurrency limit exceeded.", "o:errorCode": "CONCURRENCY_LIMIT"}
            ],
        },
    )
    FakeNetSuite(customers=[customer(1)]).register(mock)

    records, _ = pull(source(sleeps))

    assert [r.id for r in records] == ["1"]
    assert sleeps == [7.0]


def test_a_401_is_tried_once_more_with_a_fresh_signature(mock: responses.RequestsMock) -> None:
    mock.add(
        responses.POST,
        SUITEQL,
        status=401,
        json={
            "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2",
            "title": "Unauthorized",
            "status": 401,
            "o:errorDetails": [
                {"detail": "Invalid login attempt.", "o:errorCode": "INVALID_LOGIN_ATTEMPT"}
            ],
        },
    )
    FakeNetSuite().register(mock)

    pull(source())

    first, second = (mock.calls[0].request, mock.calls[1].request)
    assert _oauth(first)["oauth_nonce"] != _oauth(second)["oauth_nonce"]


def test_a_401_twice_is_fatal(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, SUITEQL, status=401, json={"title": "Unauthorized", "status": 401})

    with pytest.raises(FatalError, match="HTTP 401"):
        pull(source())
    assert len(mock.calls) == 2


def test_requests_are_signed_hmac_sha256_with_the_account_realm(
    mock: responses.RequestsMock,
) -> None:
    """The signature recomputed here by hand (RFC 5849 section 3.4) matches the header."""
    FakeNetSuite().register(mock)

    pull(source())

    request = mock.calls[0].request
    params = _oauth(request)
    assert params["realm"] == "1234567_SB1"
    assert params["oauth_signature_method"] == "HMAC-SHA256"
    assert params["oauth_consumer_key"] == "consumer-key"
    assert params["oauth_token"] == "token-id"
    assert params["oauth_signature"] == _expected_signature(request, params)


def _oauth(request: Any) -> dict[str, str]:
    header = request.headers["Authorization"]
    header = header.decode() if isinstance(header, bytes) else header
    assert header.startswith("OAuth ")
    pairs = re.findall(r'(\w+)="([^"]*)"', header)
    return {key: unquote(value) for key, value in pairs}


def _enc(value: str) -> str:
    return quote(value, safe="~")


def _expected_signature(request: Any, params: dict[str, str]) -> str:
    url = urlsplit(request.url)
    pairs = [(k, v) for k, v in params.items() if k not in {"realm", "oauth_signature"}]
    pairs += parse_qsl(url.query)
    normalized = "&".join(
        f"{_enc(k)}={_enc(v)}" for k, v in sorted((_enc(k), _enc(v)) for k, v in pairs)
    )
    base = "&".join(
        [request.method.upper(), _enc(f"{url.scheme}://{url.netloc}{url.path}"), _enc(normalized)]
    )
    key = f"{_enc(ENVIRON['NS_CONSUMER_SECRET'])}&{_enc(ENVIRON['NS_TOKEN_SECRET'])}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# --------------------------------------------------------------------------- mapping


def test_invoice_statuses_and_balances(mock: responses.RequestsMock) -> None:
    FakeNetSuite(
        transactions=[
            invoice(1),
            invoice(2, status="B", foreignamountunpaid="0"),
            invoice(3, status="CustInvc:V", voided="T", foreigntotal="0"),
            invoice(4, status="CustInvc:D"),  # pending approval: not receivables yet
            {**invoice(5, status="CustInvc:B")} | {"foreignamountunpaid": "0"},
        ]
    ).register(mock)

    records, rejected = pull(source())

    assert rejected == []
    status = {r.id: (r.status, r.open_balance) for r in records}
    assert status == {
        "1": (InvoiceStatus.OPEN, D("100.00")),
        "2": (InvoiceStatus.PAID, D("0")),
        "3": (InvoiceStatus.VOID, D("0")),
        "5": (InvoiceStatus.PAID, D("0")),
    }
    first = records[0]
    assert first.number == "INV1"
    assert first.last_modified == dt.datetime.fromisoformat(T0)  # the account's time, no offset


def test_invoices_that_cannot_be_mapped_are_quarantined_by_record(
    mock: responses.RequestsMock,
) -> None:
    no_due = invoice(130)
    del no_due["duedate"]  # SuiteQL leaves NULL columns out
    no_currency = invoice(131)
    del no_currency["currency"]
    FakeNetSuite(
        transactions=[
            no_due,
            no_currency,
            invoice(132, currency="US$"),
            invoice(133, status="CustInvc:Z"),
            invoice(134),
        ]
    ).register(mock)

    records, rejected = pull(source())

    assert [r.id for r in records] == ["134"]
    assert [(q.record_type, q.record_id, q.location, q.rule) for q in rejected] == [
        ("invoice", "130", "netsuite:CustInvc/130", "invalid_record"),
        ("invoice", "131", "netsuite:CustInvc/131", "invalid_record"),
        ("invoice", "132", "netsuite:CustInvc/132", "invalid_record"),
        ("invoice", "133", "netsuite:CustInvc/133", "unknown_status"),
    ]
    assert rejected[0].reason == "duedate is empty"
    assert rejected[1].reason == "currency.symbol is empty"
    assert "currency.symbol" in rejected[2].reason


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("foreignamountunpaid", "n/a", "foreignamountunpaid is not a number (got 'n/a')"),
        ("foreignamountunpaid", "", "foreignamountunpaid is empty"),
        ("foreigntotal", "1.234,56", "foreigntotal is not a number (got '1.234,56')"),
    ],
)
def test_an_invoice_amount_that_is_not_a_number_is_quarantined_naming_the_column(
    mock: responses.RequestsMock, column: str, value: str, reason: str
) -> None:
    """`money()` has one meaning: a bad amount is refused in the column's name, never read as
    missing; the other rows of the page still arrive."""
    FakeNetSuite(transactions=[invoice(1), invoice(2, **{column: value}), invoice(3)]).register(
        mock
    )

    records, rejected = pull(source())

    assert [r.id for r in records] == ["1", "3"]
    assert [(q.record_id, q.location, q.rule, q.reason) for q in rejected] == [
        ("2", "netsuite:CustInvc/2", "invalid_record", reason)
    ]


def test_a_paid_invoice_may_leave_its_unpaid_amount_null_but_not_unreadable(
    mock: responses.RequestsMock,
) -> None:
    paid = invoice(1, status="CustInvc:B")
    del paid["foreignamountunpaid"]  # SuiteQL leaves NULL columns out
    FakeNetSuite(
        transactions=[paid, invoice(2, status="CustInvc:B", foreignamountunpaid="-")]
    ).register(mock)

    records, rejected = pull(source())

    assert [(r.id, r.open_balance) for r in records] == [("1", D(0))]
    assert [(q.record_id, q.reason) for q in rejected] == [
        ("2", "foreignamountunpaid is not a number (got '-')")
    ]


def test_a_credit_limit_that_is_not_a_number_is_quarantined_not_dropped(
    mock: responses.RequestsMock,
) -> None:
    FakeNetSuite(customers=[customer(1, creditlimit="lots"), customer(2)]).register(mock)

    records, rejected = pull(source())

    assert [r.id for r in records] == ["2"]
    assert [(q.record_type, q.record_id, q.reason) for q in rejected] == [
        ("customer", "1", "creditlimit is not a number (got 'lots')")
    ]


def test_a_link_row_that_cannot_be_read_quarantines_its_document_only(
    mock: responses.RequestsMock,
) -> None:
    """A `NextTransactionLineLink` row whose amount is not a number refuses the document it
    applies (what that document applied is not known), named by the link and at its location;
    the other documents keep their links, and every row read is accounted for."""
    memo = {**payment(30), "type": "CustCred", "foreigntotal": "-40.00", "status": "CustCred:A"}
    FakeNetSuite(
        customers=[customer(1)],
        transactions=[invoice(1), invoice(2), payment(10), payment(11), memo],
        links=[
            link(1, 10, "50.00"),
            link(2, 10, "oops"),
            link(1, 11, "30.00"),
            link(2, 30, "15.00", "CustCred"),
        ],
    ).register(mock)

    loaded = pull_into(source(), frozenset({"USD"}), BarRecorder())

    entries = list(loaded.builder.quarantine)
    assert [(q.record_type, q.record_id, q.location, q.rule, q.reason) for q in entries] == [
        (
            "payment",
            "10",
            "netsuite:NextTransactionLineLink/10->2",
            "invalid_record",
            "NextTransactionLineLink 10->2: foreignamount is not a number (got 'oops')",
        )
    ]
    pulled = {p.record.id: p.record for p in loaded.pulled if not isinstance(p.record, Customer)}
    assert set(pulled) == {"1", "2", "11", "30"}
    assert [(a.invoice_id, a.amount) for a in pulled["11"].applications] == [("1", D("30.00"))]
    assert [(a.invoice_id, a.amount) for a in pulled["30"].applications] == [("2", D("15.00"))]
    loaded.builder.build(as_of=dt.date(2026, 7, 1))
    accounting = loaded.accounting()
    assert (accounting["payment"].read, accounting["payment"].quarantined) == (2, 1)
    assert accounting["payment_application"].ledger == 1
    assert not any(count.unaccounted for count in accounting.values())


def test_payments_and_credit_memos_carry_their_applications(
    mock: responses.RequestsMock,
) -> None:
    FakeNetSuite(
        transactions=[
            invoice(1),
            invoice(2, foreigntotal="80.00", foreignamountunpaid="0", status="CustInvc:B"),
            payment(10, foreigntotal="150.00", paymentmethod="ACH Debit"),
            payment(11, voided="T"),  # voided: no money moved
            payment(12, status="CustPymt:A"),  # unapproved card payment
            {
                **payment(20),
                "type": "CustCred",
                "foreigntotal": "-40.00",
                "status": "CustCred:A",
                "memo": "damaged goods",
            },
        ],
        links=[
            link(1, 10, "50.00"),
            link(2, 10, "60.00"),
            link(2, 10, "20.00"),  # two line links of one application: summed
            # a credit memo link in the other orientation, and the same one mirrored: once
            {**link(1, 20, "15.00", "CustCred")},
            {
                "previousdoc": "20",
                "previoustype": "CustCred",
                "nextdoc": "1",
                "nexttype": "CustInvc",
                "linktype": "Payment",
                "foreignamount": "-15.00",
            },
        ],
    ).register(mock)

    items = list(source().pull())

    pulled = {item.record.id: item for item in items if isinstance(item, Pulled)}
    assert set(pulled) == {"1", "2", "10", "20"}
    paid = pulled["10"].record
    assert isinstance(paid, Payment)
    assert paid.method is PaymentMethod.ACH
    assert paid.amount == D("150.00")
    assert {(a.invoice_id, a.amount, a.applied_date) for a in paid.applications} == {
        ("1", D("50.00"), dt.date(2026, 6, 20)),
        ("2", D("80.00"), dt.date(2026, 6, 20)),
    }
    assert paid.unapplied == D("20.00")
    assert pulled["10"].part_locations == (
        "netsuite:NextTransactionLineLink/10->1",
        "netsuite:NextTransactionLineLink/10->2",
    )
    memo = pulled["20"].record
    assert isinstance(memo, CreditMemo)
    assert (memo.amount, memo.reason, memo.applied) == (D("40.00"), "damaged goods", D("15.00"))


def test_an_over_applied_payment_is_quarantined(mock: responses.RequestsMock) -> None:
    FakeNetSuite(
        transactions=[invoice(1), payment(10, foreigntotal="30.00")],
        links=[link(1, 10, "50.00")],
    ).register(mock)

    _, rejected = pull(source())

    (entry,) = rejected
    assert (entry.record_type, entry.record_id, entry.location) == (
        "payment",
        "10",
        "netsuite:CustPymt/10",
    )
    assert "exceeds the amount" in entry.reason


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("Check", PaymentMethod.CHECK),
        ("Cheque", PaymentMethod.CHECK),
        ("ACH", PaymentMethod.ACH),
        ("SEPA Credit Transfer", PaymentMethod.ACH),
        ("Wire Transfer", PaymentMethod.WIRE),
        ("Visa", PaymentMethod.CARD),
        ("American Express", PaymentMethod.CARD),
        ("Cash", PaymentMethod.OTHER),
        (None, None),
    ],
)
def test_payment_method_names_map_to_the_usual_methods(
    name: str | None, method: PaymentMethod | None
) -> None:
    # NetSuite's (and Business Central's) mapping of a method's name, shared.
    from connector.erp.payment_methods import optional_method  # noqa: PLC0415 - unit under test

    assert optional_method(name) is method


# --------------------------------------------------------------------------- incremental


def test_a_second_pull_asks_only_for_what_changed_since_the_cursors(
    mock: responses.RequestsMock,
) -> None:
    fake = FakeNetSuite(
        customers=[customer(1)],
        transactions=[invoice(1), invoice(2), payment(10)],
        links=[link(1, 10, "100.00")],
    )
    fake.register(mock)
    src = source(clock=lambda: 1_782_820_800.0)

    first, _ = pull(src)
    cursors = src.cursors()

    assert len(first) == 4
    assert cursors == {"customers": T0, "transactions": T0}
    assert src.data_as_of() == dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)

    fake.transactions[1] = invoice(2, foreignamountunpaid="40.00", lastmodified=T1)
    fake.queries.clear()
    second, _ = pull(src, since=cursors)

    # 2 changed; 1 is still open, so it is verified again
    assert [(r.id, r.open_balance) for r in second] == [("2", D("40.00")), ("1", D("100.00"))]
    since = "TO_TIMESTAMP('2026-06-30T12:00:00', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
    customers_q, transactions_q, open_q, *rest = fake.queries
    assert f"c.lastmodifieddate > {since}" in customers_q
    assert f"t.lastmodifieddate > {since}" in transactions_q
    assert "WHERE t.type = 'CustInvc' AND t.foreignamountunpaid <> 0 ORDER BY t.id" in open_q
    assert rest == []  # no payment changed: no application query at all
    assert src.cursors() == {"customers": T0, "transactions": T1}


def test_a_changed_payment_is_pulled_with_all_its_applications(
    mock: responses.RequestsMock,
) -> None:
    fake = FakeNetSuite(
        transactions=[invoice(1), invoice(2), payment(10, lastmodified=T1), payment(11)],
        links=[link(1, 10, "50.00"), link(2, 10, "25.00"), link(2, 11, "10.00")],
    )
    fake.register(mock)

    records, _ = pull(source(), since={"transactions": T0, "customers": T0})

    *still_open, paid = records
    assert [r.id for r in still_open] == ["1", "2"]  # open: verified again
    assert paid.id == "10"
    assert paid.applied == D("75.00")
    links_q = fake.queries[-1]
    assert "d.lastmodifieddate > TO_TIMESTAMP('2026-06-30T12:00:00'" in links_q


def test_a_partial_payment_that_does_not_move_the_stamp_is_seen_next_run(
    mock: responses.RequestsMock,
) -> None:
    """Applying a payment lowers an invoice's `foreignamountunpaid`; Oracle does not document
    that it moves the invoice's `lastmodifieddate`, so the incremental run reads the open
    invoices again (and the one paid off by id, through its payment's application), over the
    records kept from the first."""
    fake = FakeNetSuite(
        customers=[customer(1)],
        transactions=[
            invoice(1, foreigntotal="1250.50", foreignamountunpaid="1250.50"),
            invoice(2, foreigntotal="400.00", foreignamountunpaid="400.00"),
        ],
    )
    fake.register(mock)
    src = source(clock=lambda: 1_782_820_800.0)
    currencies = frozenset({"USD"})
    first = pull_into(src, currencies, BarRecorder())
    kept = [
        (RECORD_TYPES[type(p.record)], p.record.model_dump(mode="json"), p.location)
        for p in first.pulled
    ]

    # 1,000.00 of invoice 1 paid, invoice 2 paid off: the payments are new, the invoices'
    # lastmodifieddate stays as it was.
    fake.transactions[0]["foreignamountunpaid"] = "250.50"
    fake.transactions[1].update(foreignamountunpaid="0.00", status="CustInvc:B")
    fake.transactions += [
        payment(10, foreigntotal="1000.00", trandate="2026-07-01", lastmodified=T1),
        payment(11, foreigntotal="400.00", trandate="2026-07-01", lastmodified=T1),
    ]
    fake.links += [link(1, 10, "1000.00"), link(2, 11, "400.00")]
    fake.queries.clear()
    bar = BarRecorder()

    second = pull_into(src, currencies, bar, since=src.cursors(), kept=kept)

    invoices = second.builder.build(as_of=dt.date(2026, 7, 1)).invoices
    balances = dict(zip(invoices["invoice_id"], invoices["open_minor"], strict=True))
    assert balances == {"1": 25050, "2": 0}
    assert second.incremental
    customers_q, changed_q, open_q, links_q, by_id_q = fake.queries  # two more than changes
    assert "FROM customer c" in customers_q
    assert "t.lastmodifieddate > TO_TIMESTAMP('2026-06-30T12:00:00'" in changed_q
    assert "WHERE t.type = 'CustInvc' AND t.foreignamountunpaid <> 0 ORDER BY t.id" in open_q
    assert "FROM NextTransactionLineLink l" in links_q
    assert "WHERE t.type = 'CustInvc' AND t.id IN (2) ORDER BY t.id" in by_id_q
    # no customer changed; the two payments; invoice 1 open; invoice 2 by id
    assert bar.seen[-1] == (2 + 1 + 1, 2 + 1 + 1)
    yielded = [p.record.id for p in second.pulled if isinstance(p.record, Invoice)]
    assert yielded == ["1", "2"]  # each once


def test_a_cursor_that_is_not_a_timestamp_is_refused(mock: responses.RequestsMock) -> None:
    with pytest.raises(FatalError, match="not an ISO 8601 timestamp"):
        pull(source(), since={"customers": "1' OR '1'='1"})


# --------------------------------------------------------------------------- control balances

CONTROL_QUERY = (
    "SELECT c.id, c.balancesearch, cur.symbol AS currency, cur.isbasecurrency "
    "FROM customer c LEFT JOIN currency cur ON cur.id = c.currency ORDER BY c.id"
)


def _owing(number: int, balance: str, currency: str = "USD", base: str = "T") -> dict[str, str]:
    """A row of the control query, as SuiteQL answers it: strings, NULL columns left out."""
    return {
        "id": str(number),
        "balancesearch": balance,
        "currency": currency,
        "isbasecurrency": base,
    }


def test_control_balances_are_each_customers_balancesearch_zero_too_in_pages(
    mock: responses.RequestsMock,
) -> None:
    rows = (
        (0, [_owing(107, "1250.00"), _owing(108, "-80.10")], True),
        (2, [_owing(109, "0")], False),
    )
    for offset, items, more in rows:
        mock.add(
            responses.POST,
            SUITEQL,
            json=page(items, offset, total=3, has_more=more),
            match=[
                matchers.query_param_matcher({"limit": "2", "offset": str(offset)}),
                matchers.json_params_matcher({"q": CONTROL_QUERY}),
            ],
        )

    with capture_logs() as logs:
        control = source(page_size=2).control_balances()

    assert control == ControlBalances(
        "NetSuite customer.balancesearch",
        Basis.NET,
        (
            ControlBalance("107", "USD", D("1250.00")),
            ControlBalance("108", "USD", D("-80.10")),
            ControlBalance("109", "USD", D("0")),
        ),
        every_customer=False,
    )
    assert all(c.request.headers["Prefer"] in {"transient", b"transient"} for c in mock.calls)
    read = [e for e in logs if e["event"] == "erp.control_balances_read"]
    assert [(e["erp"], e["customers"], e["calls"], e["skipped"]) for e in read] == [
        ("netsuite", 3, 2, 0)
    ]


def test_a_customer_in_a_foreign_currency_or_without_a_balance_is_left_out(
    mock: responses.RequestsMock,
) -> None:
    fake = FakeNetSuite(
        customers=[
            customer(1) | {"balancesearch": "300.00", "isbasecurrency": "T"},
            customer(2, currency="EUR") | {"balancesearch": "90.00", "isbasecurrency": "F"},
            customer(3) | {"balancesearch": "0.00", "isbasecurrency": "T"},
            {"links": [], "id": "4", "balancesearch": "12.00"},  # no currency
        ]
    )
    fake.register(mock)
    reading = source()
    pull(reading)
    fake.queries.clear()

    with capture_logs() as logs:
        control = reading.control_balances()

    assert control.balances == (
        ControlBalance("1", "USD", D("300.00")),
        ControlBalance("3", "USD", D("0.00")),
    )
    assert control.every_customer is False  # 2 and 4 are not at 0
    assert fake.queries == [CONTROL_QUERY]
    skipped = {
        e["record"]: e["reason"] for e in logs if e["event"] == "erp.control_balance_skipped"
    }
    assert skipped == {
        "customer/2": "the customer's currency EUR is not a base currency",
        "customer/4": "no currency",
    }
    assert all(e["log_level"] == "debug" for e in logs if e["event"].endswith("_skipped"))
