"""Rules from `config/scoring.yaml` (segments, playbook) evaluated on whole columns at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scoring.settings import Condition, Scalar

_COMPARE = {
    "eq": lambda s, v: s == v,
    "ne": lambda s, v: s != v,
    "gt": lambda s, v: s > v,
    "gte": lambda s, v: s >= v,
    "lt": lambda s, v: s < v,
    "lte": lambda s, v: s <= v,
}


def matches(frame: pd.DataFrame, when: Mapping[str, Condition]) -> pd.Series:
    """Rows where every condition holds; a missing value (NaN) satisfies no comparison."""
    mask = pd.Series(True, index=frame.index)
    for column, condition in when.items():
        mask &= _holds(frame[column], condition)
    return mask


def first_match(frame: pd.DataFrame, rules: Sequence[Mapping[str, Condition]]) -> np.ndarray:
    """Per row, the index of the first rule that holds (rules are read top to bottom)."""
    chosen = np.full(len(frame), -1, dtype="int64")
    for index in reversed(range(len(rules))):
        chosen[matches(frame, rules[index]).to_numpy(dtype=bool)] = index
    return chosen


def _holds(series: pd.Series, condition: Condition) -> pd.Series:
    if isinstance(condition, dict):
        mask = pd.Series(True, index=series.index)
        for operator, value in condition.items():
            if operator in {"in", "not_in"}:
                inside = _isin(series, value if isinstance(value, list) else [value])
                mask &= inside if operator == "in" else ~inside
            else:
                mask &= _compare(series, operator, value)
        return mask
    if isinstance(condition, list):
        return _isin(series, condition)
    return _equals(series, condition)


def _compare(series: pd.Series, operator: str, value: Scalar | list[Scalar]) -> pd.Series:
    if value is None or isinstance(value, list):
        return _equals(series, value) if operator == "eq" else ~_equals(series, value)
    result = pd.Series(_COMPARE[operator](series, value), index=series.index)
    return result.fillna(False).astype(bool) & series.notna()


def _equals(series: pd.Series, value: Scalar | list[Scalar]) -> pd.Series:
    if value is None:
        return series.isna()
    if isinstance(value, list):
        return _isin(series, value)
    return (series == value).fillna(False).astype(bool)


def _isin(series: pd.Series, values: list[Scalar]) -> pd.Series:
    present = [v for v in values if v is not None]
    inside = series.isin(present)
    if len(present) != len(values):
        inside |= series.isna()
    return inside.fillna(False).astype(bool)
