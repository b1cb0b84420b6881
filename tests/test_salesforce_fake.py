"""The Salesforce fake, driven through the real simple-salesforce client.

These tests pin the fake to the shapes the documentation prints and simple-salesforce parses,
so that the connector's own tests can trust it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes.salesforce import (
    KINDS,
    Fault,
    FieldSpec,
    PicklistValue,
    SObjectType,
    canonical_id,
    id18,
)
from fakes.salesforce import FakeSalesforce as Fake
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

TIERS = ("Healthy", "Watch", "At risk")


@pytest.fixture
def fake() -> Fake:
    org = Fake()
    org.add_field(FieldSpec("AR_Balance__c", "currency", precision=16, scale=2))
    org.add_field(
        FieldSpec(
            "AR_Tier__c",
            "picklist",
            length=255,
            restrictedPicklist=True,
            picklistValues=(*TIERS, PicklistValue("Retired", active=False)),
        )
    )
    org.add_field(FieldSpec("AR_Summary__c", "string", length=20))
    org.add_field(FieldSpec("AR_As_Of__c", "date"))
    org.add_field(FieldSpec("AR_Days_Late__c", "double", precision=4, scale=0))
    return org


@pytest.fixture
def mock(fake: Fake) -> Iterator[responses.RequestsMock]:
    with fake.running() as rsps:
        yield rsps


@pytest.fixture
def sf(fake: Fake, mock: responses.RequestsMock) -> Salesforce:
    return Salesforce(instance_url=fake.instance_url, session_id=fake.issue_token())


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def password_login(fake: Fake) -> Salesforce:
    return Salesforce(
        username=fake.username, password=fake.password, security_token=fake.security_token
    )


def rest(sf: Salesforce, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A REST call through simple-salesforce's own request method, as the connector makes."""
    response: requests.Response = sf._call_salesforce(method, sf.base_url + path, **kwargs)
    return response


def collection(records: list[dict[str, Any]], all_or_none: bool = False) -> dict[str, Any]:
    return {
        "allOrNone": all_or_none,
        "records": [{"attributes": {"type": "Account"}, **r} for r in records],
    }


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# -- ids and describe -----------------------------------------------------------------------


def test_ids_are_18_characters_with_the_case_checksum() -> None:
    assert id18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert canonical_id("001a0000006vM9RIAC") == "001A0000006Vm9rIAC"
    assert canonical_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert canonical_id("001-not-an-id") is None


def test_describe_lists_the_fields_with_the_documented_keys(fake: Fake, sf: Salesforce) -> None:
    answer = sf.Account.describe()

    assert answer["name"] == "Account"
    fields = {f["name"]: f for f in answer["fields"]}
    assert {"Id", "Name", "ERP_Customer_Id__c", "OwnerId"} <= set(fields)
    for entry in fields.values():
        assert {
            "name",
            "label",
            "type",
            "length",
            "precision",
            "scale",
            "updateable",
            "nillable",
            "externalId",
            "idLookup",
            "restrictedPicklist",
            "picklistValues",
        } <= set(entry)
    assert fields["Id"]["type"] == "id"
    assert not fields["Id"]["updateable"]
    assert fields["Id"]["idLookup"]
    erp = fields["ERP_Customer_Id__c"]
    assert (erp["type"], erp["length"], erp["externalId"], erp["idLookup"], erp["unique"]) == (
        "string",
        64,
        True,
        True,
        True,
    )
    assert fields["OwnerId"]["type"] == "reference"
    assert (fields["AR_Balance__c"]["precision"], fields["AR_Balance__c"]["scale"]) == (16, 2)
    tier = fields["AR_Tier__c"]
    assert tier["restrictedPicklist"]
    assert tier["picklistValues"][0] == {
        "active": True,
        "defaultValue": False,
        "label": "Healthy",
        "validFor": None,
        "value": "Healthy",
    }
    assert not tier["picklistValues"][-1]["active"]
    # simple-salesforce asks without a trailing slash; the documented URI has one
    assert fake.calls[-1].path.endswith("/sobjects/Account/describe")
    assert rest(sf, "GET", "sobjects/Account/describe/").json()["name"] == "Account"
    assert fake.count("describe") == 2


# -- query ----------------------------------------------------------------------------------


def test_query_pages_hold_2000_records_and_link_the_next_page(fake: Fake, sf: Salesforce) -> None:
    fake.seed_accounts(2001)

    first = sf.query("SELECT Id, ERP_Customer_Id__c FROM Account")

    assert (first["totalSize"], first["done"], len(first["records"])) == (2001, False, 2000)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    record = first["records"][0]
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{record['Id']}",
    }
    last = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert (last["done"], len(last["records"]), "nextRecordsUrl" in last) == (True, 1, False)
    assert last["records"][0]["ERP_Customer_Id__c"] == "C02001"


def test_query_all_follows_every_page_and_shows_missing_fields_as_null(
    fake: Fake, sf: Salesforce
) -> None:
    small = Fake(query_page_size=3)
    small.add_field(FieldSpec("AR_Balance__c", "currency", precision=16, scale=2))
    small.seed_accounts(7)
    with small.running():
        client = Salesforce(instance_url=small.instance_url, session_id=small.issue_token())
        everything = client.query_all(
            "SELECT Id, Name, AR_Balance__c FROM Account ORDER BY Name DESC"
        )
    assert small.count("query") == 3
    assert everything["totalSize"] == 7
    names = [r["Name"] for r in everything["records"]]
    assert names == sorted(names, reverse=True)
    assert {r["AR_Balance__c"] for r in everything["records"]} == {None}

    fake.seed_accounts(450)
    batch = rest(
        sf,
        "GET",
        "query/",
        params={"q": "SELECT Id FROM Account"},
        headers={"Sforce-Query-Options": "batchSize=200"},
    ).json()
    assert (len(batch["records"]), batch["nextRecordsUrl"][-4:]) == (200, "-200")


def test_soql_literals_round_trip_quotes_and_backslashes(fake: Fake, sf: Salesforce) -> None:
    tricky = ["O'Brien\\x", 'a"b', "tab\there", "new\nline", "100%_done"]
    ids = {key: fake.add_account(ERP_Customer_Id__c=key) for key in tricky}
    fake.seed_accounts(3)

    soql = format_soql(
        "SELECT Id, ERP_Customer_Id__c FROM Account WHERE ERP_Customer_Id__c IN {keys}",
        keys=tricky,
    )
    found = sf.query(soql)["records"]

    assert {r["ERP_Customer_Id__c"]: r["Id"] for r in found} == ids
    assert fake.soql_literals[-len(tricky) :] == tricky
    assert fake.queries[-1] == soql


def test_soql_string_comparison_ignores_case_and_like_escapes(fake: Fake, sf: Salesforce) -> None:
    fake.add_account(ERP_Customer_Id__c="ab-1", Name="Acme")
    fake.add_account(ERP_Customer_Id__c="AB-1", Name="Acme Two")
    fake.add_account(ERP_Customer_Id__c="50%", Name="Half")

    same = sf.query("SELECT Id FROM Account WHERE ERP_Customer_Id__c = 'Ab-1'")
    assert same["totalSize"] == 2  # SOQL = is case-insensitive: a duplicate-match hazard
    like = sf.query("SELECT Id, Name FROM Account WHERE ERP_Customer_Id__c LIKE '50\\%'")
    assert [r["Name"] for r in like["records"]] == ["Half"]
    both = sf.query(
        "SELECT Name FROM Account WHERE (Name = 'Acme' OR Name = 'Half') AND AR_Balance__c = null"
    )
    assert {r["Name"] for r in both["records"]} == {"Acme", "Half"}


def test_external_ids_compare_as_describe_says_case_sensitive_or_not(
    fake: Fake, sf: Salesforce
) -> None:
    fake.add_field(FieldSpec("Legacy_Code__c", "string", length=20, caseSensitive=True))
    fake.add_account(ERP_Customer_Id__c="c00016", Legacy_Code__c="ab")
    fake.add_account(ERP_Customer_Id__c="C00583", Legacy_Code__c="AB")
    fake.add_account(ERP_Customer_Id__c="c00583", Legacy_Code__c="Ab")

    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    found = sf.query(
        "SELECT ERP_Customer_Id__c FROM Account WHERE ERP_Customer_Id__c IN ('C00016', 'C00583')"
    )
    exact = sf.query("SELECT ERP_Customer_Id__c FROM Account WHERE Legacy_Code__c IN ('AB')")

    assert fields["ERP_Customer_Id__c"]["caseSensitive"] is False
    assert fields["Legacy_Code__c"]["caseSensitive"] is True
    assert sorted(r["ERP_Customer_Id__c"] for r in found["records"]) == [
        "C00583",
        "c00016",
        "c00583",
    ]
    assert [r["ERP_Customer_Id__c"] for r in exact["records"]] == ["C00583"]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Account WHERE Name IN ('O'Brien')", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'bad \\x escape'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY"),
        ('SELECT Id FROM Account WHERE Name = "double quotes"', "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY"),
        ("SELECT Id, Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE AR_Balance__c = '12'", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Id IN ('not-an-id')", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Contact", "INVALID_TYPE"),
    ],
)
def test_bad_soql_is_refused_with_the_documented_error(
    sf: Salesforce, soql: str, code: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query(soql)
    assert refused.value.status == 400
    assert refused.value.content[0]["errorCode"] == code


def test_a_query_longer_than_the_uri_limit_is_refused_with_414(fake: Fake, sf: Salesforce) -> None:
    keys = [f"CUSTOMER-{i:06d}" for i in range(1200)]
    soql = format_soql("SELECT Id FROM Account WHERE ERP_Customer_Id__c IN {keys}", keys=keys)

    with pytest.raises(SalesforceGeneralError) as refused:
        sf.query(soql)

    assert refused.value.status == 414
    assert fake.api_calls_used == 0  # refused before it reached the API
    assert sf.query(format_soql("SELECT Id FROM Account WHERE Name IN {k}", k=keys[:300]))


# -- sObject Rows update ---------------------------------------------------------------------


def test_a_single_record_update_answers_204_and_stores_the_values(
    fake: Fake, sf: Salesforce
) -> None:
    account, other = fake.seed_accounts(2)
    before = fake.account(account)["LastModifiedDate"]
    values = {"AR_Balance__c": 1234.567, "AR_Tier__c": "Watch", "AR_As_Of__c": "2024-05-31"}

    status = sf.Account.update(account, values)
    again = sf.Account.update(other[:15], {"AR_Summary__c": None})

    assert (status, again) == (204, 204)
    assert fake.account(account)["AR_Balance__c"] == 1234.57  # stored at the field's scale
    assert fake.account(account)["AR_Tier__c"] == "Watch"
    assert fake.account(account)["AR_As_Of__c"] == "2024-05-31"
    assert fake.account(account)["LastModifiedDate"] >= before
    assert fake.account(other)["AR_Summary__c"] is None
    call = fake.calls_of("sobject_update")[0]
    assert (call.method, call.path, call.status) == (
        "PATCH",
        f"/services/data/v59.0/sobjects/Account/{account}",
        204,
    )
    assert fake.count("sobject_update") == 2
    assert fake.api_calls_used == 2
    assert fake.written_fields() == {*values, "AR_Summary__c"}


def test_a_refused_single_record_update_answers_the_error_and_stores_nothing(
    fake: Fake, sf: Salesforce
) -> None:
    refused, gone = fake.seed_accounts(2)
    fake.delete_account(gone)
    fake.validation_rules.append(
        lambda account_id, values: (
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Balance must not be negative", ["AR_Balance__c"])
            if (values.get("AR_Balance__c") or 0) < 0
            else None
        )
    )

    with pytest.raises(SalesforceMalformedRequest) as by_rule:
        sf.Account.update(refused, {"AR_Balance__c": -5, "AR_Tier__c": "Watch"})
    with pytest.raises(SalesforceMalformedRequest) as by_picklist:
        sf.Account.update(refused, {"AR_Tier__c": "Retired"})
    with pytest.raises(SalesforceMalformedRequest) as by_json:
        sf.Account.update(refused, {"AR_Balance__c": "lots"})
    with pytest.raises(SalesforceResourceNotFound) as deleted:
        sf.Account.update(gone, {"AR_Balance__c": 1})
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Account.update(id18("001Hs0000ZZZZZZ"), {"AR_Balance__c": 1})

    assert by_rule.value.status == 400
    assert by_rule.value.content == [
        {
            "message": "Balance must not be negative",
            "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "fields": ["AR_Balance__c"],
        }
    ]
    assert by_picklist.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert by_picklist.value.content[0]["fields"] == ["AR_Tier__c"]
    assert by_json.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert deleted.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert missing.value.content == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    assert "AR_Balance__c" not in fake.account(refused)
    assert "AR_Tier__c" not in fake.account(refused)
    assert [c.status for c in fake.calls_of("sobject_update")] == [400, 400, 400, 404, 404]
    assert fake.api_calls_used == 5


def test_a_single_record_update_takes_faults_and_locks_of_its_own_kind(
    fake: Fake, sf: Salesforce
) -> None:
    (account,) = fake.seed_accounts(1)
    fake.fail_next("sobject_update", Fault.server_unavailable())
    fake.fail_next("composite", Fault.server_unavailable())
    fake.lock_records([account])

    with pytest.raises(SalesforceGeneralError) as unavailable:
        sf.Account.update(account, {"AR_Balance__c": 5})
    with pytest.raises(SalesforceMalformedRequest) as locked:
        sf.Account.update(account, {"AR_Balance__c": 5})
    assert sf.Account.update(account, {"AR_Balance__c": 5}) == 204

    assert unavailable.value.status == 503
    assert locked.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert fake.account(account)["AR_Balance__c"] == 5.0
    assert fake.count("composite") == 0  # the composite fault is still queued, untouched


# -- sObject Collections ------------------------------------------------------------------------


def test_collections_answer_each_record_in_input_order(fake: Fake, sf: Salesforce) -> None:
    ok, too_long, bad_tier, refused, inactive, by_short_id, unnamed, system = fake.seed_accounts(8)
    fake.validation_rules.append(
        lambda account_id, values: (
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Balance must not be negative", ["AR_Balance__c"])
            if (values.get("AR_Balance__c") or 0) < 0
            else None
        )
    )
    missing = id18("001Hs0000ZZZZZZ")
    records = [
        {"id": ok, "AR_Balance__c": 1234.567, "AR_Tier__c": "Watch", "AR_As_Of__c": "2024-05-31"},
        {"id": too_long, "AR_Summary__c": "x" * 21},
        {"id": bad_tier, "AR_Tier__c": "Doomed"},
        {"id": refused, "AR_Balance__c": -5},
        {"id": inactive, "AR_Tier__c": "Retired"},
        {"id": missing, "AR_Balance__c": 1},
        {"id": "001bad", "AR_Balance__c": 1},
        {"Id": by_short_id[:15], "AR_Days_Late__c": 12345},
        {"id": unnamed, "Name": None},
        {"id": system, "LastModifiedDate": "2024-01-01T00:00:00Z"},
        {"id": ok, "AR_Balance__c": 1},
    ]

    answer = sf.restful("composite/sobjects", method="PATCH", json=collection(records))

    assert [a["success"] for a in answer] == [True, *[False] * 10]
    assert answer[0] == {"id": ok, "success": True, "errors": []}
    codes = [a["errors"][0]["statusCode"] for a in answer[1:]]
    assert codes == [
        "STRING_TOO_LONG",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_CROSS_REFERENCE_KEY",
        "MALFORMED_ID",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "REQUIRED_FIELD_MISSING",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "DUPLICATE_VALUE",
    ]
    assert answer[1]["errors"][0]["fields"] == ["AR_Summary__c"]
    assert answer[3]["errors"][0]["fields"] == ["AR_Balance__c"]
    assert all("id" not in a for a in answer[1:])  # as documented: match answers by position
    assert fake.account(ok)["AR_Balance__c"] == 1234.57
    assert fake.account(ok)["AR_Tier__c"] == "Watch"
    assert fake.account(ok)["AR_As_Of__c"] == "2024-05-31"
    assert fake.account(refused).get("AR_Balance__c") is None
    assert fake.written_fields() >= {"AR_Balance__c", "AR_Summary__c", "Name", "LastModifiedDate"}
    assert "id" not in fake.written_fields()


def test_all_or_none_rolls_every_record_back(fake: Fake, sf: Salesforce) -> None:
    first, second = fake.seed_accounts(2)

    answer = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json=collection(
            [{"id": first, "AR_Balance__c": 10}, {"id": second, "AR_Tier__c": "Nope"}],
            all_or_none=True,
        ),
    )

    assert answer[0] == {
        "id": first,
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the "
                "request was using AllOrNone header",
                "fields": [],
            }
        ],
    }
    assert answer[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert "AR_Balance__c" not in fake.account(first)


def test_more_than_200_records_are_refused_whole(fake: Fake, sf: Salesforce) -> None:
    ids = fake.seed_accounts(201)

    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.restful(
            "composite/sobjects",
            method="PATCH",
            json=collection([{"id": i, "AR_Balance__c": 1} for i in ids]),
        )

    assert refused.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert all("AR_Balance__c" not in fake.account(i) for i in ids)
    answer = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json=collection([{"id": i, "AR_Balance__c": 1} for i in ids[:200]]),
    )
    assert len(answer) == 200


def test_an_unknown_field_or_a_non_number_fails_the_whole_request(
    fake: Fake, sf: Salesforce
) -> None:
    (account,) = fake.seed_accounts(1)
    for record, code in [
        ({"id": account, "Nope__c": 1}, "INVALID_FIELD"),
        ({"id": account, "AR_Balance__c": "lots"}, "JSON_PARSER_ERROR"),
        ({"id": account, "AR_As_Of__c": "31/05/2024"}, "JSON_PARSER_ERROR"),
    ]:
        with pytest.raises(SalesforceMalformedRequest) as refused:
            sf.restful("composite/sobjects", method="PATCH", json=collection([record]))
        assert refused.value.content[0]["errorCode"] == code


def test_a_deleted_account_is_not_found_and_cannot_be_updated(fake: Fake, sf: Salesforce) -> None:
    gone, kept = fake.seed_accounts(2)
    fake.delete_account(gone)

    found = sf.query(format_soql("SELECT Id FROM Account WHERE Id IN {ids}", ids=[gone, kept]))
    answer = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json=collection([{"id": gone, "AR_Balance__c": 1}, {"id": kept, "AR_Balance__c": 2}]),
    )

    assert [r["Id"] for r in found["records"]] == [kept]
    assert answer[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert answer[1]["success"]


def test_a_locked_row_fails_once_then_succeeds(fake: Fake, sf: Salesforce) -> None:
    account, other = fake.seed_accounts(2)
    fake.lock_records([account])
    body = collection([{"id": account, "AR_Balance__c": 5}, {"id": other, "AR_Balance__c": 6}])

    first = sf.restful("composite/sobjects", method="PATCH", json=body)
    second = sf.restful("composite/sobjects", method="PATCH", json=body)

    assert first[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert first[1]["success"]
    assert second[0]["success"]
    assert fake.account(account)["AR_Balance__c"] == 5.0


# -- Bulk API 2.0 ---------------------------------------------------------------------------


def test_bulk_job_lifecycle_keeps_empty_cells_and_clears_na(fake: Fake, sf: Salesforce) -> None:
    keep, clear, refused, locked = fake.seed_accounts(4)
    for account in (keep, clear, refused, locked):
        fake.accounts[account] |= {"AR_Summary__c": "before", "AR_Balance__c": 9.0}
    fake.lock_records([locked])
    fake.validation_rules.append(
        lambda account_id, values: (
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Tier needs a balance", ["AR_Tier__c"])
            if account_id == refused
            else None
        )
    )

    created = rest(
        sf,
        "POST",
        "jobs/ingest",
        json={"object": "Account", "operation": "update", "contentType": "CSV", "lineEnding": "LF"},
    ).json()
    assert (created["state"], created["id"][:3], created["contentType"]) == ("Open", "750", "CSV")
    assert created["contentUrl"] == f"services/data/v59.0/jobs/ingest/{created['id']}/batches"
    job = f"jobs/ingest/{created['id']}"
    data = (
        "Id,AR_Summary__c,AR_Balance__c,AR_Tier__c\n"
        f"{keep},,100.5,Healthy\n"
        f"{clear},#N/A,#N/A,Watch\n"
        f"{refused},after,1,At risk\n"
        f"{locked},after,2,\n"
    )
    uploaded = rest(sf, "PUT", f"{job}/batches", data=data, headers={"Content-Type": "text/csv"})
    assert uploaded.status_code == 201
    closed = rest(sf, "PATCH", job, json={"state": "UploadComplete"}).json()
    assert closed["state"] == "UploadComplete"
    states = [rest(sf, "GET", job).json() for _ in range(2)]
    assert [s["state"] for s in states] == ["InProgress", "JobComplete"]
    assert (states[1]["numberRecordsProcessed"], states[1]["numberRecordsFailed"]) == (4, 2)

    succeeded = csv_rows(rest(sf, "GET", f"{job}/successfulResults/").text)
    failed = csv_rows(rest(sf, "GET", f"{job}/failedResults/").text)
    unprocessed = csv_rows(rest(sf, "GET", f"{job}/unprocessedrecords/").text)

    assert sorted(r["sf__Id"] for r in succeeded) == sorted([keep, clear])
    assert {r["sf__Created"] for r in succeeded} == {"false"}
    assert set(succeeded[0]) == {
        "sf__Id",
        "sf__Created",
        "Id",
        "AR_Summary__c",
        "AR_Balance__c",
        "AR_Tier__c",
    }
    errors = {r["Id"]: r["sf__Error"] for r in failed}
    assert errors[refused] == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION:Tier needs a balance:AR_Tier__c --"
    )
    assert errors[locked].startswith("UNABLE_TO_LOCK_ROW:")
    assert unprocessed == []
    assert fake.account(keep)["AR_Summary__c"] == "before"  # the empty cell left it alone
    assert fake.account(keep)["AR_Balance__c"] == 100.5
    assert fake.account(clear)["AR_Summary__c"] is None  # #N/A cleared it
    assert fake.account(clear)["AR_Balance__c"] is None
    assert fake.account(refused)["AR_Summary__c"] == "before"
    assert fake.written_fields() >= {"AR_Summary__c", "AR_Balance__c", "AR_Tier__c"}
    kinds = [c.kind for c in fake.calls]
    assert kinds[:5] == ["bulk_create", "bulk_upload", "bulk_close", "bulk_status", "bulk_status"]


def test_simple_salesforce_bulk2_update_runs_against_the_fake(fake: Fake, sf: Salesforce) -> None:
    accounts = fake.seed_accounts(3)
    fake.lock_records(accounts[2:])

    results = sf.bulk2.Account.update(
        records=[{"Id": a, "AR_Tier__c": "Watch"} for a in accounts], wait=0
    )

    assert results[0]["numberRecordsProcessed"] == 3
    assert results[0]["numberRecordsFailed"] == 1
    failed = csv_rows(sf.bulk2.Account.get_failed_records(results[0]["job_id"]))
    assert [r["Id"] for r in failed] == [accounts[2]]
    assert fake.account(accounts[0])["AR_Tier__c"] == "Watch"


def test_a_bulk_job_can_be_aborted_or_fail_and_keeps_its_rows_unprocessed(
    fake: Fake, sf: Salesforce
) -> None:
    (account,) = fake.seed_accounts(1)
    data = f"Id,AR_Balance__c\n{account},3\n"

    def job_with_data() -> str:
        created = rest(sf, "POST", "jobs/ingest", json={"object": "Account", "operation": "update"})
        path = f"jobs/ingest/{created.json()['id']}"
        rest(sf, "PUT", f"{path}/batches", data=data, headers={"Content-Type": "text/csv"})
        return path

    aborted = job_with_data()
    assert rest(sf, "PATCH", aborted, json={"state": "Aborted"}).json()["state"] == "Aborted"
    assert fake.count("bulk_abort") == 1
    assert csv_rows(rest(sf, "GET", f"{aborted}/unprocessedrecords/").text) == [
        {"Id": account, "AR_Balance__c": "3"}
    ]

    fake.fail_bulk_job("InvalidBatch : something went wrong")
    failing = job_with_data()
    rest(sf, "PATCH", failing, json={"state": "UploadComplete"})
    rest(sf, "GET", failing)
    info = rest(sf, "GET", failing).json()
    assert (info["state"], info["errorMessage"]) == (
        "Failed",
        "InvalidBatch : something went wrong",
    )
    assert len(csv_rows(rest(sf, "GET", f"{failing}/unprocessedrecords/").text)) == 1
    assert "AR_Balance__c" not in fake.account(account)


def test_bulk_data_with_the_wrong_line_ending_or_an_unknown_column_fails_the_job(
    fake: Fake, sf: Salesforce
) -> None:
    (account,) = fake.seed_accounts(1)
    for data, message in [
        (f"Id,AR_Balance__c\r\n{account},3\r\n", "LineEnding is invalid"),
        (f"Id,Nope__c\n{account},3\n", "Field name not found : Nope__c"),
    ]:
        created = rest(sf, "POST", "jobs/ingest", json={"object": "Account", "operation": "update"})
        path = f"jobs/ingest/{created.json()['id']}"
        rest(sf, "PUT", f"{path}/batches", data=data, headers={"Content-Type": "text/csv"})
        rest(sf, "PATCH", path, json={"state": "UploadComplete"})
        rest(sf, "GET", path)
        info = rest(sf, "GET", path).json()
        assert info["state"] == "Failed"
        assert message in info["errorMessage"]


# -- faults, sessions, logins ---------------------------------------------------------------


def test_a_503_then_success(fake: Fake, sf: Salesforce) -> None:
    fake.seed_accounts(1)
    fake.fail_next("query", Fault.server_unavailable())

    with pytest.raises(SalesforceGeneralError) as unavailable:
        sf.query("SELECT Id FROM Account")

    assert unavailable.value.status == 503
    assert unavailable.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 1
    assert [c.status for c in fake.calls_of("query")] == [503, 200]


def test_faults_are_queued_per_kind_and_consumed_in_order(fake: Fake, sf: Salesforce) -> None:
    fake.fail_next("limits", Fault.request_limit_exceeded())
    fake.fail_next("limits", Fault.internal_error())
    fake.fail_next("describe", Fault.connection_reset())

    with pytest.raises(SalesforceRefusedRequest):
        sf.limits()
    with pytest.raises(SalesforceGeneralError) as internal:
        sf.limits()
    assert internal.value.status == 500
    assert sf.limits()["DailyApiRequests"]["Max"] == 100_000
    fake.fail_next("describe", Fault.read_timeout())
    with pytest.raises(requests.ConnectionError):
        sf.Account.describe()
    with pytest.raises(requests.Timeout):
        sf.Account.describe()
    assert sf.Account.describe()["name"] == "Account"
    assert [c.status for c in fake.calls_of("describe")] == [0, 0, 200]
    assert fake.api_calls_used == 4  # 403, 500, limits, describe: the drops never arrived


def test_an_answer_lost_after_the_commit_keeps_the_work_done(fake: Fake, sf: Salesforce) -> None:
    ids = fake.seed_accounts(2)
    fake.fail_next("composite", Fault.answer_lost())
    fake.fail_next("composite", Fault.answer_lost(timeout=True))
    body = collection(
        [{"attributes": {"type": "Account"}, "id": i, "Name": "Renamed"} for i in ids]
    )

    with pytest.raises(requests.ConnectionError):
        sf.restful("composite/sobjects", method="PATCH", json=body)
    with pytest.raises(requests.ReadTimeout):
        sf.restful("composite/sobjects", method="PATCH", json=body)

    assert [fake.account(i)["Name"] for i in ids] == ["Renamed", "Renamed"]
    assert [fake.saves[("Account", i)] for i in ids] == [2, 2]
    assert [c.status for c in fake.calls_of("composite")] == [0, 0]
    assert fake.api_calls_used == 2  # both reached the org


def test_a_session_expired_fault_ends_every_token(fake: Fake, sf: Salesforce) -> None:
    fake.fail_next("limits", Fault.session_expired())

    with pytest.raises(SalesforceExpiredSession):
        sf.limits()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")

    assert [c.status for c in fake.calls] == [401, 401]


def test_an_expired_given_token_answers_401(fake: Fake, sf: Salesforce) -> None:
    fake.expire_session()

    with pytest.raises(SalesforceExpiredSession) as expired:
        sf.query("SELECT Id FROM Account")

    assert expired.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert fake.api_calls_used == 0


def test_simple_salesforce_logs_in_again_after_an_expired_session(
    fake: Fake, mock: responses.RequestsMock
) -> None:
    client = password_login(fake)
    assert client.sf_instance == "acme.my.salesforce.com"
    first_token = client.session_id
    soap = fake.calls_of("login")[0]
    assert soap.path == "/services/Soap/u/59.0"

    fake.expire_session()
    client.query("SELECT Id FROM Account")
    fake.fail_next("composite", Fault.invalid_session())
    assert client.restful("composite/sobjects", method="PATCH", json=collection([])) is None

    assert fake.count("login") == 3
    assert client.session_id != first_token
    assert [c.status for c in fake.calls_of("query")] == [401, 200]


def test_wrong_credentials_are_refused_as_documented(
    fake: Fake, mock: responses.RequestsMock, rsa_keys: tuple[str, str]
) -> None:
    wrong = f"not-{fake.password}"
    with pytest.raises(SalesforceAuthenticationFailed) as soap:
        Salesforce(username=fake.username, password=wrong, security_token=fake.security_token)
    assert soap.value.code == "INVALID_LOGIN"

    with pytest.raises(SalesforceAuthenticationFailed) as oauth:
        Salesforce(
            username=fake.username,
            password=wrong,
            consumer_key=fake.consumer_key,
            consumer_secret=fake.consumer_secret,
        )
    assert (oauth.value.code, oauth.value.auth_message) == (
        "invalid_grant",
        "authentication failure",
    )

    private, _ = rsa_keys
    with (
        pytest.warns(UserWarning, match="self-authorize"),
        pytest.raises(SalesforceAuthenticationFailed) as jwt_refused,
    ):
        Salesforce(
            username="someone.else@acme.example", consumer_key=fake.consumer_key, privatekey=private
        )
    assert (jwt_refused.value.code, jwt_refused.value.auth_message) == (
        "invalid_grant",
        "user hasn't approved this consumer",
    )
    with pytest.raises(SalesforceAuthenticationFailed) as sandbox_host:
        Salesforce(
            username=fake.username,
            consumer_key=fake.consumer_key,
            privatekey=private,
            domain="test",
        )
    assert sandbox_host.value.auth_message == "authentication failure"


def test_jwt_and_oauth_password_logins_issue_working_tokens(
    rsa_keys: tuple[str, str],
) -> None:
    private, public = rsa_keys
    org = Fake(jwt_public_key=public)
    org.seed_accounts(2)
    with org.running():
        by_jwt = Salesforce(
            username=org.username, consumer_key=org.consumer_key, privatekey=private
        )
        by_password = Salesforce(
            username=org.username,
            password=org.password,
            consumer_key=org.consumer_key,
            consumer_secret=org.consumer_secret,
        )
        assert by_jwt.query("SELECT Id FROM Account")["totalSize"] == 2
        assert by_password.query("SELECT Id FROM Account")["totalSize"] == 2
        assert by_jwt.session_id != by_password.session_id
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = other_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        with pytest.raises(SalesforceAuthenticationFailed) as refused:
            Salesforce(username=org.username, consumer_key=org.consumer_key, privatekey=forged)
        assert refused.value.auth_message == "invalid assertion"

    grants = [parse(c.body or "") for c in org.calls_of("login")]
    assert grants[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert grants[1]["grant_type"] == "password"


def parse(form: str) -> dict[str, str]:
    return dict(parse_qsl(form))


# -- the API budget -------------------------------------------------------------------------


def test_every_rest_answer_reports_the_api_usage(fake: Fake, sf: Salesforce) -> None:
    usage_before = Fake(daily_used=41_000, daily_max=50_000)
    with usage_before.running():
        client = Salesforce(
            instance_url=usage_before.instance_url, session_id=usage_before.issue_token()
        )
        client.query("SELECT Id FROM Account")
        assert client.api_usage["api-usage"].used == 41_001
        assert client.api_usage["api-usage"].total == 50_000
        limits = client.limits()
        assert limits["DailyApiRequests"] == {"Max": 50_000, "Remaining": 8_998}
        assert usage_before.calls[-1].headers.get("authorization", "").startswith("Bearer ")

    sf.query("SELECT Id FROM Account")
    assert fake.calls[-1].status == 200
    assert sf.api_usage["api-usage"].used == fake.api_calls_used == 1


def test_the_daily_allocation_runs_out(fake: Fake, sf: Salesforce) -> None:
    fake.daily_max, fake.daily_used = 10, 9
    sf.query("SELECT Id FROM Account")

    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT Id FROM Account")

    assert refused.value.content[0] == {
        "message": "TotalRequests Limit exceeded.",
        "errorCode": "REQUEST_LIMIT_EXCEEDED",
    }
    assert fake.api_calls_used == 10


def test_unknown_resources_answer_404_and_are_recorded(fake: Fake, sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.restful("sobjects/Contact/describe")
    assert missing.value.content[0]["errorCode"] == "NOT_FOUND"
    assert fake.calls[-1].kind == "unknown"
    assert fake.api_calls_used == 1


# -- the direct transport -------------------------------------------------------------------


def test_the_direct_session_serves_the_same_fake_without_responses(fake: Fake) -> None:
    (account,) = fake.seed_accounts(1)
    client = Salesforce(
        instance_url=fake.instance_url, session_id=fake.issue_token(), session=fake.session()
    )
    fake.fail_next("sobject_update", Fault.server_unavailable())

    with pytest.raises(SalesforceGeneralError):
        client.Account.update(account, {"AR_Balance__c": 7})
    assert client.Account.update(account, {"AR_Balance__c": 7}) == 204
    assert client.query("SELECT Id, AR_Balance__c FROM Account")["records"][0]["AR_Balance__c"] == 7
    with pytest.raises(requests.ConnectionError):
        fake.session().get("https://example.com/")

    assert [c.kind for c in fake.calls] == ["sobject_update", "sobject_update", "query"]
    assert client.api_usage["api-usage"].used == fake.api_calls_used == 3
    assert fake.serving_seconds > 0


# -- more objects: Task, AR_Invoice__c, User --------------------------------------------------

TASK_SOQL = (
    "SELECT Id, WhatId, OwnerId, Subject, ActivityDate, Status, Priority, Description FROM Task "
    "WHERE AR_Sync_Task__c = true AND IsClosed = false AND WhatId IN {ids}"
)


def of_type(
    sobject: str, records: list[dict[str, Any]], all_or_none: bool = False
) -> dict[str, Any]:
    return {
        "allOrNone": all_or_none,
        "records": [{"attributes": {"type": sobject}, **r} for r in records],
    }


def test_task_and_invoice_describe_their_fields(fake: Fake, sf: Salesforce) -> None:
    task = sf.Task.describe()
    invoice = sf.AR_Invoice__c.describe()

    assert (task["name"], task["keyPrefix"], task["custom"]) == ("Task", "00T", False)
    assert (invoice["name"], invoice["keyPrefix"], invoice["custom"]) == (
        "AR_Invoice__c",
        "a0B",
        True,
    )
    assert invoice["urls"]["describe"] == "/services/data/v59.0/sobjects/AR_Invoice__c/describe"
    tasks = {f["name"]: f for f in task["fields"]}
    assert set(tasks) == {
        "Id",
        "CreatedDate",
        "LastModifiedDate",
        "Subject",
        "ActivityDate",
        "Status",
        "IsClosed",
        "Priority",
        "OwnerId",
        "WhatId",
        "Description",
        "AR_Sync_Task__c",
    }
    status = tasks["Status"]
    assert [v["value"] for v in status["picklistValues"]] == [
        "Not Started",
        "In Progress",
        "Completed",
        "Waiting on someone else",
        "Deferred",
    ]
    assert (status["defaultValue"], status["defaultedOnCreate"], status["nillable"]) == (
        "Not Started",
        True,
        False,
    )
    assert [v["value"] for v in tasks["Priority"]["picklistValues"] if v["defaultValue"]] == [
        "Normal"
    ]
    closed = tasks["IsClosed"]
    assert (closed["type"], closed["createable"], closed["updateable"]) == ("boolean", False, False)
    assert (tasks["OwnerId"]["referenceTo"], tasks["OwnerId"]["relationshipName"]) == (
        ["User"],
        "Owner",
    )
    assert (tasks["WhatId"]["type"], tasks["WhatId"]["referenceTo"]) == ("reference", ["Account"])
    assert (tasks["Description"]["type"], tasks["Description"]["length"]) == ("textarea", 32000)
    assert (tasks["AR_Sync_Task__c"]["type"], tasks["AR_Sync_Task__c"]["custom"]) == (
        "boolean",
        True,
    )
    assert not tasks["CreatedDate"]["createable"]
    assert not tasks["LastModifiedDate"]["updateable"]

    invoices = {f["name"]: f for f in invoice["fields"]}
    erp = invoices["ERP_Invoice_Id__c"]
    assert (erp["length"], erp["externalId"], erp["idLookup"], erp["unique"]) == (
        64,
        True,
        True,
        True,
    )
    account = invoices["Account__c"]
    assert (account["referenceTo"], account["relationshipName"]) == (["Account"], "Account__r")
    assert (account["createable"], account["updateable"], account["nillable"]) == (True, True, True)
    assert (invoices["Total_Amount__c"]["type"], invoices["Total_Amount__c"]["scale"]) == (
        "currency",
        2,
    )
    assert (invoices["Days_Overdue__c"]["type"], invoices["Days_Overdue__c"]["scale"]) == (
        "double",
        0,
    )
    assert [v["value"] for v in invoices["Status__c"]["picklistValues"]] == [
        "Open",
        "Paid",
        "Void",
        "Removed",
    ]
    assert (invoices["Currency__c"]["length"], invoices["Name"]["length"]) == (3, 80)
    assert invoices["Disputed__c"]["defaultedOnCreate"]
    assert [c.kind for c in fake.calls] == ["describe", "describe"]


def test_an_unknown_object_is_not_found(fake: Fake, sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as describe:
        sf.Invoice__c.describe()
    with pytest.raises(SalesforceResourceNotFound) as upsert:
        sf.restful(
            "composite/sobjects/Invoice__c/ERP_Invoice_Id__c",
            method="PATCH",
            json=of_type("Invoice__c", [{"ERP_Invoice_Id__c": "INV-1"}]),
        )
    with pytest.raises(SalesforceMalformedRequest) as query:
        sf.query("SELECT Id FROM Invoice__c")

    assert describe.value.status == 404
    assert describe.value.content == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    assert upsert.value.content[0]["errorCode"] == "NOT_FOUND"
    assert query.value.content[0]["errorCode"] == "INVALID_TYPE"
    assert [c.kind for c in fake.calls] == ["unknown", "unknown", "query"]
    assert sf.task.describe()["name"] == "Task"  # object names ignore case, as in the URL


def test_tasks_created_in_a_collection_come_back_from_the_worklist_query(
    fake: Fake, sf: Salesforce
) -> None:
    first, second, other = fake.seed_accounts(3)
    records = [
        {
            "WhatId": first,
            "Subject": "Call about INV-1",
            "AR_Sync_Task__c": True,
            "ActivityDate": "2024-06-03",
            "Description": "3 invoices overdue",
        },
        {"WhatId": second[:15], "Subject": "Chase", "AR_Sync_Task__c": True, "Priority": "High"},
        {"WhatId": first, "Subject": "Someone else's task"},
        {"WhatId": other, "Subject": "Elsewhere", "AR_Sync_Task__c": True},
        {
            "WhatId": second,
            "Subject": "Done already",
            "AR_Sync_Task__c": True,
            "Status": "Completed",
        },
    ]

    answer = sf.restful("composite/sobjects", method="POST", json=of_type("Task", records))
    found = sf.query(format_soql(TASK_SOQL, ids=[first, second]))

    assert [set(a) for a in answer] == [{"id", "success", "errors"}] * 5
    assert all(a["success"] and a["errors"] == [] for a in answer)
    ids = [a["id"] for a in answer]
    assert all(i.startswith("00T") and canonical_id(i) == i for i in ids)
    assert len(fake.records("Task")) == 5
    rows = {r["Id"]: r for r in found["records"]}
    assert set(rows) == {ids[0], ids[1]}
    assert rows[ids[0]] == {
        "attributes": {"type": "Task", "url": f"/services/data/v59.0/sobjects/Task/{ids[0]}"},
        "Id": ids[0],
        "WhatId": first,
        "OwnerId": fake.user_id,  # the integration user, as the org defaults it
        "Subject": "Call about INV-1",
        "ActivityDate": "2024-06-03",
        "Status": "Not Started",
        "Priority": "Normal",
        "Description": "3 invoices overdue",
    }
    assert (rows[ids[1]]["WhatId"], rows[ids[1]]["Priority"]) == (second, "High")
    stored = fake.record("Task", ids[2])
    assert (stored["AR_Sync_Task__c"], stored["IsClosed"]) == (False, False)
    assert fake.record("Task", ids[4])["IsClosed"] is True
    assert stored["CreatedDate"] == stored["LastModifiedDate"]
    assert fake.count("composite_create") == 1
    assert fake.written_fields_of("Task") >= {"WhatId", "Subject", "AR_Sync_Task__c", "Status"}
    assert fake.written_fields() == set()  # written_fields() is about Account
    ordered = sf.query(
        "SELECT Subject FROM Task WHERE AR_Sync_Task__c = true AND (Priority = 'High' "
        "OR ActivityDate = 2024-06-03) ORDER BY Subject DESC"
    )
    assert [r["Subject"] for r in ordered["records"]] == ["Chase", "Call about INV-1"]
    overdue = sf.query("SELECT Id FROM Task WHERE ActivityDate < TODAY AND Status != 'Completed'")
    assert [r["Id"] for r in overdue["records"]] == [ids[0]]


def test_completing_a_task_by_collections_update_closes_it(fake: Fake, sf: Salesforce) -> None:
    (account,) = fake.seed_accounts(1)
    task = fake.add_record("Task", WhatId=account, Subject="Call", AR_Sync_Task__c=True)
    invoice = fake.add_record("AR_Invoice__c", ERP_Invoice_Id__c="INV-1", Account__c=account)
    assert fake.record("Task", task)["IsClosed"] is False
    assert fake.record("AR_Invoice__c", invoice)["Name"] == invoice  # unnamed: its Id

    answer = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Task"}, "id": task, "Status": "Completed"},
                {"attributes": {"type": "AR_Invoice__c"}, "id": invoice, "Status__c": "Paid"},
                {"attributes": {"type": "Task"}, "id": task, "IsClosed": False},
                {"attributes": {"type": "Task"}, "id": invoice, "Subject": "wrong object"},
            ],
        },
    )

    assert [a["success"] for a in answer] == [True, True, False, False]
    assert answer[0] == {"id": task, "success": True, "errors": []}
    assert answer[2]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"  # the same Id twice
    assert answer[3]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert fake.record("Task", task)["IsClosed"] is True
    assert fake.record("AR_Invoice__c", invoice)["Status__c"] == "Paid"
    assert sf.query(format_soql(TASK_SOQL, ids=[account]))["totalSize"] == 0
    closed = sf.query("SELECT Id, Status FROM Task WHERE IsClosed = true")
    assert [(r["Id"], r["Status"]) for r in closed["records"]] == [(task, "Completed")]

    refused = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json=of_type("Task", [{"id": task, "IsClosed": False, "Status": "Reopened"}]),
    )
    assert [e["statusCode"] for e in refused[0]["errors"]] == [
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]
    assert sf.Task.update(task, {"Status": "In Progress"}) == 204
    assert fake.record("Task", task)["IsClosed"] is False


def test_upsert_by_external_id_creates_then_updates_the_same_record(
    fake: Fake, sf: Salesforce
) -> None:
    first, second = fake.seed_accounts(2)
    path = "composite/sobjects/AR_Invoice__c/ERP_Invoice_Id__c"
    invoice = {
        "ERP_Invoice_Id__c": "INV-1",
        "Name": "1001",
        "Account__c": first,
        "Issue_Date__c": "2024-05-01",
        "Due_Date__c": "2024-05-31",
        "Currency__c": "EUR",
        "Total_Amount__c": 1200.505,
        "Open_Amount__c": 1200.5,
        "Days_Overdue__c": 12,
        "Status__c": "Open",
    }

    created = sf.restful(path, method="PATCH", json=of_type("AR_Invoice__c", [invoice]))
    updated = sf.restful(
        path,
        method="PATCH",
        json=of_type(
            "AR_Invoice__c",
            [
                {
                    "ERP_Invoice_Id__c": "inv-1",
                    "Open_Amount__c": 0,
                    "Status__c": "Paid",
                    "Account__c": second,
                },
                {"Open_Amount__c": 5},
            ],
        ),
    )

    (invoice_id,) = fake.records("AR_Invoice__c")
    assert created == [{"id": invoice_id, "success": True, "errors": [], "created": True}]
    assert updated[0] == {"id": invoice_id, "success": True, "errors": [], "created": False}
    assert updated[1] == {  # no external id value: that record alone fails
        "success": False,
        "errors": [
            {
                "statusCode": "MISSING_ARGUMENT",
                "message": "ERP_Invoice_Id__c not specified",
                "fields": ["ERP_Invoice_Id__c"],
            }
        ],
        "created": False,
    }
    stored = fake.record("AR_Invoice__c", invoice_id)
    assert (stored["Total_Amount__c"], stored["Open_Amount__c"], stored["Status__c"]) == (
        1200.51,
        0.0,
        "Paid",
    )
    assert (stored["Account__c"], stored["Name"], stored["Disputed__c"]) == (second, "1001", False)
    assert (fake.count("composite_upsert"), fake.api_calls_used) == (2, 2)
    found = sf.query(
        format_soql(
            "SELECT Id, ERP_Invoice_Id__c, Account__c, Status__c, Open_Amount__c FROM "
            "AR_Invoice__c WHERE ERP_Invoice_Id__c IN {keys}",
            keys=["INV-1", "INV-2"],
        )
    )
    assert [(r["Id"], r["Account__c"], r["Open_Amount__c"]) for r in found["records"]] == [
        (invoice_id, second, 0.0)
    ]
    by_account = sf.query(
        format_soql("SELECT Id FROM AR_Invoice__c WHERE Account__c IN {ids}", ids=[first])
    )
    assert by_account["totalSize"] == 0


def test_upsert_refuses_repeated_keys_and_a_key_that_is_not_an_external_id(
    fake: Fake, sf: Salesforce
) -> None:
    fake.add_record("AR_Invoice__c", ERP_Invoice_Id__c="INV-9")
    path = "composite/sobjects/AR_Invoice__c/ERP_Invoice_Id__c"

    answer = sf.restful(
        path,
        method="PATCH",
        json=of_type(
            "AR_Invoice__c",
            [
                {"ERP_Invoice_Id__c": "INV-1"},
                {"ERP_Invoice_Id__c": "inv-1"},
                {"ERP_Invoice_Id__c": "INV-9", "Status__c": "Void"},
                {"ERP_Invoice_Id__c": "INV-2", "Status__c": "Nope"},
            ],
            all_or_none=True,
        ),
    )
    with pytest.raises(SalesforceMalformedRequest) as not_external:
        sf.restful(
            "composite/sobjects/AR_Invoice__c/Currency__c",
            method="PATCH",
            json=of_type("AR_Invoice__c", [{"Currency__c": "EUR"}]),
        )
    with pytest.raises(SalesforceResourceNotFound) as no_field:
        sf.restful(
            "composite/sobjects/AR_Invoice__c/Nope__c",
            method="PATCH",
            json=of_type("AR_Invoice__c", [{"Currency__c": "EUR"}]),
        )

    codes = [a["errors"][0]["statusCode"] for a in answer]
    assert codes == [
        "DUPLICATE_EXTERNAL_ID",
        "DUPLICATE_EXTERNAL_ID",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]
    (existing,) = fake.records("AR_Invoice__c")
    assert answer[2]["id"] == existing  # an update rolled back keeps its id
    assert "id" not in answer[3]
    assert all(a["created"] is False for a in answer)
    assert "Status__c" not in fake.record("AR_Invoice__c", existing)
    assert not_external.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert no_field.value.content[0]["errorCode"] == "NOT_FOUND"
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json=of_type("AR_Invoice__c", [{"ERP_Invoice_Id__c": "inv-9"}]),
    )
    assert created[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"  # unique, any case


def test_a_bad_reference_fails_only_its_record(fake: Fake, sf: Salesforce) -> None:
    account, gone = fake.seed_accounts(2)
    fake.delete_account(gone)
    colleague = fake.add_user()
    missing_account = id18("001Hs0000ZZZZZZ")
    missing_user = id18("005Hs0000ZZZZZZ")
    records = [
        {"WhatId": account, "Subject": "ok", "OwnerId": colleague},
        {"WhatId": missing_account, "Subject": "no such account"},
        {"WhatId": colleague, "Subject": "a user is not an account"},
        {"WhatId": account, "Subject": "no such owner", "OwnerId": missing_user},
        {"WhatId": gone, "Subject": "deleted account"},
        {"WhatId": "001-nope", "Subject": "not an id"},
    ]

    answer = sf.restful("composite/sobjects", method="POST", json=of_type("Task", records))
    invoice = sf.restful(
        "composite/sobjects/AR_Invoice__c/ERP_Invoice_Id__c",
        method="PATCH",
        json=of_type("AR_Invoice__c", [{"ERP_Invoice_Id__c": "INV-1", "Account__c": missing_user}]),
    )

    assert answer[0]["success"]
    assert fake.record("Task", answer[0]["id"])["OwnerId"] == colleague
    assert {colleague, fake.user_id} <= fake.users
    assert [(a["errors"][0]["statusCode"], a["errors"][0]["fields"]) for a in answer[1:]] == [
        ("INVALID_CROSS_REFERENCE_KEY", ["WhatId"]),
        ("FIELD_INTEGRITY_EXCEPTION", ["WhatId"]),
        ("INVALID_CROSS_REFERENCE_KEY", ["OwnerId"]),
        ("ENTITY_IS_DELETED", ["WhatId"]),
        ("MALFORMED_ID", ["WhatId"]),
    ]
    assert answer[2]["errors"][0]["message"] == (
        f"Related To ID: id value of incorrect type: {colleague}"
    )
    assert all("id" not in a for a in answer[1:])
    assert len(fake.records("Task")) == 1
    assert invoice[0]["errors"] == [
        {
            "statusCode": "FIELD_INTEGRITY_EXCEPTION",
            "message": f"Account: id value of incorrect type: {missing_user}",
            "fields": ["Account__c"],
        }
    ]
    assert fake.records("AR_Invoice__c") == {}


def test_a_create_refuses_an_id_and_all_or_none_creates_nothing(fake: Fake, sf: Salesforce) -> None:
    (account,) = fake.seed_accounts(1)
    records = [
        {"attributes": {"type": "Task"}, "WhatId": account, "Subject": "fine"},
        {"attributes": {"type": "AR_Invoice__c"}, "ERP_Invoice_Id__c": "INV-1"},
        {"attributes": {"type": "Task"}, "Id": id18("00THs0000ZZZZZZ"), "Subject": "has an id"},
        {"attributes": {"type": "Account"}, "ERP_Customer_Id__c": "C9"},
    ]

    answer = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
    )
    partial = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
    )

    assert answer[2]["errors"] == [
        {
            "statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
            "message": "cannot specify Id in an insert call",
            "fields": ["Id"],
        }
    ]
    assert answer[3]["errors"][0] == {
        "statusCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [Name]",
        "fields": ["Name"],
    }
    assert [a["errors"][0]["statusCode"] for a in answer[:2]] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    ] * 2
    assert all("id" not in a for a in answer)  # nothing was created
    assert [a["success"] for a in partial] == [True, True, False, False]
    assert partial[1]["id"].startswith("a0B")
    assert (len(fake.records("Task")), len(fake.records("AR_Invoice__c"))) == (1, 1)
    assert len(fake.accounts) == 1
    with pytest.raises(SalesforceMalformedRequest) as too_many:
        sf.restful(
            "composite/sobjects",
            method="POST",
            json=of_type("Task", [{"Subject": str(i)} for i in range(201)]),
        )
    assert too_many.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_single_record_create_and_update_serve_every_object(fake: Fake, sf: Salesforce) -> None:
    (account,) = fake.seed_accounts(1)

    created = sf.Task.create({"WhatId": account, "Subject": "Call", "AR_Sync_Task__c": True})
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Task.create(
            {"WhatId": account, "Priority": "Urgent", "OwnerId": id18("005Hs0000ZZZZZZ")}
        )
    assert sf.Task.update(created["id"], {"Description": "left a message"}) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.update(account, {"Description": "an Account id"})

    assert created == {"id": created["id"], "success": True, "errors": []}
    assert [e["errorCode"] for e in refused.value.content] == [
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_CROSS_REFERENCE_KEY",
    ]
    assert fake.record("Task", created["id"])["Description"] == "left a message"
    assert [c.kind for c in fake.calls] == [
        "sobject_create",
        "sobject_create",
        "sobject_update",
        "sobject_update",
    ]


def test_the_new_kinds_take_faults_and_count_against_the_allocation(
    fake: Fake, sf: Salesforce
) -> None:
    fake.fail_next("composite_create", Fault.server_unavailable())
    fake.fail_next("composite_upsert", Fault.request_limit_exceeded())
    body = of_type("AR_Invoice__c", [{"ERP_Invoice_Id__c": "INV-1"}])

    with pytest.raises(SalesforceGeneralError) as unavailable:
        sf.restful("composite/sobjects", method="POST", json=body)
    with pytest.raises(SalesforceRefusedRequest):
        sf.restful("composite/sobjects/AR_Invoice__c/ERP_Invoice_Id__c", method="PATCH", json=body)
    sf.restful("composite/sobjects/AR_Invoice__c/ERP_Invoice_Id__c", method="PATCH", json=body)

    assert unavailable.value.status == 503
    assert [(c.kind, c.status) for c in fake.calls] == [
        ("composite_create", 503),
        ("composite_upsert", 403),
        ("composite_upsert", 200),
    ]
    assert sf.api_usage["api-usage"].used == fake.api_calls_used == 3
    assert len(fake.records("AR_Invoice__c")) == 1
    assert {"sobject_create", "composite_create", "composite_upsert"} <= KINDS


def test_a_bulk_upsert_job_creates_and_updates_by_external_id(fake: Fake, sf: Salesforce) -> None:
    first, second = fake.seed_accounts(2)
    existing = fake.add_record(
        "AR_Invoice__c", ERP_Invoice_Id__c="INV-1", Account__c=first, Currency__c="EUR"
    )

    created = rest(
        sf,
        "POST",
        "jobs/ingest",
        json={
            "object": "AR_Invoice__c",
            "operation": "upsert",
            "externalIdFieldName": "ERP_Invoice_Id__c",
            "lineEnding": "LF",
        },
    ).json()
    job = f"jobs/ingest/{created['id']}"
    data = (
        "ERP_Invoice_Id__c,Account__c,Open_Amount__c,Currency__c,Status__c\n"
        f"inv-1,{second},10.5,,Open\n"
        f"INV-2,{first},99,USD,#N/A\n"
        f",{first},1,EUR,Open\n"
        f"INV-3,{id18('001Hs0000ZZZZZZ')},1,EUR,Open\n"
    )
    rest(sf, "PUT", f"{job}/batches", data=data, headers={"Content-Type": "text/csv"})
    rest(sf, "PATCH", job, json={"state": "UploadComplete"})
    rest(sf, "GET", job)
    info = rest(sf, "GET", job).json()
    succeeded = csv_rows(rest(sf, "GET", f"{job}/successfulResults/").text)
    failed = csv_rows(rest(sf, "GET", f"{job}/failedResults/").text)

    assert (created["object"], created["operation"], created["externalIdFieldName"]) == (
        "AR_Invoice__c",
        "upsert",
        "ERP_Invoice_Id__c",
    )
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (
        "JobComplete",
        4,
        2,
    )
    outcome = {r["ERP_Invoice_Id__c"]: (r["sf__Id"], r["sf__Created"]) for r in succeeded}
    new_id = outcome["INV-2"][0]
    assert outcome == {"inv-1": (existing, "false"), "INV-2": (new_id, "true")}
    assert list(succeeded[0])[:2] == ["sf__Id", "sf__Created"]
    assert sorted(r["sf__Error"].split(":")[0] for r in failed) == [
        "INVALID_CROSS_REFERENCE_KEY",
        "MISSING_ARGUMENT",
    ]
    assert list(failed[0])[:2] == ["sf__Id", "sf__Error"]
    assert {r["sf__Id"] for r in failed} == {""}
    updated = fake.record("AR_Invoice__c", existing)
    assert (updated["Account__c"], updated["Open_Amount__c"], updated["Currency__c"]) == (
        second,
        10.5,
        "EUR",  # the empty cell left it alone
    )
    new = fake.record("AR_Invoice__c", new_id)
    assert (new["Account__c"], new["Status__c"], new["Currency__c"]) == (first, None, "USD")
    assert len(fake.records("AR_Invoice__c")) == 2
    assert fake.written_fields_of("AR_Invoice__c") >= {"ERP_Invoice_Id__c", "Open_Amount__c"}


def test_bulk_jobs_insert_and_upsert_through_simple_salesforce(fake: Fake, sf: Salesforce) -> None:
    (account,) = fake.seed_accounts(1)

    inserted = sf.bulk2.Task.insert(
        records=[
            {"WhatId": account, "Subject": "Call", "AR_Sync_Task__c": "true"},
            {"WhatId": account, "Subject": "Bad", "Status": "Maybe"},
        ],
        wait=0,
    )
    upserted = sf.bulk2.AR_Invoice__c.upsert(
        records=[{"ERP_Invoice_Id__c": "INV-1", "Account__c": account, "Status__c": "Open"}],
        external_id_field="ERP_Invoice_Id__c",
        wait=0,
    )
    again = sf.bulk2.AR_Invoice__c.upsert(
        records=[{"ERP_Invoice_Id__c": "INV-1", "Status__c": "Paid"}],
        external_id_field="ERP_Invoice_Id__c",
        wait=0,
    )
    with pytest.raises(SalesforceMalformedRequest) as no_key:
        rest(sf, "POST", "jobs/ingest", json={"object": "AR_Invoice__c", "operation": "upsert"})
    with pytest.raises(SalesforceMalformedRequest) as not_a_key:
        rest(
            sf,
            "POST",
            "jobs/ingest",
            json={
                "object": "AR_Invoice__c",
                "operation": "upsert",
                "externalIdFieldName": "Currency__c",
            },
        )

    assert (inserted[0]["numberRecordsProcessed"], inserted[0]["numberRecordsFailed"]) == (2, 1)
    (task,) = fake.records("Task").values()
    assert (task["Subject"], task["AR_Sync_Task__c"], task["Status"]) == (
        "Call",
        True,
        "Not Started",
    )
    created = csv_rows(sf.bulk2.AR_Invoice__c.get_successful_records(upserted[0]["job_id"]))
    updated = csv_rows(sf.bulk2.AR_Invoice__c.get_successful_records(again[0]["job_id"]))
    assert [r["sf__Created"] for r in created + updated] == ["true", "false"]
    assert created[0]["sf__Id"] == updated[0]["sf__Id"]
    (invoice,) = fake.records("AR_Invoice__c").values()
    assert (invoice["Account__c"], invoice["Status__c"]) == (account, "Paid")
    assert no_key.value.content[0]["errorCode"] == "INVALIDJOB"
    assert "External ID" in no_key.value.content[0]["message"]
    assert not_a_key.value.content[0]["errorCode"] == "INVALIDJOB"


def test_added_objects_fields_and_rules_apply_to_writes(fake: Fake, sf: Salesforce) -> None:
    fake.add_object(
        SObjectType("AR_Payment__c", "a0C", "AR Payment", "AR Payments"),
        [
            FieldSpec("Invoice__c", "reference", referenceTo=("AR_Invoice__c",)),
            FieldSpec("Amount__c", "currency", precision=16, scale=2, nillable=False),
        ],
    )
    fake.add_object_field("AR_Invoice__c", FieldSpec("Note__c", "string", length=5))
    fake.validation_rules_for("AR_Invoice__c").append(
        lambda record_id, values: (
            ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Paid needs no open amount", ["Open_Amount__c"])
            if values.get("Status__c") == "Paid" and values.get("Open_Amount__c")
            else None
        )
    )
    invoice = fake.add_record("AR_Invoice__c", ERP_Invoice_Id__c="INV-1", Open_Amount__c=5.0)

    answer = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "records": [
                {"attributes": {"type": "AR_Payment__c"}, "Invoice__c": invoice, "Amount__c": 5},
                {"attributes": {"type": "AR_Payment__c"}, "Invoice__c": invoice},
            ]
        },
    )
    refused = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json=of_type("AR_Invoice__c", [{"id": invoice, "Status__c": "Paid", "Note__c": "paid"}]),
    )

    assert answer[0]["id"].startswith("a0C")
    assert answer[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert refused[0]["errors"][0]["message"] == "Paid needs no open amount"
    assert sf.AR_Payment__c.describe()["keyPrefix"] == "a0C"
    assert {f.name for f in fake.object_fields("AR_Payment__c").values()} >= {"Id", "CreatedDate"}
    payments = sf.query(
        format_soql("SELECT Id, Amount__c FROM AR_Payment__c WHERE Invoice__c = {i}", i=invoice)
    )
    assert [r["Amount__c"] for r in payments["records"]] == [5.0]
