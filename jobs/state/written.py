"""The values arsync last wrote to Salesforce, per (Account, field): how the next run tells its
own writes from a person's edits of a `suggested` field.

Kept for any real run, a failed one too (`keep`, inside `StateStore.finish_run`'s
transaction): what Salesforce confirmed is in the org whatever became of the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.state.bulk import upsert_values
from jobs.state.models import WrittenValue
from jobs.state.sessions import Sessions, json_wrapper


class Written:
    """The written values of one store."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def values(self) -> dict[tuple[str, str], Any]:
        """(account id, field) -> the value arsync last wrote there."""
        with self._sessions.read() as session:
            rows = session.execute(
                select(WrittenValue.account_id, WrittenValue.field, WrittenValue.value)
            )
            return {(str(account), str(name)): value for account, name, value in rows}


def keep(session: Session, run_id: str, written: Iterable[tuple[str, str, Any]]) -> None:
    """Upsert (account, field, value) by (account, field), the last of a repeated pair
    winning, as plain tuples (a first run writes 32 fields of 50,000 Accounts: 1.6 M)."""
    if session.get_bind().dialect.name == "postgresql":  # one row per key, and Json
        wrap = json_wrapper(session)
        latest = {(account, name): value for account, name, value in written}
        written = ((account, name, wrap(value)) for (account, name), value in latest.items())
    upsert_values(
        session,
        WrittenValue,
        ("account_id", "field", "value"),
        written,
        ("account_id", "field"),
        same={"run_id": run_id},
    )
