"""Shaping a computed value into what a CRM field receives, and the names the mappings use.

Shared by the Account mapping and the invoice mapping: rounding, picklist values, cutting
text, dates and instants in the forms Salesforce takes.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Collection
from typing import Annotated, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SalesforceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ValueShape(Strict):
    """Which column feeds a field, and how its value is shaped on the way."""

    source: str = Field(alias="from", description="the column that feeds the field")
    round: Annotated[int, Field(ge=0, le=8)] | None = Field(
        default=None, description="decimal places for numbers (money defaults to 2)"
    )
    values: dict[str, str] = Field(
        default_factory=dict, description="computed value -> picklist value"
    )
    max_length: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="cut longer text to this many characters"
    )


def known_column(column: str, known: Collection[str]) -> str:
    """`column` if it is one of `known`; else an error naming the closest one."""
    if column in known:
        return column
    hint = difflib.get_close_matches(column, list(known), n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ValueError(f"unknown column {column!r}{suggestion}; expected one of: {', '.join(known)}")


def salesforce_datetime(moment: dt.datetime) -> str:
    """An instant as Salesforce writes one: UTC, milliseconds, `Z`."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def float_places(spec: ValueShape) -> int:
    """The decimal places a float is rounded to: the mapping's, or two (money)."""
    return 2 if spec.round is None else spec.round


def shape_value(value: Any, spec: ValueShape) -> Any:
    """A computed value as the CRM field should receive it; None means empty."""
    missing = value is None or value is pd.NA or value is pd.NaT
    if missing or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return salesforce_datetime(value)
    if isinstance(value, pd.Timestamp):
        value = value.date()
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, float_places(spec))
    if isinstance(value, bool | int):
        return value
    text = spec.values.get(str(value), str(value))
    return text[: spec.max_length] if spec.max_length else text
