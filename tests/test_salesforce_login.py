"""SalesforceClient.connect in each auth mode, against the fake org: secrets from the environment
only, and a refused login is fatal with Salesforce's reason and no secret in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes.salesforce import FakeSalesforce

from arsync.errors import FatalError
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.settings import (
    JwtAuth,
    PasswordAuth,
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
    assert client.sf.headers["Sforce-Call-Options"] == "client=arsync"


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

    assert "wrong-horse" not in str(refused.value)
    assert "WRONGTOKEN" not in str(refused.value)


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
