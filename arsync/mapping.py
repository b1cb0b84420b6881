"""The CRM mapping (`mappings/salesforce_account.yaml`): which computed column lands in which
field, how the value is shaped on the way, and how an ERP customer finds its Account.

The worker writes exactly the fields named here and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import Field, ValidationInfo, field_validator, model_validator

from arsync.crm_objects import InvoiceSync, TaskSync
from arsync.shaping import (
    SalesforceName,
    Strict,
    ValueShape,
    float_places,
    known_column,
    shape_value,
)

ACCOUNT_ID_FIELD = "Id"


class MatchSettings(Strict):
    """How an ERP customer finds its Account."""

    external_id_field: SalesforceName = Field(
        default="ERP_Customer_Id__c",
        description="Account field (an external id) that holds the ERP customer id",
    )
    prefer_crm_account_id: bool = Field(
        default=True,
        description="match by the Salesforce Account id when the ERP customer carries one",
    )
    hold_field: SalesforceName | None = Field(
        default="AR_Sync_Hold__c",
        description="checkbox on the Account: checked, arsync writes nothing to it (null: none)",
    )


class FieldMapping(ValueShape):
    """One CRM field, fed by one computed column."""

    mode: Literal["owned", "suggested"] = Field(
        default="owned",
        description="owned: always written; suggested: written only while the field still "
        "holds what arsync last wrote (a person's edit stands, and is reported)",
    )
    advance_only: bool = Field(
        default=False,
        description="written only when later than what the field holds, never emptied: for "
        "a stamp that a rerun on older or missing data must not move back",
    )
    keep_earlier_while_unchanged: SalesforceName | None = Field(
        default=None,
        description="a date kept at its earlier value while this other mapped field keeps "
        "its value: an action not done stays due on the day it fell due",
    )

    @field_validator("source")
    @classmethod
    def _known_column(cls, column: str, info: ValidationInfo) -> str:
        known: Collection[str] | None = (info.context or {}).get("columns")
        return column if known is None else known_column(column, known)


class PromiseSource(Strict):
    """Where people record a promise to pay: fields on the Account, or a related object whose
    latest record (by promised date) is the promise that counts."""

    object: SalesforceName | None = Field(
        default=None, description="a related object holding promises; empty: the Account itself"
    )
    account_field: SalesforceName | None = Field(
        default=None, description="the related object's lookup to the Account"
    )
    amount_field: SalesforceName = Field(description="the promised amount (reporting currency)")
    date_field: SalesforceName = Field(description="the date the customer promised to pay by")
    made_on_field: SalesforceName | None = Field(
        default=None, description="when the promise was given; payments from then count"
    )

    @model_validator(mode="after")
    def _related_object_needs_its_lookup(self) -> PromiseSource:
        if (self.object is None) != (self.account_field is None):
            raise ValueError("object and account_field go together: a related object needs both")
        return self

    def fields(self) -> list[str]:
        return [self.amount_field, self.date_field, *filter(None, [self.made_on_field])]


class DisputeSource(Strict):
    """An Account field where people mark a dispute: a picklist, a text or a checkbox."""

    field: SalesforceName
    open_values: tuple[str, ...] = Field(
        default=("Open",), description="values that mean open (a checkbox: checked is open)"
    )


#: What the CRM inputs become, per customer, for scoring (`scoring.promises.crm_inputs`).
CRM_INPUT_COLUMNS = ("promise_amount", "promise_date", "promise_made_on", "crm_dispute_open")


class CrmInputs(Strict):
    """What arsync reads from the CRM before scoring; people own these fields."""

    promise: PromiseSource | None = None
    dispute: DisputeSource | None = None

    def account_fields(self) -> list[str]:
        """The inputs read from the Account itself."""
        promise = self.promise.fields() if self.promise and self.promise.object is None else []
        return [*promise, *([self.dispute.field] if self.dispute else [])]


class CrmMapping(Strict):
    object: SalesforceName = "Account"
    match: MatchSettings = MatchSettings()
    from_crm: CrmInputs = CrmInputs()
    fields: dict[SalesforceName, FieldMapping] = Field(min_length=1)
    invoices: InvoiceSync = InvoiceSync()
    tasks: TaskSync = TaskSync()

    @field_validator("fields")
    @classmethod
    def _match_field_not_written(
        cls, fields: dict[str, FieldMapping], info: ValidationInfo
    ) -> dict[str, FieldMapping]:
        match: MatchSettings | None = info.data.get("match")
        protected = {ACCOUNT_ID_FIELD, match.external_id_field if match else ""}
        clash = sorted(protected & set(fields))
        if clash:
            raise ValueError(f"{', '.join(clash)} is the match key and cannot be written")
        if match is not None and match.hold_field in fields:
            raise ValueError(f"{match.hold_field} is the hold checkbox: people set it, not arsync")
        unknown = sorted(
            f"{name} names {spec.keep_earlier_while_unchanged}"
            for name, spec in fields.items()
            if spec.keep_earlier_while_unchanged not in (None, *fields)
        )
        if unknown:
            raise ValueError(
                f"keep_earlier_while_unchanged must name a mapped field: {', '.join(unknown)}"
            )
        inputs: CrmInputs | None = info.data.get("from_crm")
        read = sorted(set(inputs.account_fields() if inputs else []) & set(fields))
        if read:
            raise ValueError(f"{', '.join(read)} is read from_crm: people set it, not arsync")
        return fields


PLAN_COLUMNS = ["customer_id", "customer_name", "match_field", "match_value", "field", "value"]


def desired_values(scored: pd.DataFrame, mapping: CrmMapping) -> pd.DataFrame:
    """One row per customer and mapped field: the value the CRM should hold, ordered by
    customer id, then field name."""
    match_field, match_value = _match_keys(scored, mapping.match)
    columns = {
        "customer_id": scored["customer_id"].to_numpy(),
        "customer_name": scored["customer_name"].to_numpy(),
        "match_field": np.asarray(match_field, dtype=object),
        "match_value": np.asarray(match_value, dtype=object),
    }
    # object dtype: None must stay None ("clear the field"), never become NaN
    values = {field: _shaped(scored[spec.source], spec) for field, spec in mapping.fields.items()}
    if not values:
        return pd.DataFrame(columns=PLAN_COLUMNS)
    if len(scored) and scored["customer_id"].is_unique:
        return _customer_major(columns, values)
    frames = [
        pd.DataFrame({**columns, "field": field, "value": value}) for field, value in values.items()
    ]
    plan = pd.concat(frames, ignore_index=True)
    return plan.sort_values(["customer_id", "field"], kind="stable", ignore_index=True)


def _customer_major(columns: dict[str, np.ndarray], values: dict[str, pd.Series]) -> pd.DataFrame:
    """The plan laid out at once in its final order, customer by customer and each
    customer's fields by name: what sorting one frame per field by (customer id, field) gives
    when ids are unique, without building and sorting 26 frames of 50,000 rows."""
    ids = pd.Series(columns["customer_id"])
    order = ids.sort_values(kind="stable").index.to_numpy()
    fields = sorted(values)
    grid = np.empty((len(order), len(fields)), dtype=object)
    for position, field in enumerate(fields):
        grid[:, position] = values[field].to_numpy(dtype=object)[order]
    rows = np.repeat(order, len(fields))
    repeated = {name: _repeated_text(column, rows) for name, column in columns.items()}
    field_column = np.tile(np.asarray(fields, dtype=object), len(order))
    value = pd.Series(grid.ravel(), dtype=object)
    return pd.DataFrame({**repeated, "field": field_column, "value": value})


def _repeated_text(column: np.ndarray, rows: np.ndarray) -> pd.Series | np.ndarray:
    """column[rows] as the "str" column pandas would infer from those objects, taken in
    Arrow rather than by scanning 1.3 million Python objects; anything but text with some
    values (ints, all missing: pandas would infer another dtype) as the objects themselves."""
    text = _some_text(column)
    if text is None:
        objects: np.ndarray = column[rows]
        return objects
    taken = pa.chunked_array([text.take(pa.array(rows))])
    return pd.Series(pd.arrays.ArrowStringArray(taken)).astype("str")


def _some_text(column: np.ndarray) -> pa.Array | None:
    try:
        text = pa.array(column, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return None if text.null_count == len(text) else text


def _shaped(values: pd.Series, spec: FieldMapping) -> pd.Series:
    """Each value as the field takes it. A column of one type is shaped once per distinct
    value (tiers, dates and flags repeat across 50,000 Accounts); a mixed one value by value,
    where 1, 1.0 and True must not be taken for one value."""
    if values.dtype == object:
        return pd.Series([shape_value(v, spec) for v in values.tolist()], dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    distinct = pd.Series(uniques, dtype=values.dtype).tolist()
    shaped = np.empty(len(uniques), dtype=object)
    if values.dtype == np.float64:  # shape_value's float rule, without its type tests
        places = float_places(spec)
        shaped[:] = [None if math.isnan(v) else round(v, places) for v in distinct]
    else:
        shaped[:] = [shape_value(v, spec) for v in distinct]
    return pd.Series(shaped[codes], dtype=object)


def match_keys(customers: pd.DataFrame, match: MatchSettings) -> pd.DataFrame:
    """`customer_id`, `match_field`, `match_value`: how each customer finds its Account."""
    fields, values = _match_keys(customers, match)
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].astype(str).to_numpy(),
            "match_field": fields,
            "match_value": values,
        }
    )


def _match_keys(scored: pd.DataFrame, match: MatchSettings) -> tuple[list[str], list[str]]:
    fields, values = [], []
    for customer_id, account_id in zip(
        scored["customer_id"].tolist(), scored["crm_account_id"].tolist(), strict=True
    ):
        if match.prefer_crm_account_id and isinstance(account_id, str) and account_id:
            fields.append(ACCOUNT_ID_FIELD)
            values.append(account_id)
        else:
            fields.append(match.external_id_field)
            values.append(str(customer_id))
    return fields, values
