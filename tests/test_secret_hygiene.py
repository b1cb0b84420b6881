"""No secret in any log line, message or stored error; a crash exits 3 with one paragraph.

The acceptance case drives `arsync worker --once-now` into unexpected failures with a JWT key,
a password and NetSuite tokens configured, and reads every byte the run left behind.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from factories import customer, invoice
from fakes.netsuite import ROOT as NETSUITE_ROOT
from fakes.netsuite import SUITEQL, render
from typer.testing import CliRunner

from arsync.redact import MASK, SECRETS, redact, redact_value, register_secret
from connector.crm.salesforce import client as salesforce_client
from connector.erp.http import ApiError, HttpClient, HttpSettings
from jobs.cli import app
from jobs.crash import crash_message
from jobs.logging import LogFormat, configure_logging

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    SECRETS.clear()


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# --- redact: what it masks, and what it leaves -----------------------------------------------


def test_a_registered_secret_is_masked_in_every_spelling_it_takes_in_text() -> None:
    pem = _pem()
    register_secret(pem)
    register_secret("p@ss word&1")
    body_line = pem.splitlines()[3]

    assert redact(f"key={pem!r}") == f"key='{MASK}'"  # repr-escaped newlines
    assert pem not in redact(json.dumps({"k": pem}))  # JSON-escaped
    assert redact(f"line {body_line} alone") == f"line {MASK} alone"  # one line of it
    assert redact("login?pw=p%40ss%20word%261") == f"login?pw={MASK}"  # URL-quoted
    assert redact("text p@ss word&1 here") == f"text {MASK} here"


def test_short_values_are_not_registered_so_ordinary_words_survive() -> None:
    register_secret("abc")
    register_secret("")
    register_secret(None)

    assert redact("abc is the start of the alphabet") == "abc is the start of the alphabet"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- after",
            f"{MASK} after",
        ),
        ("cut off -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B", f"cut off {MASK}"),
        ("Authorization: Bearer eyJ0eXAiOiJKV1QiLCJh.bGciOiJIUzI1NiJ9xx.sig", None),
        ("header Bearer abcdefghijklmnop1234567890", f"header Bearer {MASK}"),
        (
            'OAuth realm="123", oauth_token="tok-123456", oauth_signature="c2lnbmF0dXJl"',
            f'OAuth realm="123", oauth_token="{MASK}", oauth_signature="{MASK}"',
        ),
        ('{"access_token": "at-999999", "x": 1}', f'{{"access_token": "{MASK}", "x": 1}}'),
        (
            "grant=refresh&refresh_token=rt-55555&scope=a",
            f"grant=refresh&refresh_token={MASK}&scope=a",
        ),
        ("<n1:password>pw-123456</n1:password>", f"<n1:password>{MASK}</n1:password>"),
        ("session 00D5g000004ABCDE!AQ4AQFw.qrstuvwxyzABCDEFGHIJ", f"session {MASK}"),
        ("no secret here: C00016 owes 1,234.50 USD", "no secret here: C00016 owes 1,234.50 USD"),
        ("Basic settings are fine", "Basic settings are fine"),
    ],
)
def test_credential_shaped_text_is_masked_and_plain_text_is_not(
    text: str, expected: str | None
) -> None:
    masked = redact(text)

    if expected is not None:
        assert masked == expected
    assert "eyJ0eXAiOiJKV1Q" not in masked
    assert "-----BEGIN" not in masked


def test_redact_value_walks_containers_and_keeps_types_that_hold_no_secret() -> None:
    register_secret("s3cr3t-value")
    when = dt.date(2026, 11, 20)

    assert redact_value({"a": ["x s3cr3t-value", 3, None, True], "d": when}) == {
        "a": [f"x {MASK}", 3, None, True],
        "d": when,
    }
    assert redact_value(ValueError("s3cr3t-value")) == MASK


# --- logging: no locals, every event scrubbed -----------------------------------------------


def _raise_with_secret_locals(private_key: str) -> None:
    consumer_key = "unregistered-consumer-key-4242"  # a local nobody registered
    raise RuntimeError(f"login failed for {consumer_key[:4]}")  # the local's head only


@pytest.mark.parametrize("log_format", [LogFormat.JSON, LogFormat.CONSOLE])
def test_a_logged_traceback_carries_no_frame_locals_and_no_registered_secret(
    log_format: LogFormat,
) -> None:
    pem = _pem()
    register_secret("registered-password-77")
    stream = io.StringIO()
    configure_logging(log_format, "info", stream)
    log = structlog.get_logger("test")

    try:
        _raise_with_secret_locals(pem)
    except RuntimeError:
        log.exception("test.failed", detail="password was registered-password-77")

    text = stream.getvalue()
    assert "test.failed" in text
    assert "_raise_with_secret_locals" in text  # the traceback is there, by frame name
    assert "unregistered-consumer-key-4242" not in text  # ... but no local's value
    assert "-----BEGIN" not in text
    assert "registered-password-77" not in text
    assert f"password was {MASK}" in text


def test_the_standard_library_loggers_are_scrubbed_too() -> None:
    register_secret("library-token-31337")
    stream = io.StringIO()
    configure_logging(LogFormat.JSON, "info", stream)

    logging.getLogger("urllib3.connectionpool").warning("retrying with library-token-31337")

    [line] = stream.getvalue().splitlines()
    event = json.loads(line)
    assert event["event"] == f"retrying with {MASK}"
    assert event["logger"] == "urllib3.connectionpool"


def test_an_unknown_log_level_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"log level 'verbose' is not one of debug, info"):
        configure_logging(LogFormat.JSON, "verbose", io.StringIO())


def test_a_bad_log_level_on_the_command_line_is_a_usage_error_exit_2() -> None:
    result = CliRunner().invoke(app, ["--log-level", "verbose", "validate"])

    assert result.exit_code == 2
    assert "'verbose' is not one of" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_log_level_is_read_in_any_case() -> None:
    result = CliRunner().invoke(
        app, ["--log-level", "WARNING", "validate", "--config", str(REPO / "config/arsync.yaml")]
    )

    assert result.exit_code == 0, result.output


# --- ERP error bodies ---------------------------------------------------------------------


@responses.activate
def test_an_erp_error_body_that_echoes_the_request_is_redacted_before_it_is_cut() -> None:
    echoed = (
        'OAuth realm="1234567_SB1",oauth_consumer_key="ck-0001",oauth_token="token-id-4242",'
        'oauth_signature="c2lnbmF0dXJlLXNlY3JldA%3D%3D"'
    )

    def echo(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = {
            "error": "bad request",
            "you_sent": {"Authorization": request.headers["Authorization"]},
        }
        return 400, {}, json.dumps(body)

    responses.add_callback(responses.GET, "https://erp.example/api/x", callback=echo)
    client = HttpClient(HttpSettings(max_attempts=1), lambda h, _r: h.update(Authorization=echoed))

    with pytest.raises(ApiError) as raised:
        client.get_json("https://erp.example/api/x?access_token=query-token-9")

    message = str(raised.value)
    for secret in ("ck-0001", "token-id-4242", "c2lnbmF0dXJl", "query-token-9"):
        assert secret not in message
    assert message.startswith("HTTP 400 from https://erp.example/api/x: ")
    assert "bad request" in message


@responses.activate
def test_the_give_up_message_after_retries_carries_no_query_string() -> None:
    responses.add(
        responses.GET,
        "https://erp.example/api/y",
        body=requests.ConnectionError(
            "HTTPSConnectionPool: Max retries exceeded with url: /api/y?token=abc-query-secret"
        ),
    )
    client = HttpClient(HttpSettings(max_attempts=2), lambda _h, _r: None, sleep=lambda _s: None)

    with pytest.raises(Exception, match="did not answer after 2 attempts") as raised:
        client.get_json("https://erp.example/api/y")

    assert "abc-query-secret" not in str(raised.value)
    assert "/api/y" in str(raised.value)


# --- the crash message --------------------------------------------------------------------


def test_the_crash_message_says_what_failed_where_and_where_the_traceback_is() -> None:
    try:
        {}["amount"]
    except KeyError as error:
        message = crash_message("run", error, "3f9c2a1b7d40")

    assert message.startswith("arsync run stopped on an unexpected error: KeyError: 'amount' (at ")
    assert "test_secret_hygiene.py line" in message
    assert "The run 3f9c2a1b7d40 is recorded as failed" in message
    assert "event command.crashed, run_id 3f9c2a1b7d40" in message
    assert "\n" not in message  # one paragraph


# --- the whole command: a run that crashes ------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


def test_an_unexpected_error_in_a_run_exits_3_is_recorded_failed_and_logs_its_traceback(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyError("amount")

    monkeypatch.setattr("jobs.pipeline.score_accounts", broken)
    config = str(project / "config/arsync.yaml")

    result = CliRunner().invoke(app, ["--log-format", "json", "run", "--dry-run", "-c", config])

    assert result.exit_code == 3, result.output
    assert "arsync run stopped on an unexpected error: KeyError: 'amount'" in result.stderr
    assert "jobs/pipeline.py line" in result.stderr
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    [crashed] = [e for e in logs if e["event"] == "command.crashed"]
    assert crashed["error_type"] == "KeyError"
    frames = [f["name"] for f in crashed["exception"][0]["frames"]]
    assert frames[-1] == "broken"
    assert all("locals" not in f for f in crashed["exception"][0]["frames"])
    runs = CliRunner().invoke(app, ["runs", "-c", config])
    assert re.search(r"\bfailed\b", runs.output)
    run_id = crashed["run_id"]
    shown = CliRunner().invoke(app, ["runs", "show", run_id, "-c", config])
    assert "KeyError: 'amount'" in shown.output


# --- acceptance: the worker crashes with every kind of secret configured -------------------

SF_USERNAME = "integration@acme.example"


def _secrets() -> dict[str, str]:
    return {
        "SF_PRIVATE_KEY": _pem(),
        "SF_CONSUMER_KEY": "3MVG9consumer-key-0123456789abcdef",
        "SF_PASSWORD": "correct-horse-battery-staple",
        "SF_SECURITY_TOKEN": "sec-token-AbCdEf123456",
        "NS_CONSUMER_KEY": "ns-consumer-key-112233",
        "NS_CONSUMER_SECRET": "ns-consumer-secret-445566",
        "NS_TOKEN_ID": "ns-token-id-778899",
        "NS_TOKEN_SECRET": "ns-token-secret-aabbcc",
    }


def _configure(project: Path, auth: str) -> Path:
    config = project / "config/arsync.yaml"
    text = config.read_text()
    text = re.sub(
        r"^source:\n(  .*\n)+",
        f"""source:
  kind: netsuite
  account_id: 1234567_SB1
  base_url: {NETSUITE_ROOT}
  consumer_key: ${{NS_CONSUMER_KEY}}
  consumer_secret: ${{NS_CONSUMER_SECRET}}
  token_id: ${{NS_TOKEN_ID}}
  token_secret: ${{NS_TOKEN_SECRET}}
  http: {{max_attempts: 1}}
""",
        text,
        count=1,
        flags=re.MULTILINE,
    )
    auths = {
        "jwt": "mode: jwt\n    consumer_key: ${SF_CONSUMER_KEY}\n"
        "    private_key: ${SF_PRIVATE_KEY}",
        "password": "mode: password\n    password: ${SF_PASSWORD}\n"
        "    security_token: ${SF_SECURITY_TOKEN}",
    }
    config.write_text(
        text + f"\nsalesforce:\n  auth:\n    username: {SF_USERNAME}\n    {auths[auth]}\n"
    )
    return config


def _ledger() -> Any:
    records = [
        customer("C1"),
        invoice("I1", "1200.00", issued="2026-09-01", due="2026-10-01"),
    ]
    return render(records, dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC))


def _broken_login(**kwargs: Any) -> Any:
    """A library fault inside the login: its frame holds every credential it was given, and its
    message echoes one, as some libraries' messages do."""
    given = kwargs.get("privatekey") or kwargs.get("password")
    raise RuntimeError(f"unexpected answer while signing in with {given}")


def _run_worker_until_the_run_ends(config: Path, env: dict[str, str]) -> Any:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed on the main thread")
    database = config.parent.parent / "state/arsync.db"

    def finished() -> bool:
        if not database.exists():
            return False
        try:
            with sqlite3.connect(database) as connection:
                rows = connection.execute("SELECT status FROM runs").fetchall()
        except sqlite3.Error:
            return False
        return bool(rows) and all(status != "running" for (status,) in rows)

    def terminate() -> None:
        end = time.monotonic() + 30
        while not finished() and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.2)  # the run's last log lines
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate)
    killer.start()
    try:
        return CliRunner().invoke(
            app, ["--log-format", "json", "worker", "--once-now", "--config", str(config)], env=env
        )
    finally:
        killer.join()


def _everything_written(project: Path, result: Any) -> bytes:
    written = [result.stdout_bytes, result.stderr_bytes]
    for path in sorted(project.rglob("*")):
        if path.is_file() and path.parts[len(project.parts)] in {"state", "out"}:
            written.append(path.read_bytes())
    return b"\n".join(written)


@pytest.mark.parametrize("failure", ["jwt login", "password login", "erp pull"])
def test_a_crashing_worker_run_leaks_no_secret_to_stdout_stderr_or_the_state_db(
    project: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    secrets = _secrets()
    config = _configure(project, "password" if failure == "password login" else "jwt")
    fake = _ledger()
    monkeypatch.setattr(salesforce_client, "Salesforce", _broken_login)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        if failure == "erp pull":

            def echo_headers(request: requests.PreparedRequest) -> Any:
                raise RuntimeError(f"proxy refused: {request.headers.get('Authorization')}")

            mock.add_callback(responses.POST, SUITEQL, callback=echo_headers)
        else:
            fake.register(mock)
        result = _run_worker_until_the_run_ends(config, secrets)

    assert result.exit_code == 0, result.output  # the worker itself stops cleanly on SIGTERM
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    [finished] = [e for e in logs if e["event"] == "worker.run_finished"]
    assert (finished["status"], finished["exit_code"]) == ("failed", 3)
    [crashed] = [e for e in logs if e["event"] == "command.crashed"]
    assert crashed["error_type"] == "RuntimeError"
    assert "arsync worker run stopped on an unexpected error: RuntimeError" in result.stderr
    with sqlite3.connect(project / "state/arsync.db") as connection:
        [(status, error)] = connection.execute("SELECT status, error FROM runs").fetchall()
    assert status == "failed"
    assert error.startswith("RuntimeError: ")
    assert MASK in error  # the echoed credential was there, and masked

    everything = _everything_written(project, result)
    assert b"-----BEGIN" not in everything
    for name, value in secrets.items():
        assert value.encode() not in everything, f"{name} leaked"
        for line in value.splitlines()[1:-1]:
            assert line.encode() not in everything, f"a line of {name} leaked"


def test_console_logs_replace_control_characters_that_a_terminal_would_obey() -> None:
    stream = io.StringIO()
    configure_logging(LogFormat.CONSOLE, "info", stream)

    structlog.get_logger("test").warning(
        "ledger.record_quarantined", reason="name \x1b]0;owned\x07 here", nested={"k": "\x1b[2J"}
    )

    text = stream.getvalue()
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "name \ufffd]0;owned\ufffd here" in text
