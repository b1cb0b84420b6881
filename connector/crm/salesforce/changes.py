"""The one change type and the one outcome type of every object arsync writes.

An Account update, an invoice record's upsert and a Task's create or close are each one
`RecordChange`, planned from the run's one read; the writer answers each with one
`ChangeOutcome`, so the run reports every object the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["create", "update", "close"]


@dataclass(frozen=True)
class RecordChange:
    """One record to create, update or close; `key` is what it is known by in the ERP terms
    (an Account's customer, an invoice record's invoice id; for a Task, its Account).

    `values` are the fields to write (None clears one), `previous` what Salesforce holds now.
    """

    sobject: str
    key: str
    customer_id: str
    action: Action
    values: dict[str, Any]
    record_id: str | None = None
    previous: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeOutcome:
    """What Salesforce answered to one change: written (`ok`) or refused, with its code."""

    change: RecordChange
    ok: bool
    record_id: str | None
    error_code: str | None = None
    message: str | None = None
