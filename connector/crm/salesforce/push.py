"""Writing the planned changes in as few calls as the platform allows, one outcome per record.

Up to `bulk_threshold` Accounts go as sObject Collections updates (200 a call, allOrNone
false); more go as one Bulk API 2.0 ingest job. A record that fails for a passing reason
(a row lock) is sent again, a bounded number of times; a record the org refuses (a validation
rule, a bad picklist value) is reported with Salesforce's code and never retried.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog

from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.plan import AccountUpdate
from connector.errors import FatalError

log = structlog.get_logger(__name__)
RETRY_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
BULK_NULL = "#N/A"  # in Bulk API 2.0 CSV an empty cell leaves a field unchanged
_FINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
_MAX_CSV_BYTES = 90 * 2**20  # a job takes up to 150 MB; stay well below


class Status(StrEnum):
    WRITTEN = "written"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    customer_id: str
    account_id: str
    status: Status
    fields: tuple[str, ...]
    error_code: str | None = None
    message: str | None = None


def push(
    client: SalesforceClient,
    sobject: str,
    updates: Sequence[AccountUpdate],
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Write every update; return one outcome per Account, in the order of `updates`."""
    settings = client.settings
    outcomes: dict[str, Outcome] = {}
    pending = list(updates)
    for round_number in range(1, settings.retry.max_attempts + 1):
        if not pending:
            break
        if len(pending) > settings.bulk_threshold:
            results = _bulk(client, sobject, pending, sleep)
        else:
            results = _collections(client, sobject, pending)
        retry = []
        for update in pending:
            outcome = results[update.account_id]
            outcomes[update.account_id] = outcome
            if outcome.error_code in RETRY_RECORD_CODES:
                retry.append(update)
        if retry and round_number < settings.retry.max_attempts:
            log.warning("salesforce.records_retried", records=len(retry), round=round_number)
            sleep(settings.retry.initial_wait_seconds * round_number)
        pending = retry
    ordered = [outcomes[u.account_id] for u in updates]
    failed = [o for o in ordered if o.status is Status.FAILED]
    for outcome in failed:
        log.warning(
            "salesforce.record_failed",
            customer_id=outcome.customer_id,
            account_id=outcome.account_id,
            error_code=outcome.error_code,
            message=outcome.message,
        )
    log.info(
        "salesforce.push_finished",
        written=len(ordered) - len(failed),
        failed=len(failed),
        calls=client.budget.total_calls,
    )
    return ordered


def _collections(
    client: SalesforceClient, sobject: str, updates: Sequence[AccountUpdate]
) -> dict[str, Outcome]:
    size = client.settings.collection_size
    results: dict[str, Outcome] = {}
    for start in range(0, len(updates), size):
        batch = updates[start : start + size]
        records = [{"id": u.account_id, **u.changes} for u in batch]
        answers = client.update_collection(sobject, records)
        if len(answers) != len(batch):
            raise FatalError(f"Salesforce answered {len(answers)} results for {len(batch)} records")
        for update, answer in zip(batch, answers, strict=True):
            results[update.account_id] = _collection_outcome(update, answer)
    return results


def _collection_outcome(update: AccountUpdate, answer: dict[str, Any]) -> Outcome:
    fields = tuple(update.changes)
    if answer.get("success"):
        return Outcome(update.customer_id, update.account_id, Status.WRITTEN, fields)
    errors = answer.get("errors") or [{}]
    first = errors[0]
    return Outcome(
        update.customer_id,
        update.account_id,
        Status.FAILED,
        fields,
        str(first.get("statusCode", "UNKNOWN")),
        "; ".join(str(e.get("message", "")) for e in errors),
    )


def _bulk(
    client: SalesforceClient,
    sobject: str,
    updates: Sequence[AccountUpdate],
    sleep: Callable[[float], None],
) -> dict[str, Outcome]:
    results: dict[str, Outcome] = {}
    for part in _csv_parts(updates):
        results.update(_bulk_job(client, sobject, part, sleep))
    return results


def _csv_parts(updates: Sequence[AccountUpdate]) -> list[list[AccountUpdate]]:
    """Groups whose CSV stays under the per-job size limit."""
    parts: list[list[AccountUpdate]] = [[]]
    size = 0
    for update in updates:
        row = sum(len(str(v)) + 3 for v in update.changes.values()) + 20
        if parts[-1] and size + row > _MAX_CSV_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(update)
        size += row
    return parts


def bulk_csv(updates: Sequence[AccountUpdate]) -> str:
    """Id plus every changed field; an unchanged field's cell stays empty, None is #N/A."""
    columns = sorted({name for u in updates for name in u.changes})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Id", *columns])
    for update in updates:
        row = [update.account_id]
        for name in columns:
            if name not in update.changes:
                row.append("")
            else:
                row.append(_bulk_cell(update.changes[name]))
        writer.writerow(row)
    return buffer.getvalue()


def _bulk_cell(value: Any) -> str:
    if value is None or value == "":
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bulk_job(
    client: SalesforceClient,
    sobject: str,
    updates: Sequence[AccountUpdate],
    sleep: Callable[[float], None],
) -> dict[str, Outcome]:
    settings = client.settings
    created = client.raw(
        "bulk_create",
        "POST",
        "jobs/ingest",
        json={
            "object": sobject,
            "operation": "update",
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        },
    ).json()
    job_id = created["id"]
    log.info("salesforce.bulk_job_created", job_id=job_id, records=len(updates))
    client.raw(
        "bulk_upload",
        "PUT",
        f"jobs/ingest/{job_id}/batches",
        data=bulk_csv(updates).encode("utf-8"),
        headers={"Content-Type": "text/csv"},
    )
    client.raw("bulk_close", "PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
    deadline = time.monotonic() + settings.bulk_timeout_seconds
    while True:
        state = client.raw("bulk_status", "GET", f"jobs/ingest/{job_id}").json()
        if state["state"] in _FINAL_STATES:
            break
        if time.monotonic() > deadline:
            raise FatalError(f"Bulk API job {job_id} did not finish in time")
        sleep(settings.bulk_poll_seconds)
    log.info(
        "salesforce.bulk_job_finished",
        job_id=job_id,
        state=state["state"],
        processed=state.get("numberRecordsProcessed"),
        failed=state.get("numberRecordsFailed"),
    )
    return _bulk_outcomes(client, job_id, updates, state.get("errorMessage"))


def _bulk_outcomes(
    client: SalesforceClient,
    job_id: str,
    updates: Sequence[AccountUpdate],
    job_error: str | None,
) -> dict[str, Outcome]:
    """Results carry no row index: outcomes are keyed on the record Id."""
    by_id = {u.account_id: u for u in updates}
    results: dict[str, Outcome] = {}
    for row in _csv_rows(client, f"jobs/ingest/{job_id}/successfulResults/"):
        update = by_id.get(row.get("sf__Id", ""))
        if update is not None:
            results[update.account_id] = Outcome(
                update.customer_id, update.account_id, Status.WRITTEN, tuple(update.changes)
            )
    for row in _csv_rows(client, f"jobs/ingest/{job_id}/failedResults/"):
        update = by_id.get(row.get("sf__Id") or row.get("Id", ""))
        if update is not None:
            code, _, message = (row.get("sf__Error") or "UNKNOWN").partition(":")
            results[update.account_id] = Outcome(
                update.customer_id,
                update.account_id,
                Status.FAILED,
                tuple(update.changes),
                code,
                message.rstrip(" -:") or code,
            )
    for update in updates:
        if update.account_id not in results:
            results[update.account_id] = Outcome(
                update.customer_id,
                update.account_id,
                Status.FAILED,
                tuple(update.changes),
                "UNPROCESSED",
                job_error or "the Bulk API job did not process this record",
            )
    return results


def _csv_rows(client: SalesforceClient, path: str) -> list[dict[str, str]]:
    text = client.raw("bulk_results", "GET", path).text
    return list(csv.DictReader(io.StringIO(text)))
