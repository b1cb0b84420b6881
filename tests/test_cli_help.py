"""Help shows switches without a value placeholder and dates as the date they take."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from jobs.cli import app


def help_lines(*command: str) -> list[str]:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def line_of(lines: list[str], option: str) -> str:
    [line] = [line for line in lines if line.lstrip("│ ").startswith(f"{option} ")]
    return line


@pytest.mark.parametrize(
    ("command", "switch"),
    [
        (("run",), "--dry-run"),
        (("run",), "--full"),
        (("run",), "--allow-older-data"),
        (("run",), "--accept-large-change"),
        (("plan",), "--full"),
        (("worker",), "--once-now"),
        (("worker",), "--dry-run"),
        ((), "--version"),
        ((), "--help"),
        ((), "--install-completion"),
        ((), "--show-completion"),
        (("run",), "--help"),
        (("init",), "--force"),
        (("salesforce", "check"), "--help"),
        (("runs", "show"), "--help"),
    ],
)
def test_a_switch_shows_no_value_placeholder(command: tuple[str, ...], switch: str) -> None:
    line = line_of(help_lines(*command), switch)

    assert "<bool>" not in line


@pytest.mark.parametrize("command", [("run",), ("plan",), ("report",)])
def test_the_as_of_date_shows_as_a_date(command: tuple[str, ...]) -> None:
    line = line_of(help_lines(*command), "--as-of")

    assert "YYYY-MM-DD" in line
    assert "%Y" not in line


COMMANDS = [
    (),
    ("run",),
    ("plan",),
    ("worker",),
    ("init",),
    ("report",),
    ("validate",),
    ("sample-data",),
    ("salesforce",),
    ("salesforce", "check"),
    ("runs",),
    ("runs", "show"),
    ("source",),
    ("source", "check"),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_no_help_page_shows_a_bool_placeholder(command: tuple[str, ...]) -> None:
    assert not [line for line in help_lines(*command) if "<bool>" in line]
