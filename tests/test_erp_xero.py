"""Xero source: paging, mapping (statuses, prepayments, overpayments, credit note allocations),
quarantine, errors, rate limits, token rotation and incremental pulls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from contract.harness import BarRecorder, bar_of
from fakes.jsonmoney import dumps, number
from fakes.xero import (
    API,
    ENDPOINTS,
    TENANT,
    TOKEN_URL,
    FakeXero,
    allocation,
    contact,
    credit_note,
    invoice,
    ms_date,
    payment,
    prepayment,
    render,
)
from pydantic import ValidationError
from responses import matchers
from structlog.testing import capture_logs

from arsync.control import Basis, ControlBalance, ControlBalances
from arsync.errors import FatalError
from arsync.ledger import LedgerBuilder
from arsync.quarantine import QuarantineEntry
from arsync.records import (
    Application,
    CanonicalRecord,
    CreditMemo,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
)
from connector.erp import xero
from connector.erp.base import Extent, Pulled, PulledItem
from connector.erp.http import ApiError, HttpSettings
from connector.erp.xero.mapping import moment
from jobs.load import RECORD_TYPES, pull_into

D = Decimal
ENVIRON = {"XERO_CLIENT_ID": "ci", "XERO_CLIENT_SECRET": "cs", "XERO_REFRESH_TOKEN": "rt-1"}
FAST = HttpSettings(requests_per_minute=600_000, initial_wait_seconds=0)
C1 = "bd2270c3-8706-4c11-9cfb-000b551c3f51"


def settings(**changes: Any) -> xero.Settings:
    values: dict[str, Any] = {
        "kind": "xero",
        "tenant_id": TENANT,
        "client_id": "${XERO_CLIENT_ID}",
        "client_secret": "${XERO_CLIENT_SECRET}",
        "refresh_token": "${XERO_REFRESH_TOKEN}",
        "http": FAST,
    }
    return xero.Settings.model_validate({**values, **changes})


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as requests_mock:
        yield requests_mock


def source(sleeps: list[float] | None = None, **changes: Any) -> xero.XeroSource:
    sleep = sleeps.append if sleeps is not None else (lambda _: None)
    client = xero.make_client(settings(**changes), ENVIRON, sleep=sleep)
    return xero.XeroSource(settings(**changes), client)


def pulled(items: list[PulledItem]) -> dict[str, CanonicalRecord]:
    return {item.record.id: item.record for item in items if isinstance(item, Pulled)}


def rejected(items: list[PulledItem]) -> list[QuarantineEntry]:
    return [item for item in items if isinstance(item, QuarantineEntry)]


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def the(records: dict[str, CanonicalRecord], key: str, kind: type[Any]) -> Any:
    record = records[key]
    assert isinstance(record, kind)
    return record


def org(*records: CanonicalRecord) -> FakeXero:
    return render([Customer(id=C1, name="Ridgeway University", currency="USD"), *records])


def _invoice(key: str, **changes: Any) -> Invoice:
    values: dict[str, Any] = {
        "id": key,
        "number": f"INV-{key}",
        "customer_id": C1,
        "issue_date": day("2026-05-02"),
        "due_date": day("2026-06-01"),
        "currency": "USD",
        "total": D("345.00"),
        "open_balance": D("345.00"),
    }
    return Invoice.model_validate({**values, **changes})


# --------------------------------------------------------------------------- paging


def token(mock: responses.RequestsMock) -> None:
    body = {
        "access_token": "at-1",
        "expires_in": 1800,
        "token_type": "Bearer",
        "refresh_token": "rt-2",
        "scope": "offline_access accounting.transactions.read accounting.contacts.read",
    }
    mock.post(TOKEN_URL, json=body)


def page(
    mock: responses.RequestsMock,
    endpoint: str,
    items: list[Any],
    number_of: tuple[int, int] = (1, 1),
    where: str | None = None,
    *,
    item_count: int | None = None,
) -> None:
    """One documented list answer, with its `pagination` object (`itemCount`: the objects of
    every page, this page's by default)."""
    at, count = number_of
    total = len(items) if item_count is None else item_count
    body = {
        "Id": "f5a6ab36-4a2a-4d9c-8d5f-7c5f0d2fb0c1",
        "Status": "OK",
        "ProviderName": "arsync tests",
        "DateTimeUTC": "/Date(1782860400000)/",
        "pagination": {"page": at, "pageSize": 100, "pageCount": count, "itemCount": total},
        endpoint: items,
    }
    query = {"page": str(at)} | ({"where": where} if where else {})
    if endpoint == "Contacts":
        query["includeArchived"] = "true"  # or Xero leaves archived contacts out
    mock.get(
        f"{API}/{endpoint}",
        body=dumps(body),
        content_type="application/json",
        headers={"X-MinLimit-Remaining": "58", "X-DayLimit-Remaining": "4321"},
        match=[
            matchers.query_param_matcher(query),
            matchers.header_matcher({"Xero-tenant-id": TENANT, "Accept": "application/json"}),
        ],
    )


def test_pages_through_the_pagination_object_and_logs_the_limits_left(
    mock: responses.RequestsMock,
) -> None:
    token(mock)
    page(mock, "Contacts", [contact(Customer(id=C1, name="Ridgeway University", currency="USD"))])
    accrec = 'Type=="ACCREC"'
    first = [invoice(_invoice(str(n)), {C1: "Ridgeway University"}) for n in range(100)]
    page(mock, "Invoices", first, (1, 2), accrec, item_count=101)
    page(mock, "Invoices", [invoice(_invoice("100"), {})], (2, 2), accrec, item_count=101)
    page(mock, "Payments", [], where='PaymentType=="ACCRECPAYMENT"')
    page(mock, "Prepayments", [], where='Type=="RECEIVE-PREPAYMENT"')
    page(mock, "Overpayments", [], where='Type=="RECEIVE-OVERPAYMENT"')
    page(mock, "CreditNotes", [], where='Type=="ACCRECCREDIT"')

    pulling = source()

    with capture_logs() as logs:
        items = list(pulling.pull())

    records = pulled(items)
    assert len(records) == 102
    assert pulling.extent() == Extent(102, "records")
    assert the(records, "100", Invoice) == _invoice(
        "100", last_modified=dt.datetime(2026, 6, 30, 9, 0, tzinfo=dt.UTC)
    )
    fetched = [e for e in logs if e["event"] == "erp.page_fetched"]
    assert [(e["stream"], e["page"]) for e in fetched] == [
        ("Contacts", 1),
        ("Invoices", 1),
        ("Invoices", 2),
        ("Payments", 1),
        ("Prepayments", 1),
        ("Overpayments", 1),
        ("CreditNotes", 1),
    ]
    assert (fetched[0]["minute_calls_left"], fetched[0]["day_calls_left"]) == ("58", "4321")
    api_calls = [c for c in mock.calls if c.request.url.startswith(API)]
    assert all(c.request.headers["Authorization"] == "Bearer at-1" for c in api_calls)
    assert all("If-Modified-Since" not in c.request.headers for c in api_calls)


def test_reads_xero_dates() -> None:
    assert moment("/Date(1551744000000+0000)/") == dt.datetime(2019, 3, 5, tzinfo=dt.UTC)
    assert moment("/Date(1552431874205)/") == dt.datetime(
        2019, 3, 12, 23, 4, 34, 205000, tzinfo=dt.UTC
    )
    local = moment("/Date(1551744000000+1300)/")
    assert local is not None
    assert local.date() == day("2019-03-05")
    assert local.utcoffset() == dt.timedelta(hours=13)
    assert moment("2019-03-05T00:00:00") == dt.datetime(2019, 3, 5, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- mapping


def test_maps_statuses_and_leaves_drafts_out(mock: responses.RequestsMock) -> None:
    fake = org(
        _invoice("open"),
        _invoice("paid", open_balance=D("0"), status=InvoiceStatus.PAID),
        _invoice("void", status=InvoiceStatus.VOID),
    )
    names = {C1: "Ridgeway University"}
    for status in ("DRAFT", "SUBMITTED", "DELETED"):
        fake.add("Invoices", {**invoice(_invoice(status.lower()), names), "Status": status})
    fake.register(mock)

    with capture_logs() as logs:
        records = pulled(list(source().pull()))

    assert set(records) == {C1, "open", "paid", "void", "deleted"}
    assert the(records, "open", Invoice).status is InvoiceStatus.OPEN
    assert the(records, "paid", Invoice).status is InvoiceStatus.PAID
    for key in ("void", "deleted"):
        voided = the(records, key, Invoice)
        assert (voided.status, voided.open_balance, voided.total) == (
            InvoiceStatus.VOID,
            D(0),
            D("345.00"),
        )
    skipped = {e["record"]: e["reason"] for e in logs if e["event"] == "erp.record_skipped"}
    assert skipped == {
        "xero:Invoices/draft": "status DRAFT: not approved, so not yet a receivable",
        "xero:Invoices/submitted": "status SUBMITTED: not approved, so not yet a receivable",
    }
    assert all(e["log_level"] == "debug" for e in logs if e["event"] == "erp.record_skipped")


def test_money_received_and_credit_notes_become_payments_and_credit_memos_with_applications(
    mock: responses.RequestsMock,
) -> None:
    applied = Application(invoice_id="I1", amount=D("100.00"), applied_date=day("2026-05-20"))
    fake = org(
        _invoice("I1"),
        Payment(
            id="pay-1",
            customer_id=C1,
            currency="USD",
            amount=D("45.00"),
            received_date=day("2026-05-10"),
            applications=(
                Application(invoice_id="I1", amount=D("45.00"), applied_date=day("2026-05-10")),
            ),
        ),
        Payment(
            id="pre-1",
            customer_id=C1,
            currency="USD",
            amount=D("150.00"),
            received_date=day("2026-05-01"),
            applications=(applied,),
        ),
        CreditMemo(
            id="cn-1",
            customer_id=C1,
            currency="USD",
            amount=D("80.00"),
            date=day("2026-05-15"),
            applications=(applied.model_copy(update={"amount": D("50.00")}),),
        ),
    )
    over = prepayment(
        Payment(
            id="over-1",
            customer_id=C1,
            currency="USD",
            amount=D("20.00"),
            received_date=day("2026-06-02"),
        ),
        {},
    )
    over = {k.replace("Prepayment", "Overpayment"): v for k, v in over.items()}
    over.update(Type="RECEIVE-OVERPAYMENT", CurrencyCode="usd")
    fake.add("Overpayments", over)
    deleted = payment(
        Payment(
            id="pay-gone",
            customer_id=C1,
            currency="USD",
            amount=D("5.00"),
            received_date=day("2026-05-11"),
            applications=(Application(invoice_id="I1", amount=D("5.00")),),
        ),
        {},
    )
    fake.add("Payments", {**deleted, "Status": "DELETED"})
    fake.add("CreditNotes", {**credit_note(_memo("cn-void"), {}), "Status": "VOIDED"})
    fake.register(mock)

    items = list(source().pull())
    records = pulled(items)

    assert rejected(items) == []
    assert set(records) == {C1, "I1", "pay-1", "pre-1", "over-1", "cn-1"}
    assert the(records, "pay-1", Payment).applications == (
        Application(invoice_id="I1", amount=D("45.00"), applied_date=day("2026-05-10")),
    )
    prepaid = the(records, "pre-1", Payment)
    assert (prepaid.amount, prepaid.applications, prepaid.unapplied) == (
        D("150.00"),
        (applied,),
        D("50.00"),
    )
    overpaid = the(records, "over-1", Payment)
    assert (overpaid.currency, overpaid.unapplied) == ("USD", D("20.00"))
    credit = the(records, "cn-1", CreditMemo)
    assert (credit.amount, credit.unapplied) == (D("80.00"), D("30.00"))
    assert [i.location for i in items if isinstance(i, Pulled)][-1] == "xero:CreditNotes/cn-1"


def _memo(key: str) -> CreditMemo:
    return CreditMemo(
        id=key, customer_id=C1, currency="USD", amount=D("10.00"), date=day("2026-05-15")
    )


def test_contacts_fall_back_on_the_organisation_and_suppliers_stay_out(
    mock: responses.RequestsMock,
) -> None:
    fake = org(_invoice("I1"))
    plain = contact(Customer(id="plain", name="No Defaults Ltd", currency="USD"))
    del plain["DefaultCurrency"], plain["PaymentTerms"]
    monthly = contact(Customer(id="monthly", name="End Of Month Co", currency="USD"))
    monthly["PaymentTerms"] = {"Sales": {"Day": 20, "Type": "OFFOLLOWINGMONTH"}}
    supplier = {
        **contact(Customer(id="supplier", name="Paper Supplies", currency="USD")),
        "IsSupplier": True,
        "IsCustomer": False,
    }
    both = {**supplier, "ContactID": "both", "Name": "Supplier We Invoiced"}
    fake.add("Contacts", plain, monthly, supplier, both)
    fake.add("Invoices", invoice(_invoice("I2", customer_id="both"), {}))
    fake.organisation = {
        "Name": "Demo Company (NZ)",
        "BaseCurrency": "NZD",
        "PaymentTerms": {"Sales": {"Day": 20, "Type": "DAYSAFTERBILLDATE"}},
    }
    fake.register(mock)

    items = list(source().pull())
    records = pulled(items)

    assert the(records, "plain", Customer) == Customer(
        id="plain", name="No Defaults Ltd", currency="NZD", payment_terms_days=20
    )
    assert the(records, "monthly", Customer).payment_terms_days == 30  # not a number of days
    assert "supplier" not in records
    order = [i.record.id for i in items if isinstance(i, Pulled)]
    assert order.index("both") == order.index("I2") - 1  # released by the invoice naming it
    assert sum(c.request.url == f"{API}/Organisation" for c in mock.calls) == 1


def _status(record: Customer, status: str, **changes: Any) -> dict[str, Any]:
    """A contact in Xero's documented shape with this `ContactStatus`."""
    return {**contact(record), "ContactStatus": status, **changes}


def test_archived_and_gdpr_contacts_stay_customers_with_their_open_invoices(
    mock: responses.RequestsMock,
) -> None:
    fake = org()
    archived = Customer(id="archived", name="Closed Branch Ltd", currency="USD")
    forgotten = Customer(id="gdpr", name="x", currency="USD")
    # GDPRREQUEST: archived for good, personal data (the name too, where it can) redacted.
    fake.add(
        "Contacts",
        _status(archived, "ARCHIVED"),
        _status(forgotten, "GDPRREQUEST", Name="", EmailAddress=""),
    )
    fake.add(
        "Invoices",
        invoice(_invoice("IA", customer_id="archived"), {"archived": archived.name}),
        invoice(_invoice("IG", customer_id="gdpr", total=D("80.00"), open_balance=D("80.00")), {}),
    )
    paid = Payment(
        id="PA",
        customer_id="archived",
        currency="USD",
        amount=D("45.00"),
        received_date=day("2026-05-20"),
        applications=(Application(invoice_id="IA", amount=D("45.00")),),
    )
    fake.add("Payments", payment(paid, {"archived": archived.name}))
    fake.objects["Invoices"][-2].update(AmountDue=number(D("300.00")), AmountPaid=number(45))
    fake.add("CreditNotes", credit_note(_memo("CA").model_copy(update={"customer_id": "gdpr"}), {}))
    fake.register(mock)

    items = list(source().pull())

    records = pulled(items)
    assert rejected(items) == []
    assert the(records, "archived", Customer) == Customer(
        id="archived", name="Closed Branch Ltd", currency="USD"
    )
    assert the(records, "gdpr", Customer) == Customer(id="gdpr", name="gdpr", currency="USD")
    contacts = [r for r in fake.requests if urlsplit(r.url).path.endswith("/Contacts")]
    assert [parse_qs(urlsplit(r.url).query)["includeArchived"] for r in contacts] == [["true"]]
    builder = LedgerBuilder()
    for item in items:
        if isinstance(item, Pulled):
            builder.add(item.record, item.location)
    ledger = builder.build()
    assert list(builder.quarantine) == []  # no "unknown customer"
    open_ar = dict(zip(ledger.invoices["invoice_id"], ledger.invoices["open_minor"], strict=True))
    assert open_ar == {"IA": 30000, "IG": 8000}  # cents, still in AR


# --------------------------------------------------------------------------- quarantine


def test_quarantines_what_it_cannot_map_naming_the_object(mock: responses.RequestsMock) -> None:
    fake = org()
    names = {C1: "Ridgeway University"}
    fake.add("Invoices", {**invoice(_invoice("no-due"), names), "DueDate": None})
    del fake.objects["Invoices"][-1]["DueDateString"]
    fake.add("Invoices", {**invoice(_invoice("bad-money"), names), "Total": "lots"})
    fake.add("Invoices", {**invoice(_invoice("euro"), names), "CurrencyCode": "EURO"})
    orphan = payment(
        Payment(
            id="pay-orphan",
            customer_id=C1,
            currency="USD",
            amount=D("5.00"),
            received_date=day("2026-05-11"),
            applications=(Application(invoice_id="I1", amount=D("5.00")),),
        ),
        names,
    )
    orphan["Invoice"] = {"Type": "ACCREC", "Contact": {"ContactID": C1}}
    fake.add("Payments", orphan)
    over_allocated = credit_note(_memo("cn-over"), names)
    over_allocated["Allocations"] = [
        allocation(Application(invoice_id="I9", amount=D("25.00")), day("2026-05-15"))
    ]
    fake.add("CreditNotes", over_allocated)
    fake.register(mock)

    items = list(source().pull())

    reasons = {e.location: e.reason for e in rejected(items)}
    assert reasons["xero:Invoices/no-due"].startswith("DueDate is empty")
    assert reasons["xero:Invoices/bad-money"] == "Total is not a number (got 'lots')"
    assert "CurrencyCode" in reasons["xero:Invoices/euro"]
    assert reasons["xero:Payments/pay-orphan"].startswith("Invoice.InvoiceID is empty")
    assert "exceeds the amount" in reasons["xero:CreditNotes/cn-over"]
    entry = next(e for e in rejected(items) if e.location == "xero:Invoices/no-due")
    assert (entry.record_type, entry.record_id, entry.rule) == (
        "invoice",
        "no-due",
        "invalid_record",
    )
    assert set(pulled(items)) == {C1}


# --------------------------------------------------------------------------- errors and limits


def test_a_refused_request_stops_the_run_with_xeros_words(mock: responses.RequestsMock) -> None:
    token(mock)
    refused = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [{"ValidationErrors": [{"Message": "Invalid where clause"}]}],
    }
    mock.get(f"{API}/Contacts", status=400, json=refused)

    with pytest.raises(ApiError, match=r"HTTP 400 .*ValidationException") as raised:
        list(source().pull())

    assert isinstance(raised.value, FatalError)


def test_a_tenant_not_connected_is_refused_at_once(mock: responses.RequestsMock) -> None:
    token(mock)
    forbidden = {
        "Type": None,
        "Title": "Forbidden",
        "Status": 403,
        "Detail": "AuthenticationUnsuccessful",
        "Instance": "5b4f4a3c-0a35-4a0e-b1e5-e5e0f7a0b2a1",
    }
    mock.get(f"{API}/Contacts", status=403, json=forbidden)

    with pytest.raises(ApiError, match="AuthenticationUnsuccessful"):
        list(source().pull())
    assert len([c for c in mock.calls if c.request.url.startswith(API)]) == 1


def test_a_429_for_the_minute_limit_is_retried_after_the_time_it_asks(
    mock: responses.RequestsMock,
) -> None:
    fake = org()
    mock.get(
        f"{API}/Contacts",
        status=429,
        headers={"Retry-After": "12", "X-Rate-Limit-Problem": "minute"},
    )
    fake.register(mock)
    sleeps: list[float] = []

    records = pulled(list(source(sleeps).pull()))

    assert list(records) == [C1]
    assert 12.0 in sleeps


def test_a_429_for_the_daily_limit_stops_without_retrying(mock: responses.RequestsMock) -> None:
    token(mock)
    mock.get(
        f"{API}/Contacts",
        status=429,
        headers={"Retry-After": "43200", "X-Rate-Limit-Problem": "day"},
    )
    sleeps: list[float] = []

    with pytest.raises(FatalError, match=r"daily call limit .* after 43200 seconds"):
        list(source(sleeps).pull())

    assert len([c for c in mock.calls if c.request.url.startswith(API)]) == 1
    assert 43200.0 not in sleeps


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Rate-Limit-Problem", "Day"),
        ("x-rate-limit-problem", "DAY"),
        ("X-RATE-LIMIT-PROBLEM", " day "),
        ("x-rate-limit-problem", "day"),  # the name in any casing: requests' headers ignore it
    ],
)
def test_a_429_for_the_daily_limit_stops_whatever_the_headers_casing(
    mock: responses.RequestsMock, name: str, value: str
) -> None:
    token(mock)
    mock.get(f"{API}/Contacts", status=429, headers={"Retry-After": "43200", name: value})
    sleeps: list[float] = []

    with pytest.raises(FatalError, match=r"daily call limit .* after 43200 seconds"):
        list(source(sleeps).pull())

    assert len([c for c in mock.calls if c.request.url.startswith(API)]) == 1
    assert sleeps == []


def test_a_429_for_the_app_minute_limit_is_retried(mock: responses.RequestsMock) -> None:
    fake = org()
    mock.get(
        f"{API}/Contacts",
        status=429,
        headers={"Retry-After": "3", "X-Rate-Limit-Problem": "AppMinute"},
    )
    fake.register(mock)
    sleeps: list[float] = []

    assert list(pulled(list(source(sleeps).pull()))) == [C1]
    assert 3.0 in sleeps


def test_a_401_refreshes_the_rotating_token_and_keeps_each_new_one(
    mock: responses.RequestsMock, tmp_path: Path
) -> None:
    fake = org()
    expired = {
        "Type": None,
        "Title": "Unauthorized",
        "Status": 401,
        "Detail": "TokenExpired: token expired at 06/30/2026 09:00:00",
    }
    mock.get(f"{API}/Contacts", status=401, json=expired)
    fake.register(mock)
    kept = tmp_path / "xero-refresh-token"

    client = xero.make_client(settings(refresh_token_file=kept), ENVIRON, sleep=lambda _: None)
    records = pulled(list(xero.XeroSource(settings(), client).pull()))

    assert list(records) == [C1]
    tokens = [c for c in mock.calls if c.request.url == TOKEN_URL]
    assert [parse_qs(str(c.request.body))["refresh_token"] for c in tokens] == [["rt-1"], ["rt-2"]]
    assert kept.read_text(encoding="utf-8") == "rt-3"


def test_secrets_are_environment_references_and_a_missing_one_is_named() -> None:
    with pytest.raises(ValidationError, match="secrets come from the environment"):
        settings(refresh_token="eyJhbGciOi")
    with pytest.raises(FatalError, match=r"XERO_CLIENT_ID is not set \(needed to log in to Xero\)"):
        xero.build(settings(), environ={})


# --------------------------------------------------------------------------- incremental


def test_the_bar_takes_each_streams_total_from_its_first_pages_item_count(
    mock: responses.RequestsMock,
) -> None:
    fake = org(*(_invoice(str(n)) for n in range(150)))  # two pages of invoices
    draft = credit_note(
        CreditMemo(id="CN1", customer_id=C1, currency="USD", amount=D("5"), date=day("2026-06-01")),
        {},
    )
    fake.add("CreditNotes", {**draft, "Status": "DRAFT"})  # read last, and skipped
    fake.register(mock)
    calls = len(mock.calls)

    bar = bar_of(source())

    assert bar.seen[0][0] == 1 + 150  # the invoices counted from their first page
    assert bar.seen[-1] == (152, 152)  # the skipped draft counted as read
    assert len(mock.calls) - calls == 1 + 7  # the token, and one call per page: no count call


def test_an_incremental_bar_counts_only_what_changed(mock: responses.RequestsMock) -> None:
    fake = org(_invoice("I1"), _invoice("I2"))
    fake.objects["Invoices"][0]["UpdatedDateUTC"] = ms_date(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    fake.register(mock)

    bar = bar_of(source(), since={"Invoices": "2026-06-15T00:00:00+00:00"})

    # the contact (no cursor) and I2 changed; I1 is older, but I1 and I2 are open: read again
    assert bar.seen[-1] == (1 + 1 + 2, 1 + 1 + 2)


def test_a_second_pull_sends_if_modified_since_and_yields_only_what_changed(
    mock: responses.RequestsMock,
) -> None:
    fake = org(_invoice("I1"), _invoice("I2"))
    fake.objects["Invoices"][0]["UpdatedDateUTC"] = ms_date(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    fake.register(mock)
    xero_source = source()

    first = list(xero_source.pull())
    cursors = xero_source.cursors()

    assert set(pulled(first)) == {C1, "I1", "I2"}
    assert cursors == {
        "Contacts": "2026-06-30T09:00:00+00:00",
        "Invoices": "2026-06-30T09:00:00+00:00",
    }
    assert xero_source.data_as_of() == dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.UTC)

    later = dt.datetime(2026, 7, 1, 8, 30, 15, 250000, tzinfo=dt.UTC)
    fake.objects["Invoices"][1].update(
        AmountDue=number(D("0.00")), Status="PAID", UpdatedDateUTC=ms_date(later)
    )
    fake.add("Invoices", {**invoice(_invoice("I3"), {}), "UpdatedDateUTC": ms_date(later)})
    fake.requests.clear()

    second = list(xero_source.pull(cursors))

    records = pulled(second)
    # The contact sits on its cursor's second and is read again; I1 is older, but still open
    # (AUTHORISED), so it is verified again.
    assert set(records) == {C1, "I1", "I2", "I3"}
    assert the(records, "I2", Invoice).status is InvoiceStatus.PAID
    sent: dict[str, Any] = {}  # each endpoint's first request
    for request in fake.requests:
        sent.setdefault(urlsplit(request.url).path.rsplit("/", 1)[-1], request.headers)
    assert sent["Invoices"]["If-Modified-Since"] == "2026-06-30T09:00:00"
    assert sent["Contacts"]["If-Modified-Since"] == "2026-06-30T09:00:00"
    assert "If-Modified-Since" not in sent["Payments"]  # no cursor yet: read whole
    assert xero_source.cursors() == {
        "Contacts": "2026-06-30T09:00:00+00:00",
        "Invoices": "2026-07-01T08:30:15.250000+00:00",
    }
    assert set(ENDPOINTS) == set(sent)


def test_a_partial_payment_that_does_not_move_the_stamp_is_seen_next_run(
    mock: responses.RequestsMock,
) -> None:
    """A payment lowers an invoice's AmountDue; Xero does not document that it moves the
    invoice's UpdatedDateUTC, so the incremental run reads the AUTHORISED invoices again (and
    the one paid off by `IDs=`, through its payment), over the records kept from the first."""
    owed, small, settled = (
        "4f7bc0a1-3c4e-4b8e-9d3a-0c1f5e2a7b11",
        "9a2e6d54-71b0-4c3f-8e5d-2b7f0a1c9d22",
        "0c8d1e2f-5a6b-4c7d-9e8f-1a2b3c4d5e33",
    )
    fake = org(
        _invoice(owed, total=D("1250.50"), open_balance=D("1250.50")),
        _invoice(small, total=D("400.00"), open_balance=D("400.00")),
        _invoice(settled, open_balance=D("0"), status=InvoiceStatus.PAID),  # holds the cursor
    )
    older = ms_date(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    for entity in fake.objects["Invoices"][:2]:
        entity["UpdatedDateUTC"] = older
    fake.register(mock)
    xero_source = source()
    currencies = frozenset({"USD"})
    first = pull_into(xero_source, currencies, BarRecorder())
    kept = [
        (RECORD_TYPES[type(p.record)], p.record.model_dump(mode="json"), p.location)
        for p in first.pulled
    ]

    # 1,000.00 of the first paid, the second paid off: the payments are new, the invoices'
    # UpdatedDateUTC stays as it was.
    fake.objects["Invoices"][0].update(AmountDue=number(D("250.50")), AmountPaid=number(D("1000")))
    fake.objects["Invoices"][1].update(
        AmountDue=number(D("0.00")), AmountPaid=number(D("400.00")), Status="PAID"
    )
    later = ms_date(dt.datetime(2026, 7, 1, 8, 30, tzinfo=dt.UTC))
    for n, (target, amount) in enumerate(((owed, D("1000.00")), (small, D("400.00")))):
        cash = Payment(
            id=f"b1d2c3e4-0000-4000-8000-00000000000{n}",
            customer_id=C1,
            currency="USD",
            amount=amount,
            received_date=day("2026-07-01"),
            applications=(Application(invoice_id=target, amount=amount),),
        )
        fake.add(
            "Payments", {**payment(cash, {C1: "Ridgeway University"}), "UpdatedDateUTC": later}
        )
    fake.requests.clear()
    bar = BarRecorder()

    second = pull_into(xero_source, currencies, bar, since=xero_source.cursors(), kept=kept)

    invoices = second.builder.build(as_of=dt.date(2026, 7, 1)).invoices
    balances = dict(zip(invoices["invoice_id"], invoices["open_minor"], strict=True))
    assert balances == {owed: 25050, small: 0, settled: 0}
    assert second.incremental
    invoice_calls = [
        (parse_qs(urlsplit(r.url).query), r.headers.get("If-Modified-Since"))
        for r in fake.requests
        if urlsplit(r.url).path.endswith("/Invoices")
    ]
    where = ['Type=="ACCREC"']
    assert invoice_calls == [  # two calls more than the changes alone
        ({"page": ["1"], "where": where}, "2026-06-30T09:00:00"),
        ({"page": ["1"], "where": where, "Statuses": ["AUTHORISED"]}, None),
        ({"page": ["1"], "where": where, "IDs": [small]}, None),
    ]
    # the contact and the settled invoice sit on their cursor's second; one open; one by id;
    # the two payments
    assert bar.seen[-1] == (1 + 1 + 1 + 1 + 2, 1 + 1 + 1 + 1 + 2)
    yielded = [p.record.id for p in second.pulled if isinstance(p.record, Invoice)]
    assert yielded == [settled, owed, small]  # each once


def test_a_contact_archived_after_the_first_pull_is_read_again_with_its_new_invoice(
    mock: responses.RequestsMock,
) -> None:
    fake = org(_invoice("I1"))
    fake.register(mock)
    xero_source = source()
    list(xero_source.pull())
    cursors = xero_source.cursors()

    later = ms_date(dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC))
    fake.objects["Contacts"][0].update(ContactStatus="ARCHIVED", UpdatedDateUTC=later)
    fake.add("Invoices", {**invoice(_invoice("I2"), {}), "UpdatedDateUTC": later})
    fake.requests.clear()

    records = pulled(list(xero_source.pull(cursors)))

    assert set(records) == {C1, "I1", "I2"}  # I1 sits on its cursor's second: read again
    assert the(records, C1, Customer).name == "Ridgeway University"
    contacts = next(r for r in fake.requests if urlsplit(r.url).path.endswith("/Contacts"))
    assert contacts.headers["If-Modified-Since"] == "2026-06-30T09:00:00"
    assert parse_qs(urlsplit(contacts.url).query)["includeArchived"] == ["true"]
    assert xero_source.cursors()["Contacts"] == "2026-07-01T08:00:00+00:00"


# --------------------------------------------------------------------------- control balances

KATHERINE = "5cc8cf28-567e-4d43-b287-687cfcaec47c"


def _balances(outstanding: Decimal, overdue: Decimal) -> dict[str, Any]:
    """A contact's `Balances`, as Xero's getContacts example shows them."""
    return {
        "AccountsReceivable": {"Outstanding": number(outstanding), "Overdue": number(overdue)},
        "AccountsPayable": {"Outstanding": number(D("231.60")), "Overdue": number(D("360.00"))},
    }


def _with_balances() -> FakeXero:
    fake = org(_invoice("I1"))
    fake.objects["Contacts"][0]["Balances"] = _balances(D("760.00"), D("920.00"))
    katherine = contact(Customer(id=KATHERINE, name="Katherine Warren", currency="USD"))
    del katherine["DefaultCurrency"]  # the organisation's base currency
    katherine.update(IsSupplier=True, Balances=_balances(D("-43.60"), D("0.00")))
    supplier = {
        **contact(Customer(id="supplier", name="Paper Supplies", currency="USD")),
        "IsSupplier": True,
        "IsCustomer": False,
        "Balances": _balances(D("0.00"), D("0.00")),
    }
    quiet = {  # an archived customer owing nothing
        **contact(Customer(id="quiet", name="Quiet Ltd", currency="EUR")),
        "ContactStatus": "ARCHIVED",
        "Balances": _balances(D("0.00"), D("0.00")),
    }
    bare = contact(Customer(id="bare", name="No Balances Sent", currency="USD"))
    fake.add("Contacts", katherine, supplier, quiet, bare)
    fake.organisation = {**fake.organisation, "BaseCurrency": "NZD"}
    return fake


def test_control_balances_of_a_full_pull_are_the_contacts_it_read_at_no_call_more(
    mock: responses.RequestsMock,
) -> None:
    fake = _with_balances()
    fake.register(mock)
    reading = source()
    list(reading.pull())
    calls = len(mock.calls)

    with capture_logs() as logs:
        control = reading.control_balances()

    assert control == ControlBalances(
        "Xero Balances.AccountsReceivable.Outstanding (read as net of credit)",
        Basis.NET,
        (
            ControlBalance(C1, "USD", D("760.00")),
            ControlBalance(KATHERINE, "NZD", D("-43.60")),
            ControlBalance("quiet", "EUR", D("0.00")),
        ),
        every_customer=False,
    )
    assert len(mock.calls) == calls
    events = [e for e in logs if e["event"].startswith("erp.control_balance")]
    assert events == [
        {
            "event": "erp.control_balance_skipped",
            "erp": "xero",
            "record": "xero:Contacts/bare",
            "reason": "Balances.AccountsReceivable.Outstanding is empty",
            "log_level": "debug",
        },
        {
            "event": "erp.control_balances_read",
            "erp": "xero",
            "customers": 3,
            "calls": 0,
            "reused": True,
            "log_level": "info",
        },
    ]


def test_control_balances_after_an_incremental_pull_read_every_contact_again(
    mock: responses.RequestsMock,
) -> None:
    fake = _with_balances()
    fake.register(mock)
    reading = source()
    list(reading.pull())
    cursors = reading.cursors()
    list(reading.pull(cursors))
    # A payment lowered what Katherine owes; Xero does not move UpdatedDateUTC for that.
    fake.objects["Contacts"][1]["Balances"] = _balances(D("415.25"), D("0.00"))
    after_pull = (reading.cursors(), reading.extent(), reading.done())
    fake.requests.clear()

    control = reading.control_balances()

    assert control.balances == (
        ControlBalance(C1, "USD", D("760.00")),
        ControlBalance(KATHERINE, "NZD", D("415.25")),
        ControlBalance("quiet", "EUR", D("0.00")),
    )
    assert [(urlsplit(r.url).path, parse_qs(urlsplit(r.url).query)) for r in fake.requests] == [
        ("/api.xro/2.0/Contacts", {"page": ["1"], "includeArchived": ["true"]})
    ]
    assert "If-Modified-Since" not in fake.requests[0].headers
    assert (reading.cursors(), reading.extent(), reading.done()) == after_pull
