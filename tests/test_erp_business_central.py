"""The Business Central source against API v2.0 answers in the documented shapes: paging by
`@odata.nextLink`, errors, 429s, token refresh, quarantine, incremental `$filter`s, and the
mapping of statuses, currencies, payment journal lines and credit memos."""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from contract.harness import BarRecorder, bar_of
from fakes.business_central import (
    COMPANY,
    COMPANY_ROOT,
    EMPTY_GUID,
    STAMP,
    TENANT,
    TOKEN_URL,
    FakeBusinessCentral,
)
from pydantic import ValidationError
from structlog.testing import capture_logs

import connector.erp.http
from arsync.control import Basis, ControlBalance, ControlBalances
from arsync.errors import FatalError
from arsync.quarantine import QuarantineEntry
from arsync.records import CreditMemo, Customer, Invoice, InvoiceStatus, Payment, PaymentMethod
from connector.erp import business_central
from connector.erp.base import Extent, Pulled, Source
from connector.erp.business_central.mapping import terms_days
from connector.erp.http import ApiError, HttpSettings
from jobs.load import RECORD_TYPES, pull_into

D = Decimal
CLIENT_ID = "3e1f4f0a-7c55-4b8e-9b9e-0f3f1f6f2a10"
LATER = "2026-07-01T08:30:00.125Z"
C1 = "f3a5738a-44e3-ea11-bb43-000d3a2feca1"
C2 = "a1b2c3d4-0000-4000-8000-000000000002"
I1 = "9e0f5c9c-44e3-ea11-bb43-000d3a2feca1"
I2 = "9e0f5c9c-44e3-ea11-bb43-000d3a2feca2"


def settings(**changes: Any) -> business_central.Settings:
    values: dict[str, Any] = {
        "kind": "business_central",
        "tenant_id": TENANT,
        "company_id": COMPANY,
        "client_id": CLIENT_ID,
        "client_secret": "${BC_CLIENT_SECRET}",
        "http": HttpSettings(max_attempts=3),
    }
    return business_central.Settings(**(values | changes))


def source(
    sleeps: list[float] | None = None, clock: Callable[[], float] = time.time, **changes: Any
) -> Source:
    waits = sleeps if sleeps is not None else []
    return business_central.build(
        settings(**changes),
        environ={"BC_CLIENT_SECRET": "s3cret"},
        sleep=waits.append,
        clock=clock,
    )


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as requests_mock:
        yield requests_mock


def pull(src: Source, since: dict[str, str] | None = None) -> tuple[list[Any], list[Any]]:
    records, rejected = [], []
    for item in src.pull(since):
        if isinstance(item, QuarantineEntry):
            rejected.append(item)
        else:
            records.append(item.record)
    return records, rejected


def company(**collections: list[dict[str, Any]]) -> FakeBusinessCentral:
    """A company in USD with the given collections; the reference tables empty by default."""
    fake = FakeBusinessCentral()
    fake.collections = {
        "generalLedgerSetup": [{"id": "gl", "localCurrencyCode": "USD"}],
        "paymentTerms": [],
        "paymentMethods": [],
        "currencyExchangeRates": [],
        "customerPaymentJournals": [],
        "customers": [],
        "salesInvoices": [],
        "salesCreditMemos": [],
    }
    fake.collections.update(collections)
    return fake


def customer(entity_id: str = C1, **extra: Any) -> dict[str, Any]:
    entity = {
        "id": entity_id,
        "number": "10000",
        "displayName": "Adatum Corporation",
        "type": "Company",
        "balanceDue": 0,
        "creditLimit": 0,
        "currencyId": EMPTY_GUID,
        "currencyCode": "",
        "paymentTermsId": EMPTY_GUID,
        "shipmentMethodId": EMPTY_GUID,
        "paymentMethodId": EMPTY_GUID,
        "blocked": " ",
        "lastModifiedDateTime": STAMP,
    }
    return entity | extra


def sales_invoice(entity_id: str = I1, **extra: Any) -> dict[str, Any]:
    entity = {
        "id": entity_id,
        "number": "PS-INV103001",
        "externalDocumentNumber": "",
        "invoiceDate": "2026-06-01",
        "postingDate": "2026-06-01",
        "dueDate": "2026-07-01",
        "customerId": C1,
        "customerNumber": "10000",
        "customerName": "Adatum Corporation",
        "billToCustomerId": C1,
        "billToCustomerNumber": "10000",
        "currencyId": EMPTY_GUID,
        "currencyCode": "",
        "remainingAmount": 1250.5,
        "totalAmountExcludingTax": 1000,
        "totalTaxAmount": 250.5,
        "totalAmountIncludingTax": 1250.5,
        "status": "Open",
        "lastModifiedDateTime": STAMP,
    }
    return entity | extra


def credit_memo(entity_id: str, **extra: Any) -> dict[str, Any]:
    entity = {
        "id": entity_id,
        "number": "PS-CR104001",
        "creditMemoDate": "2026-06-10",
        "postingDate": "2026-06-10",
        "dueDate": "2026-06-10",
        "customerId": C1,
        "billToCustomerId": C1,
        "currencyCode": "",
        "totalAmountIncludingTax": 100,
        "status": "Open",
        "invoiceId": EMPTY_GUID,
        "invoiceNumber": "",
        "lastModifiedDateTime": STAMP,
    }
    return entity | extra


def journal(entity_id: str = "journal-1") -> dict[str, Any]:
    return {
        "id": entity_id,
        "code": "CASH",
        "displayName": "Cash receipts",
        "lastModifiedDateTime": STAMP,
        "balancingAccountId": EMPTY_GUID,
        "balancingAccountNumber": "",
    }


def line(
    number: int, document: str, amount: Any, applies_to: str = EMPTY_GUID, **extra: Any
) -> dict[str, Any]:
    entity = {
        "id": f"line-{number}",
        "journalId": "journal-1",
        "journalDisplayName": "CASH",
        "lineNumber": number * 10000,
        "customerId": C1,
        "customerNumber": "10000",
        "postingDate": "2026-06-20",
        "documentNumber": document,
        "externalDocumentNumber": "",
        "amount": amount,
        "appliesToInvoiceId": applies_to,
        "appliesToInvoiceNumber": "",
        "description": "",
        "comment": "",
        "lastModifiedDateTime": STAMP,
    }
    return entity | extra


# --------------------------------------------------------------------------- settings and auth


def test_settings_build_the_company_url_and_the_token_url() -> None:
    configured = settings()

    assert configured.api_root == COMPANY_ROOT
    assert configured.token_url == TOKEN_URL


def test_a_missing_client_secret_names_its_variable() -> None:
    with pytest.raises(FatalError, match=r"BC_CLIENT_SECRET is not set .*Business Central"):
        business_central.build(settings(), environ={})


def test_the_token_comes_from_entra_id_by_client_credentials(
    mock: responses.RequestsMock,
) -> None:
    company().register(mock)

    pull(source())

    token_call = mock.calls[0].request
    assert token_call.url == TOKEN_URL
    form = parse_qs(token_call.body)
    assert form == {
        "grant_type": ["client_credentials"],
        "scope": ["https://api.businesscentral.dynamics.com/.default"],
    }
    expected = base64.b64encode(f"{CLIENT_ID}:s3cret".encode()).decode()
    assert token_call.headers["Authorization"] == f"Basic {expected}"
    api_call = mock.calls[1].request
    assert api_call.headers["Authorization"] == "Bearer token-1"


def test_a_401_fetches_a_new_token_and_tries_again(mock: responses.RequestsMock) -> None:
    fake = company()
    mock.add(
        responses.GET,
        f"{COMPANY_ROOT}/generalLedgerSetup",
        status=401,
        json={
            "error": {
                "code": "Authentication_InvalidCredentials",
                "message": "The server has rejected the client credentials.",
            }
        },
    )
    fake.register(mock)

    pull(source())

    assert fake.tokens_issued == 2
    retried = mock.calls[3].request  # token, 401, token, the same GET again
    assert retried.url.startswith(f"{COMPANY_ROOT}/generalLedgerSetup")
    assert retried.headers["Authorization"] == "Bearer token-2"


# --------------------------------------------------------------------------- paging and errors


def test_pages_are_followed_by_their_next_link(mock: responses.RequestsMock) -> None:
    company_fake = company()
    next_link = f"{COMPANY_ROOT}/customers?$skiptoken=eyJpZCI6IjIifQ"
    mock.add(
        responses.GET,
        f"{COMPANY_ROOT}/customers",
        json={
            "@odata.context": f"{COMPANY_ROOT}/$metadata#companies({COMPANY})/customers",
            "@odata.count": 2,  # asked with $count=true: every page's entities
            "value": [customer(C1)],
            "@odata.nextLink": next_link,
        },
        match=[responses.matchers.query_string_matcher("%24count=true")],
    )
    mock.add(
        responses.GET,
        f"{COMPANY_ROOT}/customers",
        json={
            "@odata.context": f"{COMPANY_ROOT}/$metadata#companies({COMPANY})/customers",
            "value": [customer(C2, displayName="Trey Research", number="20000")],
        },
        match=[responses.matchers.query_param_matcher({"$skiptoken": "eyJpZCI6IjIifQ"})],
    )
    company_fake.register(mock)

    pulling = source(page_size=1)

    records, rejected = pull(pulling)

    assert rejected == []
    assert [r.id for r in records] == [C1, C2]
    assert pulling.extent() == Extent(2, "records")
    customer_calls = [c.request for c in mock.calls if "/customers" in c.request.url]
    assert customer_calls[1].url == next_link
    assert customer_calls[0].headers["Prefer"] == "odata.maxpagesize=1"


def test_the_fake_company_pages_the_same_way(mock: responses.RequestsMock) -> None:
    fake = company(customers=[customer(f"c-{n}", number=str(n)) for n in range(5)])
    fake.page_size = 2
    fake.register(mock)

    records, _ = pull(source())

    assert [r.id for r in records] == [f"c-{n}" for n in range(5)]
    assert sum("/customers" in url for url in fake.gets) == 3


def test_an_error_answer_is_fatal_with_business_centrals_message(
    mock: responses.RequestsMock,
) -> None:
    for _ in range(2):  # asked with $count, then once more without it: the same answer
        mock.add(
            responses.GET,
            f"{COMPANY_ROOT}/customers",
            status=400,
            json={
                "error": {
                    "code": "BadRequest",
                    "message": "Could not find a property named 'lastModified' on type "
                    "'Microsoft.NAV.customer'.  CorrelationId:  c2f8f0e4-7a1b-4a63-a3bb-0b3a.",
                }
            },
        )
    company().register(mock)

    with pytest.raises(ApiError, match=r"HTTP 400 .*Could not find a property") as raised:
        pull(source())
    assert isinstance(raised.value, FatalError)


def test_429_waits_for_retry_after_then_succeeds(mock: responses.RequestsMock) -> None:
    mock.add(
        responses.GET,
        f"{COMPANY_ROOT}/generalLedgerSetup",
        status=429,
        headers={"Retry-After": "5"},
        json={
            "error": {
                "code": "Application_TooManyRequests",
                "message": "Too many requests reached.  Actual (6001).  Maximum (6000).",
            }
        },
    )
    company().register(mock)
    sleeps: list[float] = []

    pull(source(sleeps))

    assert [s for s in sleeps if s >= 1] == [5.0]


# --------------------------------------------------------------------------- pacing


class _Limiter:
    """Stands in for the HTTP client's rate limiter: records the rate it is given."""

    rates: ClassVar[list[float | None]] = []

    def __init__(self, per_minute: float | None, **_: Any) -> None:
        self.rates.append(per_minute)

    def wait(self) -> None:
        return None


@pytest.mark.parametrize(
    ("changes", "per_minute"),
    [
        ({}, 600),  # the default environment type: production
        ({"environment": "UAT", "environment_type": "production"}, 600),
        ({"environment": "Sandbox", "environment_type": "sandbox"}, 300),
        ({"environment_type": "sandbox", "http": HttpSettings(requests_per_minute=120)}, 120),
    ],
)
def test_requests_are_paced_by_the_environment_type(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], per_minute: int
) -> None:
    monkeypatch.setattr(connector.erp.http, "RateLimiter", _Limiter)
    _Limiter.rates.clear()

    business_central.build(settings(**changes), environ={"BC_CLIENT_SECRET": "s3cret"})

    assert _Limiter.rates == [per_minute]


@pytest.mark.parametrize(
    ("environment_type", "asked", "limit"), [("production", 1000, 600), ("sandbox", 301, 300)]
)
def test_an_own_rate_above_the_documented_limit_is_a_config_error(
    environment_type: str, asked: int, limit: int
) -> None:
    with pytest.raises(ValidationError, match=rf"requests_per_minute {asked} is above the {limit}"):
        settings(environment_type=environment_type, http=HttpSettings(requests_per_minute=asked))


def test_a_408_is_retried(mock: responses.RequestsMock) -> None:
    mock.add(
        responses.GET,
        f"{COMPANY_ROOT}/generalLedgerSetup",
        status=408,
        json={"error": {"code": "RequestTimeout", "message": "The request timed out."}},
    )
    company(customers=[customer(C1)]).register(mock)

    records, _ = pull(source())

    assert [r.id for r in records] == [C1]
    ledger_setup = [c for c in mock.calls if "/generalLedgerSetup" in c.request.url]
    assert [c.response.status_code for c in ledger_setup] == [408, 200]


# --------------------------------------------------------------------------- mapping


def test_customers_take_currency_terms_method_and_a_converted_credit_limit(
    mock: responses.RequestsMock,
) -> None:
    company(
        paymentTerms=[
            {"id": "t14", "code": "14 DAYS", "dueDateCalculation": "14D"},
            {"id": "t1m", "code": "1M(8D)", "dueDateCalculation": "1M"},
        ],
        paymentMethods=[{"id": "m1", "code": "CHECK", "displayName": "Check payment"}],
        currencyExchangeRates=[
            {
                "id": "r1",
                "currencyCode": "EUR",
                "startingDate": "2025-01-01",
                "exchangeRateAmount": 100,
                "relationalCurrencyCode": "",
                "relationalExchangeRateAmount": 104,
            },
            {
                "id": "r2",
                "currencyCode": "EUR",
                "startingDate": "2026-01-01",
                "exchangeRateAmount": 100,
                "relationalCurrencyCode": "",
                "relationalExchangeRateAmount": 108,
            },
        ],
        customers=[
            customer(C1, creditLimit=5000, paymentTermsId="t14", paymentMethodId="m1"),
            customer("eu", currencyCode="EUR", creditLimit=10800, paymentTermsId="t1m"),
            customer("gb", currencyCode="gbp", creditLimit=900),
        ],
    ).register(mock)

    records, rejected = pull(source())

    assert rejected == []
    assert records == [
        Customer(
            id=C1,
            name="Adatum Corporation",
            currency="USD",
            credit_limit=D("5000"),
            payment_terms_days=14,
            payment_method=PaymentMethod.CHECK,
        ),
        # 10,800 USD at the latest rate (100 EUR = 108 USD); a month-based term: the default
        Customer(id="eu", name="Adatum Corporation", currency="EUR", credit_limit=D("10000.00")),
        Customer(id="gb", name="Adatum Corporation", currency="GBP"),  # no GBP rate: no limit
    ]


def test_the_local_currency_may_be_set_instead_of_read(mock: responses.RequestsMock) -> None:
    fake = company(salesInvoices=[sales_invoice()])
    fake.register(mock)

    records, _ = pull(source(local_currency="CAD"))

    assert records[0].currency == "CAD"
    assert not any("generalLedgerSetup" in url for url in fake.gets)


def test_invoice_statuses_bill_to_and_exact_amounts(mock: responses.RequestsMock) -> None:
    company(
        salesInvoices=[
            sales_invoice("open", billToCustomerId=C2),
            sales_invoice("paid", status="Paid", remainingAmount=0),
            sales_invoice("cancelled", status="Canceled", remainingAmount=0),
            sales_invoice("corrective", status="Corrective", remainingAmount=0),
            sales_invoice("draft", status="Draft"),
            sales_invoice("review", status="In Review"),
            sales_invoice(
                "eur", currencyCode="EUR", totalAmountIncludingTax=999.99, remainingAmount=999.99
            ),
        ]
    ).register(mock)

    records, rejected = pull(source())

    assert rejected == []
    by_id = {r.id: r for r in records}
    assert set(by_id) == {"open", "paid", "cancelled", "corrective", "eur"}
    assert by_id["open"].customer_id == C2
    assert by_id["open"].total == D("1250.5")
    assert by_id["paid"].status is InvoiceStatus.PAID
    assert by_id["cancelled"].status is by_id["corrective"].status is InvoiceStatus.VOID
    assert (by_id["eur"].currency, by_id["eur"].total) == ("EUR", D("999.99"))
    assert by_id["open"].last_modified == dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)


def test_invoices_that_cannot_be_mapped_are_quarantined(mock: responses.RequestsMock) -> None:
    company(
        salesInvoices=[
            sales_invoice("no-due", dueDate="0001-01-01"),
            sales_invoice("odd-currency", currencyCode="EURO"),
            sales_invoice("odd-status", status="Posted"),
            sales_invoice("over", remainingAmount=2000),
            sales_invoice("fine"),
        ]
    ).register(mock)

    records, rejected = pull(source())

    assert [r.id for r in records] == ["fine"]
    assert [(q.record_id, q.location, q.rule) for q in rejected] == [
        ("no-due", "business_central:salesInvoices/no-due", "invalid_record"),
        ("odd-currency", "business_central:salesInvoices/odd-currency", "invalid_record"),
        ("odd-status", "business_central:salesInvoices/odd-status", "unknown_status"),
        ("over", "business_central:salesInvoices/over", "invalid_record"),
    ]
    assert rejected[0].reason == "dueDate is empty"
    assert rejected[1].reason.startswith("currencyCode:")
    assert "remainingAmount" in rejected[3].reason


@pytest.mark.parametrize("field", ["remainingAmount", "totalAmountIncludingTax"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [("n/a", "is not a number (got 'n/a')"), ("", "is empty"), (None, "is empty")],
)
def test_an_invoice_amount_that_is_not_a_number_is_quarantined_naming_the_field(
    mock: responses.RequestsMock, field: str, value: str | None, reason: str
) -> None:
    """`money()` has one meaning: a bad amount is refused in the API field's name, never read
    as missing; the other invoices of the page still arrive."""
    company(
        salesInvoices=[sales_invoice(I1), sales_invoice("bad", **{field: value}), sales_invoice(I2)]
    ).register(mock)

    records, rejected = pull(source())

    assert [r.id for r in records] == [I1, I2]
    assert [(q.record_id, q.location, q.rule, q.reason) for q in rejected] == [
        ("bad", "business_central:salesInvoices/bad", "invalid_record", f"{field} {reason}")
    ]


def test_a_cancelled_invoice_is_owed_nothing_whatever_its_remaining_amount(
    mock: responses.RequestsMock,
) -> None:
    company(salesInvoices=[sales_invoice(I1, status="Canceled", remainingAmount="")]).register(mock)

    records, rejected = pull(source())

    assert rejected == []
    assert [(r.status, r.open_balance) for r in records] == [(InvoiceStatus.VOID, D(0))]


def test_a_credit_limit_that_is_not_a_number_is_quarantined_not_dropped(
    mock: responses.RequestsMock,
) -> None:
    company(customers=[customer(C1, creditLimit="lots"), customer(C2)]).register(mock)

    records, rejected = pull(source())

    assert [r.id for r in records] == [C2]
    assert [(q.record_type, q.record_id, q.reason) for q in rejected] == [
        ("customer", C1, "creditLimit is not a number (got 'lots')")
    ]


def test_credit_memos_paid_to_an_invoice_or_open(mock: responses.RequestsMock) -> None:
    company(
        salesCreditMemos=[
            credit_memo("paid", status="Paid", invoiceId=I1, totalAmountIncludingTax=80),
            credit_memo("open", totalAmountIncludingTax=25.25),
            credit_memo("cancels-invoice", status="Corrective"),
            credit_memo("cancelled", status="Canceled"),
            credit_memo("draft", status="Draft"),
            credit_memo("applied-elsewhere", status="Paid"),
        ]
    ).register(mock)

    items = [i for i in source().pull() if isinstance(i, Pulled)]

    memos = {i.record.id: i for i in items}
    assert set(memos) == {"paid", "open"}
    paid = memos["paid"].record
    assert isinstance(paid, CreditMemo)
    assert [(a.invoice_id, a.amount, a.applied_date) for a in paid.applications] == [
        (I1, D("80"), dt.date(2026, 6, 10))
    ]
    assert memos["paid"].part_locations == ("business_central:salesCreditMemos/paid",)
    assert memos["open"].record.applications == ()
    assert memos["open"].record.amount == D("25.25")


def test_payment_journal_lines_make_payments(mock: responses.RequestsMock) -> None:
    fake = company(
        customers=[customer(C1), customer(C2, currencyCode="EUR")],
        salesInvoices=[sales_invoice(I1), sales_invoice(I2, currencyCode="EUR", customerId=C2)],
        customerPaymentJournals=[journal()],
    )
    fake.journal_lines["journal-1"] = [
        line(1, "G00001", -500, I1),
        line(2, "G00001", -250.25, I1, postingDate="2026-06-21"),
        line(3, "G00001", -100),  # not applied yet
        line(4, "G00002", -40, I2, customerId=C2, customerNumber="20000"),
        line(5, "G00003", -10, customerId=C2, customerNumber="20000"),
    ]
    fake.register(mock)

    items = [i for i in source().pull() if isinstance(i, Pulled)]

    payments = {i.record.id: i for i in items if isinstance(i.record, Payment)}
    first = payments["G00001"].record
    assert (first.customer_id, first.currency, first.amount) == (C1, "USD", D("850.25"))
    assert first.received_date == dt.date(2026, 6, 20)
    assert [(a.invoice_id, a.amount) for a in first.applications] == [(I1, D("750.25"))]
    assert first.unapplied == D("100")
    assert payments["G00001"].location == "business_central:customerPayments/line-1"
    assert payments["G00002"].record.currency == "EUR"  # the applied invoice's currency
    assert payments["G00003"].record.currency == "EUR"  # the customer's currency
    journal_calls = [u for u in fake.gets if "customerPaymentJournals(journal-1)" in u]
    assert journal_calls == [
        f"{COMPANY_ROOT}/customerPaymentJournals(journal-1)/customerPayments?%24count=true"
    ]


def test_a_line_applied_to_an_invoice_entry_without_a_sales_invoice_is_not_unapplied_cash(
    mock: responses.RequestsMock,
) -> None:
    """The API page fills `appliesToInvoiceId` only from a posted sales invoice of that number:
    a line applied to an opening-balance invoice posted from a journal shows its number with
    an empty id. It is applied (to a debt `salesInvoices` does not carry), not unapplied."""
    fake = company(
        customers=[customer(C1)],
        salesInvoices=[sales_invoice(I1)],
        customerPaymentJournals=[journal()],
    )
    fake.journal_lines["journal-1"] = [
        line(1, "G00001", -500, I1, appliesToInvoiceNumber="PS-INV103001"),
        line(2, "G00001", -300, appliesToInvoiceNumber="OPEN-0042"),
        line(3, "G00002", -80, appliesToInvoiceNumber="OPEN-0043"),
        line(4, "G00003", -25),  # entered through the API with no invoice: unapplied
    ]
    fake.register(mock)

    with capture_logs() as logs:
        records, rejected = pull(source())

    payments = {r.id: r for r in records if isinstance(r, Payment)}
    assert rejected == []
    assert sorted(payments) == ["G00001", "G00003"]
    first = payments["G00001"]
    assert (first.amount, first.unapplied) == (D("500"), D("0"))
    assert [(a.invoice_id, a.amount) for a in first.applications] == [(I1, D("500"))]
    assert payments["G00003"].unapplied == D("25")
    skipped = [e for e in logs if e["event"] == "erp.record_skipped"]
    assert [(e["record"], e["invoice_number"]) for e in skipped] == [
        ("customerPayments/line-2", "OPEN-0042"),
        ("customerPayments/line-3", "OPEN-0043"),
    ]


def test_a_payment_to_an_invoice_not_in_the_pull_reads_its_currency(
    mock: responses.RequestsMock,
) -> None:
    fake = company(customerPaymentJournals=[journal()])
    # Paid and unchanged: neither the changed nor the open invoices bring it.
    paid_invoice = sales_invoice(I1, currencyCode="EUR", status="Paid", remainingAmount=0)
    fake.collections["salesInvoices"] = [paid_invoice]
    fake.journal_lines["journal-1"] = [line(1, "G1", -5, I1, lastModifiedDateTime=LATER)]
    fake.register(mock)

    records, _ = pull(source(), since={"salesInvoices": LATER, "customerPayments": STAMP})

    (paid,) = records
    assert paid.currency == "EUR"
    assert f"{COMPANY_ROOT}/salesInvoices({I1})" in fake.gets


def test_payments_that_cannot_be_mapped_are_quarantined(mock: responses.RequestsMock) -> None:
    fake = company(customerPaymentJournals=[journal()], customers=[customer(C1)])
    fake.journal_lines["journal-1"] = [
        line(1, "MIXED", -5),
        line(2, "MIXED", -5, customerId=C2),
        line(3, "GHOST", -5, "9e0f5c9c-0000-0000-0000-000000000000"),
    ]
    fake.register(mock)

    records, rejected = pull(source())

    assert [r.id for r in records] == [C1]
    assert [(q.record_type, q.record_id, q.location, q.rule) for q in rejected] == [
        ("payment", "MIXED", "business_central:customerPayments/line-1", "mixed_customers"),
        ("payment", "GHOST", "business_central:customerPayments/line-3", "invalid_record"),
    ]


def test_a_payment_line_that_cannot_be_read_quarantines_its_document_only(
    mock: responses.RequestsMock,
) -> None:
    """A journal line whose `amount` is not a number refuses its payment document (one
    record), named by the line and at its location; the other payments, and the rest of the
    pull, still arrive, and every line read is accounted for."""
    fake = company(
        customers=[customer(C1)],
        salesInvoices=[sales_invoice(I1), sales_invoice(I2)],
        customerPaymentJournals=[journal()],
    )
    fake.journal_lines["journal-1"] = [
        line(1, "G00001", -500, I1),
        line(2, "G00001", "12,50", I2),  # a decimal comma: not a number
        line(3, "G00002", -80, I2),
        line(4, "G00003", None),  # no amount at all
        line(5, "G00004", -25),
    ]
    fake.register(mock)

    loaded = pull_into(source(), frozenset({"USD"}), BarRecorder())

    entries = list(loaded.builder.quarantine)
    assert [(q.record_type, q.record_id, q.location, q.rule, q.reason) for q in entries] == [
        (
            "payment",
            "G00001",
            "business_central:customerPayments/line-2",
            "invalid_record",
            "line line-2 of document G00001: amount is not a number (got '12,50')",
        ),
        (
            "payment",
            "G00003",
            "business_central:customerPayments/line-4",
            "invalid_record",
            "line line-4 of document G00003: amount is empty",
        ),
    ]
    payments = {p.record.id: p.record for p in loaded.pulled if isinstance(p.record, Payment)}
    assert sorted(payments) == ["G00002", "G00004"]
    assert payments["G00002"].applied == D("80")
    assert {type(p.record).__name__ for p in loaded.pulled} == {"Customer", "Invoice", "Payment"}
    loaded.builder.build(as_of=dt.date(2026, 7, 1))
    accounting = loaded.accounting()
    assert accounting["payment"].read == 4
    assert (accounting["payment"].ledger, accounting["payment"].quarantined) == (2, 2)
    assert not any(count.unaccounted for count in accounting.values())


def test_a_positive_payment_line_is_a_reversal_not_cash(mock: responses.RequestsMock) -> None:
    """`amount` is the journal line's signed amount: a payment credits the customer
    (negative); +300 debits them back, a reversal that must not count as cash received."""
    fake = company(
        customers=[customer(C1)],
        salesInvoices=[sales_invoice(I1)],
        customerPaymentJournals=[journal()],
    )
    fake.journal_lines["journal-1"] = [
        line(1, "G00001", -500, I1),
        line(2, "G00002", 300, I1),  # reverses a payment applied to I1
        line(3, "G00003", -200, I1),
        line(4, "G00003", 50),  # a refund line inside a payment document
    ]
    fake.register(mock)

    records, rejected = pull(source())

    payments = {r.id: r for r in records if isinstance(r, Payment)}
    assert list(payments) == ["G00001"]
    assert payments["G00001"].amount == D("500")
    assert [(q.record_id, q.location, q.rule) for q in rejected] == [
        ("G00002", "business_central:customerPayments/line-2", "payment_reversal"),
        ("G00003", "business_central:customerPayments/line-4", "payment_reversal"),
    ]
    assert "line line-2 of document G00002 has amount +300" in rejected[0].reason


@pytest.mark.parametrize(
    ("formula", "days"),
    [
        ("30D", 30),
        ("14d", 14),
        ("2W", 14),
        ("<45D>", 45),
        ("1M", None),
        ("CM+10D", None),
        ("", None),
    ],
)
def test_due_date_formulas_in_days(formula: str, days: int | None) -> None:
    assert terms_days(formula) == days


# --------------------------------------------------------------------------- incremental


def test_a_second_pull_filters_every_stream_by_its_cursor(mock: responses.RequestsMock) -> None:
    fake = company(
        customers=[customer(C1)],
        salesInvoices=[sales_invoice(I1), sales_invoice(I2)],
        salesCreditMemos=[credit_memo("cm", status="Open")],
        customerPaymentJournals=[journal()],
    )
    fake.journal_lines["journal-1"] = [line(1, "G1", -10, I1), line(2, "G2", -20, I2)]
    fake.register(mock)
    src = source(clock=lambda: 1_782_820_800.0)

    first, _ = pull(src)
    cursors = src.cursors()

    assert len(first) == 6
    streams = ("customers", "salesInvoices", "salesCreditMemos", "customerPayments")
    assert cursors == dict.fromkeys(streams, STAMP)
    assert src.data_as_of() == dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)

    fake.collections["salesInvoices"][1] = sales_invoice(
        I2, remainingAmount=10, lastModifiedDateTime=LATER
    )
    fake.journal_lines["journal-1"][1] = line(2, "G2", -30, I2, lastModifiedDateTime=LATER)
    fake.gets.clear()
    second, _ = pull(src, since=cursors)

    # I2 changed; I1 is open, so it is read again (a posted payment would not move its stamp).
    assert [(type(r).__name__, r.id) for r in second] == [
        ("Invoice", I2),
        ("Invoice", I1),
        ("Payment", "G2"),
    ]
    filters: dict[str, list[str | None]] = {}
    for url in fake.gets:
        found = parse_qs(urlsplit(url).query).get("$filter")
        filters.setdefault(urlsplit(url).path.rsplit("/", 1)[-1], []).append(
            found[0] if found else None
        )
    expected = "lastModifiedDateTime gt 2026-06-30T12:00:00.000Z"
    assert filters["customers"] == filters["salesCreditMemos"] == [expected]
    assert filters["salesInvoices"] == [expected, "status eq 'Open'"]
    assert filters["customerPayments"] == [None]  # journal lines are read whole, filtered here
    assert src.cursors()["salesInvoices"] == LATER
    assert src.cursors()["customerPayments"] == LATER
    assert src.cursors()["customers"] == STAMP


def test_a_partial_payment_that_does_not_move_the_stamp_is_seen_next_run(
    mock: responses.RequestsMock,
) -> None:
    """Posting a payment lowers `remainingAmount` without touching `lastModifiedDateTime`;
    the incremental run still reads the new balance, over the record kept from the first."""
    fake = company(
        customers=[customer(C1)],
        salesInvoices=[
            sales_invoice(I1, remainingAmount=1250.5),
            sales_invoice(
                I2, number="PS-INV103002", remainingAmount=400, totalAmountIncludingTax=400
            ),
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

    # 1,000 of I1 paid: still Open, same stamp. I2 paid in full: Paid, and the status change
    # rewrote the aggregate, so its stamp moved.
    fake.collections["salesInvoices"] = [
        sales_invoice(I1, remainingAmount=250.5),
        sales_invoice(
            I2,
            number="PS-INV103002",
            remainingAmount=0,
            totalAmountIncludingTax=400,
            status="Paid",
            lastModifiedDateTime=LATER,
        ),
    ]
    second = pull_into(src, currencies, BarRecorder(), since=src.cursors(), kept=kept)

    invoices = second.builder.build(as_of=dt.date(2026, 7, 1)).invoices
    balances = dict(zip(invoices["invoice_id"], invoices["open_minor"], strict=True))
    assert balances == {I1: 25050, I2: 0}
    assert second.incremental


def test_the_bar_takes_each_collections_total_from_its_odata_count(
    mock: responses.RequestsMock,
) -> None:
    fake = company(
        customers=[customer(C1)],
        salesInvoices=[sales_invoice(I1), sales_invoice(I2)],
        salesCreditMemos=[credit_memo("cm", status="Open")],
        customerPaymentJournals=[journal()],
    )
    fake.journal_lines["journal-1"] = [line(1, "G1", -10, I1), line(2, "G2", -20, I2)]
    fake.page_size = 1
    fake.register(mock)
    src = source(clock=lambda: 1_782_820_800.0)

    full = bar_of(src)

    assert full.seen[1][0] == 1 + 2  # both invoices counted before the second page is read
    assert full.seen[-1] == (6, 6)  # journal lines are what is read of payments
    counted = [url for url in fake.gets if "%24count=true" in url or "$count=true" in url]
    streams = ("customers", "salesInvoices", "salesCreditMemos", "customerPayments")
    assert len(counted) == sum(len(fake.gets_of(name)) for name in streams)  # no extra request

    fake.collections["salesInvoices"][1] = sales_invoice(
        I2, remainingAmount=10, lastModifiedDateTime=LATER
    )

    changes = bar_of(src, since=src.cursors())

    # I2 changed, I1 and I2 open, and the journal lines read whole
    assert changes.seen[-1] == (1 + 2 + 2, 1 + 2 + 2)


def test_an_api_that_refuses_the_count_is_read_without_a_total(
    mock: responses.RequestsMock,
) -> None:
    fake = company(customers=[customer(C1)], salesInvoices=[sales_invoice(I1), sales_invoice(I2)])
    fake.page_size = 1
    fake.refuses_count = True
    fake.register(mock)

    with capture_logs() as logs:
        records, entries = pull(source(clock=lambda: 1_782_820_800.0))

    assert sorted(r.id for r in records if isinstance(r, Invoice)) == sorted([I1, I2])
    assert entries == []
    refused = [e for e in logs if e["event"] == "erp.count_refused"]
    assert {e["path"] for e in refused} >= {"customers", "salesInvoices"}


def test_a_cursor_that_is_not_a_timestamp_is_refused(mock: responses.RequestsMock) -> None:
    company().register(mock)

    with pytest.raises(FatalError, match="not an ISO 8601 timestamp"):
        pull(source(), since={"customers": "2026 or true"})


def test_invoices_are_canonical(mock: responses.RequestsMock) -> None:
    company(salesInvoices=[sales_invoice()]).register(mock)

    records, _ = pull(source())

    assert records == [
        Invoice(
            id=I1,
            number="PS-INV103001",
            customer_id=C1,
            issue_date=dt.date(2026, 6, 1),
            due_date=dt.date(2026, 7, 1),
            currency="USD",
            total=D("1250.5"),
            open_balance=D("1250.5"),
            last_modified=dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC),
        )
    ]


# --------------------------------------------------------------------------- control balances

C3 = "b2c3d4e5-0000-4000-8000-000000000003"
C4 = "c3d4e5f6-0000-4000-8000-000000000004"


def financial(entity_id: str, balance: Any, overdue: Any = 0, sales: Any = 0) -> dict[str, Any]:
    """A `customerFinancialDetail`, as Microsoft's example shows it (its `id` is the
    customer's)."""
    return {
        "id": entity_id,
        "number": "10000",
        "balance": balance,
        "totalSalesExcludingTax": sales,
        "overdueAmount": overdue,
    }


def test_control_balances_are_the_lcy_balance_of_each_lcy_customer(
    mock: responses.RequestsMock,
) -> None:
    fake = company(
        customers=[
            customer(C1, customerFinancialDetail=financial(C1, 8836.8, 5754.96, 81049)),
            customer(
                C2,
                number="20000",
                currencyCode="EUR",
                customerFinancialDetail=financial(C2, 1080),
            ),
            customer(C3, number="30000", customerFinancialDetail=financial(C3, 0)),
            customer(C4, number="40000"),  # answered without its financial detail
        ]
    )
    fake.page_size = 2
    fake.register(mock)
    reading = source()
    records, _ = pull(reading)
    assert {r.id for r in records} == {C1, C2, C3, C4}
    fake.gets.clear()

    with capture_logs() as logs:
        control = reading.control_balances()

    assert control == ControlBalances(
        "Business Central customerFinancialDetail.balance (LCY)",
        Basis.NET,
        (ControlBalance(C1, "USD", D("8836.8")), ControlBalance(C3, "USD", D("0"))),
        every_customer=False,
    )
    assert [urlsplit(url).path.rsplit("/", 1)[-1] for url in fake.gets] == ["customers"] * 2
    assert [parse_qs(urlsplit(url).query) for url in fake.gets] == [
        {"$expand": ["customerFinancialDetail"]},
        {"$skiptoken": ["2"], "$expand": ["customerFinancialDetail"]},
    ]
    skipped = {
        e["record"]: e["reason"] for e in logs if e["event"] == "erp.control_balance_skipped"
    }
    assert skipped == {
        f"customers/{C2}": "the balance is in USD, the customer's documents in EUR",
        f"customers/{C4}": "no customerFinancialDetail.balance",
    }
    read = [e for e in logs if e["event"] == "erp.control_balances_read"]
    assert [(e["erp"], e["customers"], e["calls"]) for e in read] == [("business_central", 2, 2)]


def test_control_balances_without_a_pull_read_the_local_currency_once(
    mock: responses.RequestsMock,
) -> None:
    fake = company(customers=[customer(C1, customerFinancialDetail=financial(C1, -12.5))])
    fake.collections["generalLedgerSetup"] = [{"id": "gl", "localCurrencyCode": "cad"}]
    fake.register(mock)
    reading = source()

    first, second = reading.control_balances(), reading.control_balances()

    assert first.balances == second.balances == (ControlBalance(C1, "CAD", D("-12.5")),)
    assert len(fake.gets_of("generalLedgerSetup")) == 1
