"""Every ERP source passes the same contract, fed the same ledger (tests/contract/)."""

from __future__ import annotations

import importlib
import pkgutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import responses
from contract import harness
from contract.harness import ConnectorCase, build, comparable, pull_all
from contract.ledger import AS_OF, contract_ledger

from arsync.records import CanonicalRecord
from scoring import CurrencyTable, ScoringSettings, score_accounts

CASES: list[ConnectorCase] = [
    importlib.import_module(f"contract.{module.name}").CASE
    for module in pkgutil.iter_modules([str(Path(__file__).parent / "contract")])
    if module.name.startswith("case_")
]
CURRENCIES = CurrencyTable("USD", {"EUR": Decimal("1.08")})


@pytest.fixture
def mock() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as requests_mock:
        yield requests_mock


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_source_yields_exactly_the_ledger_it_was_fed(
    case: ConnectorCase, tmp_path: Path, mock: responses.RequestsMock
) -> None:
    fed = contract_ledger()

    records, rejected = pull_all(case.serve(fed, tmp_path, mock))

    assert rejected == []
    expected = case.expected(fed)
    assert comparable(records, case.cannot_carry) == comparable(expected, case.cannot_carry)


def test_the_same_ledger_scores_identically_through_every_source(
    tmp_path: Path, mock: responses.RequestsMock
) -> None:
    common = _union(c.cannot_carry for c in CASES)
    baseline = _score(_reset(contract_ledger(), common))
    for case in CASES:
        records, _ = pull_all(case.serve(contract_ledger(), tmp_path / case.name, mock))

        pd.testing.assert_frame_equal(_score(_reset(records, common)), baseline, obj=case.name)


def _score(records: list[CanonicalRecord]) -> pd.DataFrame:
    return score_accounts(build(records), AS_OF, ScoringSettings(), CURRENCIES)


def _union(mappings: object) -> dict[str, frozenset[str]]:
    merged: dict[str, frozenset[str]] = {}
    for mapping in mappings:  # type: ignore[attr-defined]
        for kind, fields in mapping.items():
            merged[kind] = merged.get(kind, frozenset()) | fields
    return merged


def _reset(
    records: list[CanonicalRecord], fields: dict[str, frozenset[str]]
) -> list[CanonicalRecord]:
    """The records with these fields at their defaults, as an ERP without them would give."""
    result = []
    for record in records:
        names = fields.get(harness.RECORD_TYPE[type(record)], frozenset())
        defaults = {name: type(record).model_fields[name].default for name in names}
        result.append(record.model_copy(update=defaults))
    return result
