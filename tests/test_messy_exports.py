"""Hypothesis: messy exports never crash, every row is accounted for, and a customer the damage
does not touch scores exactly as in the clean export.

A clean export is written once; each example damages copies of some of its invoice rows the
way real exports go wrong (identical and conflicting duplicates, numbers and dates that fit no
format, an unbalanced quote, a huge cell, a file in the wrong encoding) and runs the real
`arsync run --dry-run` on it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from typer.testing import CliRunner

from jobs.cli import app
from jobs.sample_data import generate_ledger, write_export

REPO = Path(__file__).resolve().parents[1]
EXPORTED_AT = dt.datetime(2026, 11, 20, 23, tzinfo=dt.UTC)
# Portfolio-relative: one customer's change moves every other's place in the worklist.
RELATIVE_COLUMNS = ["priority_rank"]
KINDS = ("duplicate", "conflict", "bad_number", "bad_date", "far_date", "huge", "quote")


@dataclass(frozen=True)
class Damage:
    kind: str
    row: int  # 1-based data row of invoices.csv


@dataclass(frozen=True)
class Clean:
    root: Path
    scores: pd.DataFrame
    invoices: list[list[str]]
    parents: dict[str, str]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Clean:
    root = tmp_path_factory.mktemp("messy")
    for folder in ("config", "mappings"):
        shutil.copytree(REPO / folder, root / folder)
    ledger = generate_ledger(customers=12, seed=11, end_date=EXPORTED_AT.date(), months=12)
    write_export(ledger, root / "export", EXPORTED_AT)
    config = root / "config/arsync.yaml"
    config.write_text(config.read_text().replace("../examples/sample", "../export"))
    result = _run(root)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(root / "out/scores.csv", dtype=str, keep_default_na=False)
    customers = _read(root / "export/customers.csv")
    header = customers[0]
    parents = {
        row[0]: row[header.index("Parent Customer No.")]
        for row in customers[1:]
        if row[header.index("Parent Customer No.")]
    }
    return Clean(root, scores, _read(root / "export/invoices.csv"), parents)


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _run(root: Path) -> object:
    config = str(root / "config/arsync.yaml")
    return CliRunner().invoke(app, ["--log-format", "json", "run", "--dry-run", "-c", config])


def _damaged_invoices(clean: Clean, damage: list[Damage]) -> tuple[str, set[str]]:
    """The damaged file's text, and the customers whose invoice rows it touches."""
    header, data = clean.invoices[0], [list(r) for r in clean.invoices[1:]]
    col = {name: header.index(name) for name in header}
    touched: set[str] = set()
    extra: list[list[str]] = []
    quote_at: int | None = None
    for item in damage:
        row = data[(item.row - 1) % len(data)]
        if item.kind != "huge":  # a long note changes no figure (unless other damage hits it)
            touched.add(row[col["Customer No."]])
        if item.kind == "duplicate":
            extra.append(list(row))
        elif item.kind == "conflict":
            copy = list(row)
            copy[col["Amount"]] = "1.00"
            copy[col["Balance Due"]] = "0.00"
            extra.append(copy)
        elif item.kind == "bad_number":
            row[col["Amount"]] = "12,34,5"
        elif item.kind == "bad_date":
            row[col["Due Date"]] = "2026-02-30"
        elif item.kind == "far_date":
            row[col["Invoice Date"]] = "9999-01-01"
        elif item.kind == "huge":
            row[col["Dispute Reason"]] = "y" * 200_000
        elif item.kind == "quote":
            quote_at = data.index(row) if quote_at is None else min(quote_at, data.index(row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for index, row in enumerate([*data, *extra]):
        if quote_at is not None and index == quote_at:
            line = io.StringIO()
            csv.writer(line, lineterminator="\n").writerow(row)
            buffer.write(line.getvalue().replace(",no,", ',no,"never closed,', 1))
            continue
        writer.writerow(row)
    if quote_at is not None:  # the rows from the broken one on are swallowed
        touched |= {row[col["Customer No."]] for row in [*data, *extra][quote_at:]}
    return buffer.getvalue(), touched


def _family(touched: set[str], parents: dict[str, str]) -> set[str]:
    """The touched customers and everyone in their hierarchies (roll-ups cross customers)."""
    roots = {parents.get(c, c) for c in touched}
    return {c for c in {*parents, *parents.values(), *touched} if parents.get(c, c) in roots}


damages = st.lists(
    st.builds(Damage, st.sampled_from(KINDS), st.integers(min_value=1, max_value=10_000)),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(damage=damages, encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
def test_messy_exports_never_crash_account_for_every_row_and_spare_the_untouched(
    clean: Clean, damage: list[Damage], encoding: str
) -> None:
    root = clean.root
    shutil.copy(root / "export/invoices.csv", root / "invoices.clean")
    try:
        text, touched = _damaged_invoices(clean, damage)
        if encoding == "cp1252":
            text = text.replace("Disputed", "Disputé", 1)  # a header only cp1252 can write
        (root / "export/invoices.csv").write_bytes(text.encode(encoding))

        result = _run(root)

        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        if encoding == "cp1252":
            assert result.exit_code == 2, result.output
            assert "invoices.csv is not utf-8 text" in result.stderr
            return
        if result.exit_code == 2:  # quoting so damaged that no row of the file can be trusted
            assert any(d.kind == "quote" for d in damage), result.output
            assert "invoices.csv: the CSV reader found" in result.stderr
            assert "first suspect: the row on line" in result.stderr
            return
        assert result.exit_code in (0, 1), result.output  # 1: quarantined or a breaker warning
        logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        [accounting] = [e for e in logs if e["event"] == "ledger.accounted"]
        assert accounting["unaccounted"] == 0
        for count in accounting["streams"].values():
            assert count["read"] == count["ledger"] + count["quarantined"] + count["merged"]
        scores = pd.read_csv(root / "out/scores.csv", dtype=str, keep_default_na=False)
        spared = set(clean.scores["customer_id"]) - _family(touched, clean.parents)
        before = clean.scores.set_index("customer_id").loc[sorted(spared)]
        after = scores.set_index("customer_id").loc[sorted(spared)]
        pd.testing.assert_frame_equal(
            after.drop(columns=RELATIVE_COLUMNS), before.drop(columns=RELATIVE_COLUMNS)
        )
    finally:
        shutil.copy(root / "invoices.clean", root / "export/invoices.csv")
