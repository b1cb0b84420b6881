"""What a run hands the state store when it ends: one value, recorded whole or not at all by
`StateStore.finish_run`, each part by the part of the store it belongs to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arsync.quarantine import QuarantineEntry
from jobs.state.models import FINISHED_STATUSES
from jobs.state.sessions import require_aware


@dataclass(frozen=True)
class NextPull:
    """Where the next pull of the ERP starts: kept only for a completed real run (`cursors`).

    `watermarks` are `{(source, stream): cursor}`; `records` (source, record_type, record_id,
    payload, location) are what an incremental source pulled, merged under the next
    incremental pull; `replace_records_of` names a source whose kept records a full pull
    replaces; `forget_records` (source, type, id) those that changed into something
    quarantined.
    """

    watermarks: Mapping[tuple[str, str], str] = field(default_factory=dict)
    records: Iterable[Mapping[str, Any]] = ()
    replace_records_of: str | None = None
    forget_records: Iterable[tuple[str, str, str]] = ()


@dataclass(frozen=True)
class FinishedRun:
    """The end of a run and all it produced.

    `status` is `succeeded`, `partial` (finished, with quarantined or failed records) or
    `failed`. `as_of`, `data_as_of`, `accounting` (per file or stream: rows read, in the
    ledger, ...) and `model` (the late-payment model's verdict, JSON-ready) replace what the
    run began with when given. `quarantine`, `outcomes` (the rows of the run's outcome
    DataFrame, NaN and numpy numbers accepted) and `reconciliation` (customers out of line
    with the ERP's balances, also of a failed run: the portfolio check fails runs) are kept
    for every run. `snapshots` (rows of the day's scores) are upserted by (snapshot_date,
    customer_id): a rerun on the same day replaces that day's scores. `written` (account,
    field, value) are the values Salesforce confirmed the run wrote: kept for any real run, a
    failed one too, since they are in the org whatever became of the run. `next_pull` moves
    only for a completed (`succeeded` or `partial`) real run: a failed run must be redone from
    the old cursor, and a dry run wrote nothing, so the next real run still owes those changes.
    """

    run_id: str
    status: str
    finished_at: dt.datetime
    counts: Mapping[str, int]
    error: str | None = None
    as_of: dt.date | None = None
    data_as_of: dt.datetime | None = None
    accounting: Mapping[str, Mapping[str, int]] | None = None
    model: Mapping[str, Any] | None = None
    quarantine: Iterable[QuarantineEntry] = ()
    outcomes: Iterable[Mapping[str, Any]] = ()
    reconciliation: Iterable[Mapping[str, Any]] = ()
    snapshots: Iterable[Mapping[str, Any]] = ()
    written: Iterable[tuple[str, str, Any]] = ()
    next_pull: NextPull = field(default_factory=NextPull)

    def __post_init__(self) -> None:
        if self.status not in FINISHED_STATUSES:
            raise ValueError(f"a run finishes as one of {FINISHED_STATUSES}, not {self.status!r}")
        require_aware(finished_at=self.finished_at, data_as_of=self.data_as_of)
