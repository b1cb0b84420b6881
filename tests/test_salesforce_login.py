"""SalesforceClient.connect in each auth mode, against the fake org: secrets from the environment
only, and a refused login is fatal with Salesforce's reason and no secret in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes.salesforce import FakeSalesforce, Fault, FieldSpec

from arsync.errors import FatalError
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.push import Operation, RecordWrite, write_records
from connector.crm.salesforce.settings import (
    Auth,
    JwtAuth,
    PasswordAuth,
    RetrySettings,
    SalesforceSettings,
    TokenAuth,
)


def keys() -> tuple[str, str]:
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


def test_jwt_login_reads_the_key_and_consumer_key_from_the_environment() -> None:
    private, public = keys()
    org = FakeSalesforce(jwt_public_key=public)
    org.seed_accounts(3)
    settings = SalesforceSettings(
        auth=JwtAuth(
            mode="jwt",
            username=org.username,
            consumer_key="${SF_CONSUMER_KEY}",
            private_key="${SF_PRIVATE_KEY}",
        )
    )
    environ = {"SF_CONSUMER_KEY": org.consumer_key, "SF_PRIVATE_KEY": private}

    with org.running():
        client = SalesforceClient.connect(settings, environ=environ)
        records = list(client.query("SELECT Id FROM Account"))

    assert len(records) == 3
    assert org.calls_of("query")[0].headers["sforce-call-options"] == "client=arsync"


def logins(org: FakeSalesforce) -> dict[str, tuple[Auth, dict[str, str]]]:
    """Each mode that can log in again, with its environment."""
    private, public = keys()
    org.jwt_public_key = public
    return {
        "password": (
            PasswordAuth(
                mode="password",
                username=org.username,
                password="${SF_PASSWORD}",
                security_token="${SF_TOKEN}",
            ),
            {"SF_PASSWORD": org.password, "SF_TOKEN": org.security_token},
        ),
        "jwt": (
            JwtAuth(
                mode="jwt",
                username=org.username,
                consumer_key="${SF_CONSUMER_KEY}",
                private_key="${SF_PRIVATE_KEY}",
            ),
            {"SF_CONSUMER_KEY": org.consumer_key, "SF_PRIVATE_KEY": private},
        ),
    }


@pytest.mark.parametrize("mode", ["password", "jwt"])
def test_a_bulk_upload_resent_after_a_new_login_keeps_its_own_headers(mode: str) -> None:
    org = FakeSalesforce()
    org.add_field(FieldSpec("AR_Open_Balance__c", "currency", precision=18, scale=2))
    ids = org.seed_accounts(3)
    auth, environ = logins(org)[mode]
    settings = SalesforceSettings(
        auth=auth,
        retry=RetrySettings(initial_wait_seconds=0, max_wait_seconds=0),
        bulk_threshold=1,
        bulk_poll_seconds=0,
    )
    writes = [RecordWrite(i, {"AR_Open_Balance__c": 12.5}, i) for i in ids]
    org.fail_next("bulk_upload", Fault.session_expired())  # the session ends mid-job

    with org.running():
        client = SalesforceClient.connect(settings, environ=environ)
        outcomes = write_records(client, Operation("Account", "update"), writes, lambda _: None)

    uploads = org.calls_of("bulk_upload")
    assert [c.status for c in uploads] == [401, 201]
    assert org.count("login") == 2
    assert uploads[1].headers["content-type"] == "text/csv"
    rest = [c for c in org.calls if c.kind != "login"]
    assert {c.headers.get("sforce-call-options") for c in rest} == {"client=arsync"}
    assert all(o.ok for o in outcomes.values())
    assert [org.account(i)["AR_Open_Balance__c"] for i in ids] == [12.5, 12.5, 12.5]


def test_every_call_after_a_new_login_still_names_the_client() -> None:
    org = FakeSalesforce()
    org.seed_accounts(2)
    auth, environ = logins(org)["password"]
    org.fail_next("query", Fault.session_expired())

    with org.running():
        client = SalesforceClient.connect(SalesforceSettings(auth=auth), environ=environ)
        records = list(client.query("SELECT Id FROM Account"))
        client.limits()

    assert len(records) == 2
    assert org.count("login") == 2
    assert [c.headers.get("sforce-call-options") for c in org.calls if c.kind != "login"] == [
        "client=arsync"
    ] * 3


def test_a_refused_password_login_is_fatal_and_names_no_secret() -> None:
    org = FakeSalesforce()
    settings = SalesforceSettings(
        auth=PasswordAuth(
            mode="password",
            username=org.username,
            password="${SF_PASSWORD}",
            security_token="${SF_TOKEN}",
        )
    )
    environ = {"SF_PASSWORD": "wrong-horse", "SF_TOKEN": "WRONGTOKEN"}

    with org.running(), pytest.raises(FatalError, match="refused the login") as refused:
        SalesforceClient.connect(settings, environ=environ)

    assert str(refused.value) == (
        "Salesforce refused the login: INVALID_LOGIN: "
        "Invalid username, password, security token; or user locked out."
    )
    assert "wrong-horse" not in str(refused.value)
    assert "WRONGTOKEN" not in str(refused.value)


def test_a_refused_jwt_login_gives_salesforces_oauth_error_and_description() -> None:
    org = FakeSalesforce()
    auth, environ = logins(org)["jwt"]
    other_key, _ = keys()  # signed with a key the connected app does not hold

    with org.running(), pytest.raises(FatalError) as refused:
        SalesforceClient.connect(
            SalesforceSettings(auth=auth), environ={**environ, "SF_PRIVATE_KEY": other_key}
        )

    assert str(refused.value) == "Salesforce refused the login: invalid_grant: invalid assertion"
    assert org.calls_of("login")[0].status == 400


def test_a_refused_oauth_login_as_salesforce_documents_it_names_its_reason() -> None:
    org = FakeSalesforce()
    auth, environ = logins(org)["jwt"]
    org.fail_next("login", Fault.oauth_error("invalid_grant", "authentication failure"))

    with org.running(), pytest.raises(FatalError) as refused:
        SalesforceClient.connect(SalesforceSettings(auth=auth), environ=environ)

    assert str(refused.value) == (
        "Salesforce refused the login: invalid_grant: authentication failure"
    )
    assert "Response content" not in str(refused.value)


def test_a_literal_secret_in_the_settings_is_refused() -> None:
    with pytest.raises(ValueError, match="secrets come from the environment"):
        TokenAuth(mode="token", instance_url="https://acme.my.salesforce.com", access_token="00D!x")


def test_a_damaged_jwt_key_is_fatal_names_the_variable_and_not_the_key() -> None:
    private, _public = keys()
    lines = private.splitlines()
    damaged = "\n".join(lines[:4] + lines[9:])  # a PEM with lines lost in a copy and paste
    settings = SalesforceSettings(
        auth=JwtAuth(
            mode="jwt",
            username="integration@acme.example",
            consumer_key="${SF_CONSUMER_KEY}",
            private_key="${SF_PRIVATE_KEY}",
        )
    )
    environ = {"SF_CONSUMER_KEY": "consumer-key-1234", "SF_PRIVATE_KEY": damaged}

    with pytest.raises(FatalError) as raised:
        SalesforceClient.connect(settings, environ=environ)

    message = str(raised.value)
    assert message == (
        "the JWT private key in ${SF_PRIVATE_KEY} cannot be read as a PEM RSA private key "
        "(InvalidKeyError)"
    )


def test_a_missing_jwt_key_file_is_fatal_and_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "sf.pem"
    settings = SalesforceSettings(
        auth=JwtAuth(
            mode="jwt",
            username="integration@acme.example",
            consumer_key="${SF_CONSUMER_KEY}",
            private_key_file=missing,
        )
    )

    with pytest.raises(FatalError, match=f"cannot read the JWT private key the file {missing}"):
        SalesforceClient.connect(settings, environ={"SF_CONSUMER_KEY": "consumer-key-1234"})


def test_a_login_answered_by_a_page_is_refused_with_the_page_cut_short() -> None:
    org = FakeSalesforce()
    auth, environ = logins(org)["jwt"]
    page = "<html><body>" + "Service unavailable. " * 100 + "</body></html>"
    org.fail_next("login", Fault(503, page))

    with org.running(), pytest.raises(FatalError) as refused:
        SalesforceClient.connect(SalesforceSettings(auth=auth), environ=environ)

    message = str(refused.value)
    assert message.startswith("Salesforce refused the login: 503: <html><body>Service unavailable.")
    assert message.endswith("…")
    assert len(message) == len("Salesforce refused the login: 503: ") + 300
