"""Settings errors a finance admin can act on: `arsync validate` and `load_run_settings` name the
file, the line, the key path and what was expected, for every problem in every file at once."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from arsync.yamlfile import ConfigError, ConfigProblem
from jobs.cli import app
from jobs.settings import load_run_settings

REPO = Path(__file__).resolve().parents[1]
# rich wraps long lines at the console width; a wide one keeps each problem on one line here
# (the default width is checked on its own, in test_problems_are_not_wrapped_when_piped).
WIDE = {"COLUMNS": "1000"}


def copy_settings(root: Path) -> Path:
    """config/, mappings/ and the sample export side by side, as shipped, so the relative paths
    still work (validate reads the first rows of the export)."""
    for folder in ("config", "mappings", "examples"):
        shutil.copytree(REPO / folder, root / folder)
    return root / "config" / "arsync.yaml"


def break_line(path: Path, old: str, new: str) -> int:
    """Replace `old` on the one line that holds it; return that line's 1-based number."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    numbers = [n for n, line in enumerate(lines, start=1) if old in line]
    assert len(numbers) == 1, f"{old!r} must be on exactly one line of {path}: {numbers}"
    number = numbers[0]
    lines[number - 1] = lines[number - 1].replace(old, new)
    path.write_text("".join(lines), encoding="utf-8")
    return number


def validate(config: Path, env: Mapping[str, str | None] = WIDE) -> Result:
    return CliRunner().invoke(app, ["validate", "--config", str(config)], env=env)


def problems_of(config: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as raised:
        load_run_settings(config)
    return raised.value.problems


@dataclass(frozen=True)
class Breakage:
    file: str
    old: str
    new: str
    key_path: str
    expected: tuple[str, ...]


BREAKAGES = {
    "unknown-computed-column": Breakage(
        "mappings/salesforce_account.yaml",
        "{from: overdue_balance}",
        "{from: overdue_balanse}",
        "fields.AR_Overdue_Balance__c.from",
        ("unknown column 'overdue_balanse'", "did you mean 'overdue_balance'", "open_balance"),
    ),
    "bad-yaml-syntax": Breakage(
        "config/arsync.yaml",
        "  EUR: 1.08",
        "\tEUR: 1.08",  # a tab where YAML wants spaces
        "",
        ("invalid YAML", "cannot start any token"),
    ),
    "wrong-type": Breakage(
        "mappings/salesforce_account.yaml",
        "{from: open_balance}",
        "{from: open_balance, round: two}",
        "fields.AR_Open_Balance__c.round",
        ("valid integer", "'two'"),
    ),
    "unknown-key-typo": Breakage(
        "config/arsync.yaml",
        "reporting_currency: USD",
        "reporting_curency: USD",
        "reporting_curency",
        ("unknown key 'reporting_curency'", "did you mean 'reporting_currency'", "fx_rates"),
    ),
    "misspelt-canonical-field": Breakage(
        "mappings/erp/generic_csv.yaml",
        "      due_date: Due Date",
        "      due_dat: Due Date",
        "files.invoices.columns.due_dat",
        ("unknown key 'due_dat'", "did you mean 'due_date'", "issue_date"),
    ),
    "aging-buckets-not-rising": Breakage(
        "config/scoring.yaml",
        "label: 31-60 days overdue,    max_days_overdue: 60}",
        "label: 31-60 days overdue,    max_days_overdue: 20}",  # now ends before d1_30 does
        "aging_buckets[2].max_days_overdue",
        ("must rise strictly",),
    ),
}


def expected_prefix(path: Path, line: int, key_path: str) -> str:
    """How a problem starts: `file:line: key.path:` (no key path for a syntax error)."""
    return f"{path}:{line}:" + (f" {key_path}:" if key_path else "")


@pytest.mark.parametrize("case", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_cli_names_file_line_key_path_and_expectation(tmp_path: Path, case: Breakage) -> None:
    config = copy_settings(tmp_path)
    broken = tmp_path / case.file
    line = break_line(broken, case.old, case.new)

    result = validate(config)

    assert result.exit_code == 2, result.output
    problem_lines = [
        text.strip()
        for text in result.stderr.splitlines()
        if text.strip().startswith(expected_prefix(broken, line, case.key_path))
    ]
    assert len(problem_lines) == 1, result.stderr
    for fragment in case.expected:
        assert fragment in problem_lines[0], problem_lines[0]
    assert "ok" not in result.stdout.split()  # nothing is declared valid


@pytest.mark.parametrize("case", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_load_run_settings_raises_one_problem_per_breakage(tmp_path: Path, case: Breakage) -> None:
    config = copy_settings(tmp_path)
    broken = tmp_path / case.file
    line = break_line(broken, case.old, case.new)

    problems = problems_of(config)

    at_line = [p for p in problems if (p.file, p.line) == (broken, line)]
    assert len(at_line) == 1, problems
    problem = at_line[0]
    assert problem.key_path == case.key_path
    for fragment in case.expected:
        assert fragment in problem.message, problem.message


def test_a_missing_required_canonical_field_is_named_with_its_parent_key(tmp_path: Path) -> None:
    """The misspelt `due_dat` also leaves `due_date` unmapped; that is said too."""
    config = copy_settings(tmp_path)
    mapping = tmp_path / "mappings/erp/generic_csv.yaml"
    typo_line = break_line(mapping, "      due_date: Due Date", "      due_dat: Due Date")
    lines = mapping.read_text(encoding="utf-8").splitlines()
    columns_line = lines.index("  invoices:") + 3  # 1-based: invoices, path, columns

    problems = problems_of(config)

    missing = [p for p in problems if "missing required key 'due_date'" in p.message]
    assert [(p.file, p.key_path) for p in missing] == [(mapping, "files.invoices.columns")]
    line = missing[0].line
    assert line is not None
    assert columns_line <= line < typo_line  # within the invoices' columns block


def test_two_problems_in_two_files_are_both_reported_in_one_run(tmp_path: Path) -> None:
    config = copy_settings(tmp_path)
    crm = tmp_path / "mappings/salesforce_account.yaml"
    scoring = tmp_path / "config/scoring.yaml"
    crm_line = break_line(crm, "{from: overdue_balance}", "{from: overdue_balanse}")
    scoring_line = break_line(
        scoring, "overdue,     max_days_overdue: 30}", "overdue,     max_days_overdue: thirty}"
    )

    result = validate(config)

    assert result.exit_code == 2, result.output
    assert "2 problems in the settings" in result.stderr
    assert f"{crm}:{crm_line}: fields.AR_Overdue_Balance__c.from: " in result.stderr
    assert f"{scoring}:{scoring_line}: aging_buckets[1].max_days_overdue: " in result.stderr
    assert "'thirty'" in result.stderr
    assert {(p.file, p.line) for p in problems_of(config)} == {
        (crm, crm_line),
        (scoring, scoring_line),
    }


def test_unmodified_shipped_config_validates_and_lists_each_file(tmp_path: Path) -> None:
    config = copy_settings(tmp_path)

    result = validate(config)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"ok {config}",
        f"ok {tmp_path / 'config/scoring.yaml'}",
        f"ok {tmp_path / 'mappings/erp/generic_csv.yaml'}",
        f"ok {tmp_path / 'mappings/salesforce_account.yaml'}",
    ]
    settings = load_run_settings(config)
    assert settings.crm_mapping.fields["AR_Overdue_Balance__c"].source == "overdue_balance"
    assert settings.app.source.mapping == tmp_path / "mappings/erp/generic_csv.yaml"
    assert settings.app.currencies == frozenset({"USD", "EUR"})


def test_the_config_in_the_repository_validates() -> None:
    result = validate(REPO / "config" / "arsync.yaml")

    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["ok"] * 4


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "nowhere" / "arsync.yaml"

    result = validate(config)

    assert result.exit_code == 2
    assert f"{config}: cannot read file" in result.stderr


def test_yaml_syntax_error_names_the_line_where_the_mistake_is(tmp_path: Path) -> None:
    """An unclosed quote is only noticed at the end of the file; the admin needs the line
    where the quote was opened (PyYAML gives it as the error's context mark)."""
    config = copy_settings(tmp_path)
    scoring = tmp_path / "config/scoring.yaml"
    line = break_line(scoring, "label: Current,", 'label: "Current,')
    last_line = len(scoring.read_text(encoding="utf-8").splitlines())
    assert line < last_line

    problems = problems_of(config)

    assert len(problems) == 1
    problem = problems[0]
    assert problem.file == scoring
    assert "invalid YAML" in problem.message
    assert problem.line == line or f"line {line}" in problem.message, problem


def test_problems_are_not_wrapped_when_piped(tmp_path: Path) -> None:
    """Piped to a file or a CI log (no terminal width known), each problem stays on one line,
    so `file:line` stays clickable and grep finds the whole message."""
    config = copy_settings(tmp_path)
    crm = tmp_path / "mappings/salesforce_account.yaml"
    line = break_line(crm, "{from: overdue_balance}", "{from: overdue_balanse}")

    result = validate(config, env={"COLUMNS": None})

    assert result.exit_code == 2
    whole = [
        text
        for text in result.stderr.splitlines()
        if text.strip().startswith(f"{crm}:{line}: fields.AR_Overdue_Balance__c.from:")
        and "did you mean 'overdue_balance'" in text
    ]
    assert len(whole) == 1, result.stderr
