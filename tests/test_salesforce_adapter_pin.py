"""The one place arsync leans on a private part of simple-salesforce, pinned.

Bulk API 2.0 goes through `SalesforceClient.raw`, which calls simple-salesforce's private
`Salesforce._call_salesforce`: the library's `bulk2` handler polls and retries on its own,
outside arsync's budget, retry and lost-answer rules, and has no call that sends a CSV body
through the session handling. These tests fail when the installed library is not the version
the adapter was checked against, or when the private call moves, so that an upgrade is a
decision (read the new `_call_salesforce`, rerun the re-login tests, move the pin), never a
surprise in a nightly run.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import tomllib
from pathlib import Path

import pytest
import responses
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connector.crm.salesforce.client import _CallHeaders

ROOT = Path(__file__).resolve().parents[1]
CHECKED_VERSION = "1.12.10"  # the version `raw` was read against; requirements/*.txt pin it
INSTANCE = "https://example.my.salesforce.com"


def test_the_installed_simple_salesforce_is_the_version_the_adapter_was_checked_against() -> None:
    assert importlib.metadata.version("simple-salesforce") == CHECKED_VERSION
    for lock in ("runtime.txt", "dev.txt"):
        text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
        assert f"simple-salesforce=={CHECKED_VERSION} " in text, lock


def test_the_declared_range_stops_before_the_next_major_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [declared] = [
        d for d in project["project"]["dependencies"] if d.startswith("simple-salesforce")
    ]
    assert declared == f"simple-salesforce>={CHECKED_VERSION},<2"


def test_the_private_call_keeps_the_signature_raw_uses() -> None:
    parameters = inspect.signature(Salesforce._call_salesforce).parameters

    assert list(parameters)[:6] == ["self", "method", "url", "name", "retries", "max_retries"]
    assert parameters["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


@responses.activate
def test_the_private_call_sends_the_session_headers_and_the_call_headers_and_reads_usage() -> None:
    """What `raw` relies on, on the wire: the library's own headers (the session token), the
    call's headers through `auth=` on top of them, the body as given, and the usage header
    parsed into `api_usage`."""
    sf = Salesforce(instance_url=INSTANCE, session_id="00Dxx!token", version="62.0")
    url = f"{sf.base_url}jobs/ingest/750xx/batches"
    responses.put(url, status=201, headers={"Sforce-Limit-Info": "api-usage=12/15000"})

    response = sf._call_salesforce(
        "PUT",
        url,
        name="jobs/ingest/750xx/batches",
        data=b"Id,AR_Health_Score__c\n001xx,80\n",
        auth=_CallHeaders({"Content-Type": "text/csv"}),
    )

    sent = responses.calls[0].request
    assert response.status_code == 201
    assert sent.headers["Authorization"] == "Bearer 00Dxx!token"
    assert sent.headers["Content-Type"] == "text/csv"
    assert sent.body == b"Id,AR_Health_Score__c\n001xx,80\n"
    usage = sf.api_usage["api-usage"]
    assert (usage.used, usage.total) == (12, 15000)


@responses.activate
def test_the_private_call_raises_the_librarys_errors_on_a_refusal() -> None:
    sf = Salesforce(instance_url=INSTANCE, session_id="00Dxx!token", version="62.0")
    url = f"{sf.base_url}jobs/ingest/750xx"
    responses.patch(
        url,
        status=400,
        json=[{"errorCode": "INVALIDJOBSTATE", "message": "Job is not in Open state"}],
    )

    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf._call_salesforce(
            "PATCH", url, name="jobs/ingest/750xx", json={"state": "UploadComplete"}
        )

    assert refused.value.status == 400
    assert refused.value.content == [
        {"errorCode": "INVALIDJOBSTATE", "message": "Job is not in Open state"}
    ]
