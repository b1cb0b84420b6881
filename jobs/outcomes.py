"""One outcome row per record of every object a run writes, in one shape.

An Account's update, an invoice record's upsert and a Task's create or close are each
answered by one `ChangeOutcome`; an Account that is not written (no match, ambiguous, held
back unreconciled) has a row too, with why. The same rows are `out/outcomes.csv`, the run
record's `outcomes` table and what `arsync runs show` lists, so every object is reported
the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import pandas as pd

from connector.crm.salesforce.changes import ChangeOutcome, RecordChange

ACCOUNT: Final = "Account"
OUTCOME_COLUMNS: Final = (
    "object",
    "key",
    "customer_id",
    "action",
    "record_id",
    "fields",
    "status",
    "error_code",
    "message",
)
"""`key`: what the record is known by in ERP terms (an Account's customer, an invoice record's
invoice id, a Task's Account); `status`: written, failed, planned (a dry run), or why an
Account was not written (unmatched, ambiguous, unreconciled)."""


def outcome_row(change: RecordChange, outcome: ChangeOutcome | None) -> dict[str, Any]:
    """One change's row: `planned` without an outcome (a dry run), else written or failed."""
    return {
        "object": change.sobject,
        "key": change.key,
        "customer_id": change.customer_id,
        "action": change.action,
        "record_id": outcome.record_id if outcome else change.record_id,
        "fields": ",".join(sorted(change.values)),
        "status": "planned" if outcome is None else "written" if outcome.ok else "failed",
        "error_code": outcome.error_code if outcome else None,
        "message": outcome.message if outcome else None,
    }


def unwritten_row(
    customer_id: str, status: str, message: str | None, error_code: str | None = None
) -> dict[str, Any]:
    """The row of an Account that is not written, and why."""
    return {
        "object": ACCOUNT,
        "key": customer_id,
        "customer_id": customer_id,
        "action": "update",
        "record_id": None,
        "fields": "",
        "status": status,
        "error_code": error_code,
        "message": message,
    }


def outcome_frame(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """The rows as the outcomes frame, its columns in order (none: an empty frame)."""
    return pd.DataFrame(list(rows), columns=list(OUTCOME_COLUMNS))


def accounts(outcomes: pd.DataFrame) -> pd.DataFrame:
    """The Accounts' rows of an outcomes frame."""
    return outcomes[outcomes["object"] == ACCOUNT]


def others(outcomes: pd.DataFrame) -> pd.DataFrame:
    """The rows of every other object: invoice records and Tasks."""
    return outcomes[outcomes["object"] != ACCOUNT]
