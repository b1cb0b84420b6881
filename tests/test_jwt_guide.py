"""docs/salesforce-jwt.md, command by command: the openssl lines are run and their key signs a
JWT the certificate verifies, the `sf` lines use only flags the Salesforce CLI has, and the
`arsync` lines parse with the real command line."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from jobs.cli import app

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs/salesforce-jwt.md").read_text(encoding="utf-8")
COMMANDS = [
    line.strip()
    for block in re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.DOTALL)
    for line in block.splitlines()
    if line.strip()
]
# Recorded from the real CLI (`sf <command> --help`, the version inside): checked always, and
# against the installed CLI too where it runs.
RECORDED = json.loads((ROOT / "tests/data/sf_cli_flags.json").read_text(encoding="utf-8"))


def of(program: str) -> list[list[str]]:
    return [shlex.split(line) for line in COMMANDS if line.split()[0] == program]


def test_the_guide_uses_only_programs_this_file_checks() -> None:
    assert {line.split()[0] for line in COMMANDS} == {"openssl", "chmod", "sf", "cd", "arsync"}


def test_the_openssl_lines_make_a_key_pair_that_signs_a_salesforce_jwt(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    printed = []
    for words in [*of("openssl"), *of("chmod")]:
        done = subprocess.run(  # noqa: S603 - the guide's own openssl and chmod lines
            words, cwd=tmp_path, capture_output=True, text=True, check=True
        )
        printed.append(done.stdout)
    key_file = tmp_path / "arsync-sf.key"
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    certificate = x509.load_pem_x509_certificate((tmp_path / "arsync-sf.crt").read_bytes())
    claims = {
        "iss": "3MVG9-consumer-key",
        "sub": "arsync@acme.com.prod",
        "aud": "https://login.salesforce.com",
        "exp": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3),
    }

    token = jwt.encode(claims, key, algorithm="RS256")

    verified = jwt.decode(
        token,
        certificate.public_key(),
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
    )
    assert verified["sub"] == "arsync@acme.com.prod"
    assert key_file.stat().st_mode & 0o777 == 0o600
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime == dt.timedelta(days=730)
    assert any(line.startswith("notAfter=") for line in printed)


def _sf_flags(words: list[str]) -> tuple[str, list[str]]:
    """The `sf` subcommand a line runs, and the flags it passes."""
    command = next(
        name for name in RECORDED["commands"] if words[1:][: len(name.split())] == name.split()
    )
    flags = [word.split("=", 1)[0] for word in words if word.startswith("-")]
    return command, flags


@pytest.mark.parametrize("words", of("sf"), ids=lambda words: " ".join(words[1:4]))
def test_an_sf_line_uses_flags_the_cli_has(words: list[str]) -> None:
    command, flags = _sf_flags(words)

    assert set(flags) <= set(RECORDED["commands"][command]), RECORDED["recorded_with"]


@pytest.mark.parametrize("words", of("sf"), ids=lambda words: " ".join(words[1:4]))
def test_an_sf_line_uses_flags_the_installed_cli_has(words: list[str]) -> None:
    if shutil.which("sf") is None:
        _unavailable("the Salesforce CLI is not installed (the recorded flags were checked)")
    command, flags = _sf_flags(words)
    done = subprocess.run(  # noqa: S603 - the installed Salesforce CLI's own help
        ["sf", *command.split(), "--help"],  # noqa: S607 - sf from PATH
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if "FLAGS" not in done.stdout:
        _unavailable(f"sf {command} --help did not run here: {done.stderr.strip()[-200:]}")
    for flag in flags:
        assert re.search(rf"(^|\s){re.escape(flag)}[,=\s]", done.stdout, flags=re.M), flag


def _unavailable(reason: str) -> NoReturn:
    """Skip where the CLI is not set up; in CI, which installs it (.ci/salesforce-cli), fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI installs it with .ci/salesforce-cli")
    pytest.skip(reason)


def test_the_cd_line_names_the_package_folder() -> None:
    [words] = of("cd")

    assert (ROOT / words[1] / "sfdx-project.json").is_file()
    [deploy] = [w for w in of("sf") if w[1:3] == ["project", "deploy"]]
    assert (ROOT / words[1] / deploy[deploy.index("--source-dir") + 1]).is_dir()


@pytest.mark.parametrize("words", of("arsync"), ids=lambda words: " ".join(words[1:]))
def test_an_arsync_line_parses(words: list[str]) -> None:
    """With --help last, the command line is parsed whole (an unknown command or option is a
    usage error, exit 2) and nothing runs."""
    result = CliRunner().invoke(app, [*words[1:], "--help"], prog_name="arsync")

    assert result.exit_code == 0, result.output
    assert "Usage: arsync " in result.output


def test_a_wrong_arsync_line_would_not_parse() -> None:
    assert CliRunner().invoke(app, ["plan", "--shoow", "5", "--help"]).exit_code == 2
