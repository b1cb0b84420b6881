"""Segment and playbook rules: how conditions match, and what the settings let a rule say."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from arsync.yamlfile import ConfigError, load_model
from scoring import ScoringSettings
from scoring.columns import rule_columns
from scoring.rules import first_match, matches
from scoring.settings import AgingBucket, Condition, PrioritySettings

REPO = Path(__file__).resolve().parents[1]
SHIPPED_YAML = REPO / "config" / "scoring.yaml"
NAN = math.nan

# n: a number, with a missing value last.
NUMBERS = pd.DataFrame({"n": [1.0, 5.0, 10.0, NAN]})


def mask(frame: pd.DataFrame, when: dict[str, Condition]) -> list[bool]:
    return [bool(v) for v in matches(frame, when)]


# --- matches ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (5, [False, True, False, False]),  # scalar: equality
        (5.0, [False, True, False, False]),
        ([1, 10], [True, False, True, False]),  # list: one of
        ([1, None], [True, False, False, True]),  # None in a list: missing is one of them
        (None, [False, False, False, True]),  # None: missing
        ({"gt": 5}, [False, False, True, False]),
        ({"gte": 5}, [False, True, True, False]),
        ({"lt": 5}, [True, False, False, False]),
        ({"lte": 5}, [True, True, False, False]),
        ({"eq": 5}, [False, True, False, False]),
        ({"eq": None}, [False, False, False, True]),
        ({"ne": None}, [True, True, True, False]),
        ({"in": [1, 10]}, [True, False, True, False]),
        ({"in": 5}, [False, True, False, False]),  # a scalar is a list of one
        ({"in": [None]}, [False, False, False, True]),
        ({"not_in": [1, 10, None]}, [False, True, False, False]),
        ({"gte": 5, "lt": 10}, [False, True, False, False]),  # all operators must hold
        ({"gt": 10}, [False, False, False, False]),
    ],
)
def test_conditions_on_a_number(condition: Condition, expected: list[bool]) -> None:
    assert mask(NUMBERS, {"n": condition}) == expected


@pytest.mark.parametrize("operator", ["gt", "gte", "lt", "lte", "eq"])
def test_a_missing_number_satisfies_no_comparison(operator: str) -> None:
    for value in (-1e9, 0, 1e9):
        assert mask(pd.DataFrame({"n": [NAN]}), {"n": {operator: value}}) == [False]


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([NAN, 5.0, 3.0], dtype="float64"),
        pd.Series([None, "a", "b"], dtype="object"),
        pd.Series([pd.NA, "a", "b"], dtype="string"),
        pd.Series([pd.NA, 5, 3], dtype="Int64"),
    ],
    ids=["float64", "object", "string", "Int64"],
)
def test_a_missing_value_satisfies_no_ne_comparison_whatever_the_dtype(column: pd.Series) -> None:
    """docs/scoring.md: "a missing value satisfies no comparison", and `ne` is one.

    Today it depends on the dtype: `NaN != 5` and `None != "a"` are True, so a float or object
    column's missing value satisfies `ne`, while a nullable column's (string, Int64: the
    scores' text columns are `string`) does not.
    """
    value = column.iloc[1]

    assert mask(pd.DataFrame({"c": column}), {"c": {"ne": value}}) == [False, False, True]


def test_conditions_on_text() -> None:
    for dtype in ("object", "string"):
        frame = pd.DataFrame({"s": pd.Series(["retail", "energy", None], dtype=dtype)})

        assert mask(frame, {"s": "retail"}) == [True, False, False]
        assert mask(frame, {"s": ["retail", "energy"]}) == [True, True, False]
        assert mask(frame, {"s": {"in": ["retail", None]}}) == [True, False, True]
        assert mask(frame, {"s": {"not_in": ["retail", None]}}) == [False, True, False]
        assert mask(frame, {"s": None}) == [False, False, True]
        assert mask(frame, {"s": {"gt": "f"}}) == [True, False, False]  # by the alphabet


def test_conditions_on_booleans() -> None:
    frame = pd.DataFrame(
        {
            "b": [True, False, True],
            "nullable": pd.array([True, False, pd.NA], dtype="boolean"),
        }
    )

    assert mask(frame, {"b": True}) == [True, False, True]
    assert mask(frame, {"b": False}) == [False, True, False]
    assert mask(frame, {"b": {"eq": False}}) == [False, True, False]
    assert mask(frame, {"nullable": True}) == [True, False, False]
    assert mask(frame, {"nullable": False}) == [False, True, False]
    assert mask(frame, {"nullable": None}) == [False, False, True]


def test_every_column_of_a_rule_must_hold_and_an_empty_rule_always_holds() -> None:
    frame = pd.DataFrame({"stage": ["final", "final", "pre_due"], "tier": ["high", "low", "high"]})

    assert mask(frame, {"stage": "final", "tier": ["high", "critical"]}) == [True, False, False]
    assert mask(frame, {}) == [True, True, True]
    assert matches(frame, {}).index.equals(frame.index)


def test_matches_keeps_the_frame_index() -> None:
    frame = pd.DataFrame({"n": [3.0, 7.0]}, index=pd.Index(["C9", "C1"], name="customer_id"))

    result = matches(frame, {"n": {"gt": 5}})

    assert result.to_dict() == {"C9": False, "C1": True}


def test_first_match_reads_the_rules_top_to_bottom() -> None:
    rules: list[dict[str, Condition]] = [{"n": {"gt": 5}}, {"n": {"gt": 1}}, {}]

    assert first_match(NUMBERS, rules).tolist() == [2, 1, 0, 2]
    assert first_match(NUMBERS, rules[:2]).tolist() == [-1, 1, 0, -1]  # no rule: -1
    assert first_match(NUMBERS, [{}, {"n": 5}]).tolist() == [0, 0, 0, 0]


# --- what the settings accept -----------------------------------------------------------------

CONTEXT = rule_columns(ScoringSettings())
SHIPPED_RULES = ScoringSettings().model_dump(by_alias=True, include={"segments", "playbook"})


def with_rules(
    segments: Sequence[dict[str, Any]] = (),
    playbook: Sequence[dict[str, Any]] = (),
    context: dict[str, Any] | None = CONTEXT,
) -> ScoringSettings:
    """The shipped settings with these rules first, validated as a run loads the file."""
    data = {
        "segments": [*segments, *SHIPPED_RULES["segments"]],
        "playbook": [*playbook, *SHIPPED_RULES["playbook"]],
    }
    return ScoringSettings.model_validate(data, context=context)


def rejection(**rules: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        with_rules(**rules)
    return str(caught.value)


def test_the_shipped_file_equals_the_defaults() -> None:
    shipped = load_model(ScoringSettings, SHIPPED_YAML)

    assert shipped == ScoringSettings()
    # And it validates against the columns its rules may test, as a run loads it.
    assert load_model(ScoringSettings, SHIPPED_YAML, context=rule_columns(shipped)) == shipped


def test_a_segment_rule_on_an_unknown_column_is_rejected_naming_it() -> None:
    segments = [{"segment": "big", "when": {"open_balanse": {"gt": 1}}}]

    message = rejection(segments=segments)

    assert "unknown column 'open_balanse'" in message
    assert "segments.0.when" in message
    # Without the columns to check against (the first of two passes), it loads.
    assert with_rules(segments=segments, context=None).segments[0].segment == "big"


def test_a_playbook_rule_on_an_unknown_column_is_rejected_naming_it() -> None:
    playbook = [{"action": "credit_hold", "when": {"risk_teir": "critical"}}]

    message = rejection(playbook=playbook)

    assert "unknown column 'risk_teir'" in message
    assert "playbook.0.when" in message


@pytest.mark.parametrize(
    "column",
    [
        "next_action",
        "next_action_label",
        "next_action_date",
        "money_at_risk",
        "priority_weight",
        "priority_rank",
    ],
)
def test_a_playbook_rule_cannot_test_what_is_computed_after_the_segment(column: str) -> None:
    playbook = [{"action": "credit_hold", "when": {column: 1}}]

    assert f"unknown column {column!r}" in rejection(playbook=playbook)


@pytest.mark.parametrize("column", ["segment", "next_action", "priority_rank"])
def test_a_segment_rule_cannot_test_the_segment_or_what_follows(column: str) -> None:
    segments = [{"segment": "big", "when": {column: "x"}}]

    assert f"unknown column {column!r}" in rejection(segments=segments)


def test_rules_may_test_what_is_computed_before_them() -> None:
    settings = with_rules(
        segments=[
            {"segment": "late", "when": {"collection_stage": "final", "health_score": {"lt": 35}}},
            {"segment": "flagged", "when": {"flag_paper_invoicing": True}},
        ],
        playbook=[
            {"action": "credit_hold", "when": {"segment": "late", "risk_tier": "critical"}},
            {"action": "dunning_1", "when": {"aging_d1_30": {"gt": 0}}},
        ],
    )

    assert [r.segment for r in settings.segments][:3] == ["late", "flagged", "new"]


def test_rules_may_test_the_files_own_aging_buckets() -> None:
    buckets = [
        AgingBucket(key="current", label="Current", max_days_overdue=0),
        AgingBucket(key="d1_45", label="1-45", max_days_overdue=45),
        AgingBucket(key="older", label="Older", max_days_overdue=None),
    ]
    draft = ScoringSettings(
        aging_buckets=tuple(buckets),
        priority=PrioritySettings(bucket_weights={"d1_45": 0.5, "older": 1}),
    )
    data = {
        **draft.model_dump(by_alias=True),
        "segments": [
            {"segment": "slow", "when": {"aging_d1_45": {"gt": 0}}},
            *SHIPPED_RULES["segments"],
        ],
    }

    settings = ScoringSettings.model_validate(data, context=rule_columns(draft))

    assert settings.segments[0].when == {"aging_d1_45": {"gt": 0}}
    stale = {
        **data,
        "segments": [{"segment": "s", "when": {"aging_d1_30": 1}}, *SHIPPED_RULES["segments"]],
    }
    with pytest.raises(ValidationError, match="unknown column 'aging_d1_30'"):
        ScoringSettings.model_validate(stale, context=rule_columns(draft))


@pytest.mark.parametrize("section", ["segments", "playbook"])
def test_the_last_rule_must_hold_for_everyone(section: str) -> None:
    extra = {
        "segments": {"segment": "late", "when": {"is_new": False}},
        "playbook": {"action": "dunning_1", "when": {"is_new": False}},
    }
    data = {section: [*SHIPPED_RULES[section], extra[section]]}

    with pytest.raises(ValidationError, match="the last rule must have no `when`"):
        ScoringSettings.model_validate(data, context=CONTEXT)


def test_an_unknown_column_in_the_file_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    text = SHIPPED_YAML.read_text(encoding="utf-8")
    wrong = "{segment: disputing,       when: {disputed_balanse: {gt: 0}}}"
    text = text.replace("{segment: disputing,       when: {disputed_balance: {gt: 0}}}", wrong)
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index(f"  - {wrong}") + 1
    draft = load_model(ScoringSettings, path)

    with pytest.raises(ConfigError) as caught:
        load_model(ScoringSettings, path, context=rule_columns(draft))

    (problem,) = caught.value.problems
    assert problem.line == line
    assert problem.key_path == "segments[1].when.disputed_balanse"
    assert problem.message.startswith("unknown column 'disputed_balanse'")


# --- rules the settings accept today, and should not ------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [{"gt": None}, {"lte": None}, {"lt": [1, 2]}, {"gte": [0]}],
    ids=["gt-null", "lte-null", "lt-list", "gte-list"],
)
def test_an_ordering_operator_needs_a_single_value(condition: dict[str, Any]) -> None:
    """`{gt: null}` quietly means "not missing" and `{lt: [1, 2]}` means "not 1 or 2"
    (`scoring.rules._compare` turns every operator but `eq` into a negated equality when the
    value is null or a list), which no one writing them meant."""
    segments = [{"segment": "big", "when": {"open_balance": condition}}]

    assert "open_balance" in rejection(segments=segments)


def test_a_number_column_compared_with_text_is_rejected_when_loaded() -> None:
    """`open_balance: {gt: 1,000}` is YAML for the text "1,000": the settings load, and then
    every scoring run fails with "TypeError: Invalid comparison between dtype=float64 and str"
    instead of the file being refused with its line."""
    segments = [{"segment": "big", "when": {"open_balance": {"gt": "1,000"}}}]

    assert "open_balance" in rejection(segments=segments)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("segment", "disputng"),
        ("collection_stage", "dunning_4"),
        ("risk_tier", ["high", "critcal"]),
    ],
)
def test_a_playbook_value_that_can_never_occur_is_rejected(column: str, value: Any) -> None:
    """A misspelt segment, stage or tier in the playbook silently never matches: with
    `segment: disputng` no customer is ever asked to resolve a dispute, and `validate` says ok."""
    playbook = [{"action": "resolve_dispute", "when": {column: value}}]

    message = rejection(playbook=playbook)

    assert column in message
    assert str(value if isinstance(value, str) else value[1]) in message
