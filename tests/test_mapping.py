"""The CRM mapping: exactly the named fields, shaped as the mapping says, on the right key."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from pydantic import ValidationError

from arsync.mapping import CrmMapping, desired_values, shape_value


def scored() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "customer_name": ["Acme", "Globex"],
            "crm_account_id": ["001000000000001AAA", None],
            "open_balance": [1234.5678, 0.0],
            "overdue_status": ["Over 120 days overdue", "Current"],
            "max_days_overdue": [150, 0],
            "as_of_date": [dt.date(2026, 6, 30)] * 2,
        }
    )


def mapping(**fields: dict[str, object]) -> CrmMapping:
    return CrmMapping.model_validate({"fields": fields})


def test_only_the_mapped_fields_are_planned_with_shaped_values() -> None:
    plan = desired_values(
        scored(),
        mapping(
            AR_Open__c={"from": "open_balance"},
            AR_Status__c={"from": "overdue_status", "values": {"Current": "OK"}, "max_length": 8},
            AR_Days__c={"from": "max_days_overdue"},
            AR_As_Of__c={"from": "as_of_date"},
        ),
    )

    values = {(r.customer_id, r.field): r.value for r in plan.itertuples()}
    assert values == {
        ("C1", "AR_As_Of__c"): "2026-06-30",
        ("C1", "AR_Days__c"): 150,
        ("C1", "AR_Open__c"): 1234.57,
        ("C1", "AR_Status__c"): "Over 120",
        ("C2", "AR_As_Of__c"): "2026-06-30",
        ("C2", "AR_Days__c"): 0,
        ("C2", "AR_Open__c"): 0.0,
        ("C2", "AR_Status__c"): "OK",
    }


def test_account_is_matched_by_its_crm_id_when_known_else_by_the_erp_id() -> None:
    plan = desired_values(scored(), mapping(AR_Open__c={"from": "open_balance"}))

    keys = plan[["customer_id", "match_field", "match_value"]].values.tolist()
    assert keys == [["C1", "Id", "001000000000001AAA"], ["C2", "ERP_Customer_Id__c", "C2"]]


def test_rounding_is_configurable() -> None:
    plan = desired_values(scored(), mapping(AR_Open__c={"from": "open_balance", "round": 0}))

    assert plan["value"].tolist() == [1235.0, 0.0]


def test_the_match_key_can_never_be_written() -> None:
    with pytest.raises(ValidationError, match="ERP_Customer_Id__c is the match key"):
        mapping(ERP_Customer_Id__c={"from": "customer_id"})


def test_unknown_column_names_the_closest_one() -> None:
    with pytest.raises(ValidationError, match="did you mean 'open_balance'"):
        CrmMapping.model_validate(
            {"fields": {"AR_Open__c": {"from": "open_balanse"}}},
            context={"columns": ["open_balance", "overdue_balance"]},
        )


def test_missing_values_stay_none_so_the_field_is_cleared_not_set_to_nan() -> None:
    frame = scored().assign(reason=pd.Series(["LATE_PAYER: 40 days", None], dtype="str"))

    plan = desired_values(frame, mapping(AR_Reason__c={"from": "reason"}))

    assert plan["value"].tolist() == ["LATE_PAYER: 40 days", None]


def test_the_hold_checkbox_can_never_be_written() -> None:
    with pytest.raises(ValidationError, match="AR_Sync_Hold__c is the hold checkbox"):
        mapping(AR_Sync_Hold__c={"from": "is_new"})


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (pd.Timestamp("2026-11-20T23:00:00.123456Z"), "2026-11-20T23:00:00.123Z"),
        (
            dt.datetime(2026, 11, 21, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "2026-11-20T23:30:00.000Z",
        ),
        (pd.NaT, None),
    ],
)
def test_instants_are_written_in_utc_as_salesforce_spells_them(
    moment: object, expected: str | None
) -> None:
    spec = CrmMapping.model_validate({"fields": {"AR_As_Of__c": {"from": "data_as_of"}}})

    assert shape_value(moment, spec.fields["AR_As_Of__c"]) == expected
