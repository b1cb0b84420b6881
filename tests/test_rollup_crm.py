"""A parent Account gets its own figures, the roll-up, or both, as the mapping says.

The sample's C00006 has three children; the mapping writes both its own open balance and
the roll-up, and the group's worst tier, onto the fake org.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from cli_project import cli, make_project
from fakes.salesforce import FieldSpec, PicklistValue
from sample_org import new_org

PARENT = "C00006"
TIERS = ["low", "medium", "high", "critical"]


def test_the_parent_account_gets_its_own_figures_and_the_roll_up(tmp_path: Path) -> None:
    fake = new_org()
    fake.add_field(FieldSpec("AR_Group_Open_Balance__c", "currency", precision=16, scale=2))
    fake.add_field(
        FieldSpec(
            "AR_Group_Risk_Tier__c",
            "picklist",
            length=255,
            picklistValues=tuple(PicklistValue(t.capitalize()) for t in TIERS),
        )
    )
    with fake.running():
        project = make_project(tmp_path, fake, f"sqlite:///{tmp_path / 'state.db'}")
        mapping = tmp_path / "mappings/salesforce_account.yaml"
        mapping.write_text(
            mapping.read_text().replace(
                "fields:\n",
                "fields:\n"
                "  AR_Group_Open_Balance__c: {from: rollup_open_balance}\n"
                "  AR_Group_Risk_Tier__c:\n"
                "    from: rollup_risk_tier\n"
                "    values: {low: Low, medium: Medium, high: High, critical: Critical}\n",
                1,
            )
        )
        code, output, error = cli(project, "run")
    assert code == 0, (output, repr(error))

    with (tmp_path / "out/scores.csv").open(encoding="utf-8", newline="") as handle:
        scores = {row["customer_id"]: row for row in csv.DictReader(handle)}
    children = [c for c, row in scores.items() if row["parent_id"] == PARENT]
    group = [PARENT, *children]
    account = next(
        values
        for values in fake.accounts.values()
        if values["Name"] == scores[PARENT]["customer_name"]
    )

    assert len(children) == 3
    own = Decimal(scores[PARENT]["open_balance"])
    total = sum((Decimal(scores[c]["open_balance"]) for c in group), Decimal(0))
    assert total > own  # the children hold money: the roll-up is not the parent's own figure
    assert Decimal(str(account["AR_Open_Balance__c"])) == own
    assert Decimal(str(account["AR_Group_Open_Balance__c"])) == total
    worst = max((scores[c]["risk_tier"] for c in group), key=TIERS.index)
    assert account["AR_Group_Risk_Tier__c"] == worst.capitalize()
