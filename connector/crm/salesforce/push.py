"""Writing the planned changes in as few calls as the platform allows, one outcome per record.

The one writer of every object: Accounts (`push`), invoice records and Tasks alike go as
`RecordChange`s through `write_changes` and come back as one `ChangeOutcome` each.

Up to `bulk_threshold` records go as sObject Collections calls (200 a call, allOrNone
false); more go as Bulk API 2.0 ingest jobs. Updates, inserts and upserts by external id go
the same way, one outcome per record. A record that fails for a passing reason
(a row lock) is sent again, a bounded number of times; a record the org refuses (a validation
rule, a bad picklist value) is reported with Salesforce's code and never retried.

Outcomes are confirmed a batch at a time (each Collections answer, each Bulk job's results):
`on_confirmed` hears of each batch as it is answered, so a run that stops half-way still
knows exactly what Salesforce confirmed before it stopped.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import structlog

from arsync.errors import FatalError
from connector.crm.salesforce.changes import ChangeOutcome, RecordChange
from connector.crm.salesforce.plan import ID_FIELD
from connector.crm.salesforce.readback import AnswerLostError, already_saved

if TYPE_CHECKING:
    from connector.crm.salesforce.client import SalesforceClient

log = structlog.get_logger(__name__)
RETRY_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
BULK_NULL = "#N/A"  # in Bulk API 2.0 CSV an empty cell leaves a field unchanged
_FINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
_MAX_CSV_BYTES = 90 * 2**20  # a job takes up to 150 MB; stay well below


@dataclass(frozen=True)
class Operation:
    """One kind of write to one object.

    `key_field` names what identifies a row in the answers: the record Id for an update, the
    external id for an upsert, and for an insert a field unique within the write (Bulk API
    result files echo the row's columns but keep no order).
    """

    sobject: str
    kind: Literal["insert", "update", "upsert"]
    key_field: str = ID_FIELD


@dataclass(frozen=True)
class RecordWrite:
    """One record to write: `key` identifies it in the outcome; `record_id` for an update."""

    key: str
    values: Mapping[str, Any]
    record_id: str | None = None


@dataclass(frozen=True)
class RecordOutcome:
    key: str
    ok: bool
    record_id: str | None = None
    created: bool = False
    error_code: str | None = None
    message: str | None = None


Confirmed = Callable[[Mapping[str, RecordOutcome]], None]
"""Hears each batch's outcomes (key -> outcome) as Salesforce answers them."""


def push(
    client: SalesforceClient,
    sobject: str,
    updates: Sequence[RecordChange],
    sleep: Callable[[float], None] = time.sleep,
    on_confirmed: Callable[[list[ChangeOutcome]], None] | None = None,
) -> list[ChangeOutcome]:
    """Write every Account update; one outcome per Account, in the order of `updates`.

    `on_confirmed` hears each batch's Account outcomes as they are answered (a record sent
    again after a row lock is heard of again, with its later outcome)."""
    operation = Operation(sobject, "update")
    ordered = write_changes(client, updates, lambda _: operation, sleep, on_confirmed)
    failed = sum(1 for o in ordered if not o.ok)
    log.info(
        "salesforce.push_finished",
        written=len(ordered) - failed,
        failed=failed,
        calls=client.budget.total_calls,
    )
    return ordered


def write_changes(
    client: SalesforceClient,
    changes: Sequence[RecordChange],
    operation_for: Callable[[RecordChange], Operation],
    sleep: Callable[[float], None] = time.sleep,
    on_confirmed: Callable[[list[ChangeOutcome]], None] | None = None,
) -> list[ChangeOutcome]:
    """Write the changes, grouped by operation; one outcome per change, in their order.
    `on_confirmed` hears each batch's outcomes as Salesforce answers them."""
    groups: dict[Operation, list[RecordChange]] = {}
    for change in changes:
        groups.setdefault(operation_for(change), []).append(change)
    results: dict[tuple[Operation, str], RecordOutcome] = {}
    for operation, group in groups.items():
        by_key = {_write_key(c): c for c in group}
        writes = [RecordWrite(_write_key(c), c.values, c.record_id) for c in group]

        def confirmed(
            batch: Mapping[str, RecordOutcome], by_key: dict[str, RecordChange] = by_key
        ) -> None:
            if on_confirmed is not None:
                on_confirmed(
                    [_change_outcome(by_key[key], result) for key, result in batch.items()]
                )

        for key, outcome in write_records(client, operation, writes, sleep, confirmed).items():
            results[(operation, key)] = outcome
    outcomes = []
    for change in changes:
        result = results[(operation_for(change), _write_key(change))]
        outcomes.append(_change_outcome(change, result))
        if not result.ok:
            log.warning(
                "salesforce.record_failed",
                sobject=change.sobject,
                key=change.key,
                customer_id=change.customer_id,
                action=change.action,
                record_id=change.record_id,
                error_code=result.error_code,
                message=result.message,
            )
    return outcomes


def _change_outcome(change: RecordChange, result: RecordOutcome) -> ChangeOutcome:
    return ChangeOutcome(
        change, result.ok, result.record_id or change.record_id, result.error_code, result.message
    )


def _write_key(change: RecordChange) -> str:
    return change.record_id or change.key


def write_records(
    client: SalesforceClient,
    operation: Operation,
    writes: Sequence[RecordWrite],
    sleep: Callable[[float], None] = time.sleep,
    on_confirmed: Confirmed | None = None,
) -> dict[str, RecordOutcome]:
    """Write every record, by Collections or (above `bulk_threshold`) by Bulk API 2.0.

    Records refused for a passing reason (a row lock) are sent again, a bounded number of
    times; an insert is never resent once Salesforce may have created it (that is, only
    when the answer says it was not). One outcome per key; `on_confirmed` hears each
    batch's as it is answered, before the next batch is sent.
    """
    confirmed = on_confirmed or _ignore
    settings = client.settings
    outcomes: dict[str, RecordOutcome] = {}
    pending = list(writes)
    for round_number in range(1, settings.retry.max_attempts + 1):
        if not pending:
            break
        if len(pending) > settings.bulk_threshold:
            results = _bulk(client, operation, pending, sleep, confirmed)
        else:
            results = _collections(client, operation, pending, confirmed)
        outcomes.update(results)
        retry = [w for w in pending if results[w.key].error_code in RETRY_RECORD_CODES]
        if retry and round_number < settings.retry.max_attempts:
            log.warning(
                "salesforce.records_retried",
                sobject=operation.sobject,
                records=len(retry),
                round=round_number,
            )
            sleep(settings.retry.initial_wait_seconds * round_number)
        pending = retry
    return outcomes


def _ignore(_results: Mapping[str, RecordOutcome]) -> None:
    """No one listens for the batches."""


def _collections(
    client: SalesforceClient,
    operation: Operation,
    writes: Sequence[RecordWrite],
    confirmed: Confirmed,
) -> dict[str, RecordOutcome]:
    size = client.settings.collection_size
    results: dict[str, RecordOutcome] = {}
    for start in range(0, len(writes), size):
        batch = writes[start : start + size]
        try:
            if operation.kind == "insert":
                records = [dict(w.values) for w in batch]
                answers = client.create_collection(operation.sobject, records)
            else:
                answers = _saved_once(client, operation, batch)
        except _AnswersLostError as lost:
            confirmed(  # the records read back as saved before the last answer was lost
                {
                    write.key: _collection_outcome(write, lost.saved[write.key], operation)
                    for write in batch
                    if write.key in lost.saved
                }
            )
            raise
        if len(answers) != len(batch):
            raise FatalError(f"Salesforce answered {len(answers)} results for {len(batch)} records")
        answered = {
            write.key: _collection_outcome(write, answer, operation)
            for write, answer in zip(batch, answers, strict=True)
        }
        confirmed(answered)
        results.update(answered)
    return results


class _AnswersLostError(FatalError):
    """Every resend of a Collections call lost its answer; `saved` holds the records read
    back as saved before the last one (their outcomes are confirmed all the same)."""

    def __init__(self, kind: str, attempts: int, saved: Mapping[str, dict[str, Any]]) -> None:
        super().__init__(
            f"Salesforce did not answer the {kind} call after {attempts} attempts "
            "(the answer was lost each time)"
        )
        self.saved = dict(saved)


def _saved_once(
    client: SalesforceClient, operation: Operation, batch: Sequence[RecordWrite]
) -> list[dict[str, Any]]:
    """One Collections update or upsert of `batch`, each record saved at most once.

    When an answer is lost, the records are read back (by Id, or by the upsert's external
    id): those already holding every value sent were saved (a success; for an upsert,
    created when the plan knew no record); only the others are sent again, a bounded
    number of times."""
    attempts = client.settings.retry.max_attempts
    answers: dict[str, dict[str, Any]] = {}
    pending = list(batch)
    for attempt in range(1, attempts + 1):
        try:
            got = _send(client, operation, pending)
        except AnswerLostError as lost:
            if attempt == attempts:
                raise _AnswersLostError(lost.kind, attempts, answers) from None
            keys = {_lookup_key(w, operation): w for w in pending}
            sent = {key: w.values for key, w in keys.items()}
            saved = already_saved(client, operation.sobject, sent, operation.key_field)
            log.warning(
                "salesforce.answer_lost",
                kind=lost.kind,
                sobject=operation.sobject,
                records=len(pending),
                already_saved=len(saved),
                resent=len(pending) - len(saved),
            )
            for key, record_id in saved.items():
                created = operation.kind == "upsert" and keys[key].record_id is None
                answers[keys[key].key] = {
                    "id": record_id,
                    "success": True,
                    "errors": [],
                    "created": created,
                }
            pending = [w for key, w in keys.items() if key not in saved]
            if not pending:
                break
            continue
        if len(got) != len(pending):
            raise FatalError(f"Salesforce answered {len(got)} results for {len(pending)} records")
        answers.update((w.key, answer) for w, answer in zip(pending, got, strict=True))
        break
    return [answers[w.key] for w in batch]


def _send(
    client: SalesforceClient, operation: Operation, writes: Sequence[RecordWrite]
) -> list[dict[str, Any]]:
    """One Collections call of `writes`; a lost answer raises `AnswerLostError`."""
    if operation.kind == "update":
        records = [{"id": w.record_id, **w.values} for w in writes]
        return client.update_collection(operation.sobject, records)
    records = [dict(w.values) for w in writes]
    return client.upsert_collection(operation.sobject, operation.key_field, records)


def _lookup_key(write: RecordWrite, operation: Operation) -> str:
    """What the record is read back by: its Id, or the external id it is upserted on."""
    if operation.kind == "update":
        return str(write.record_id)
    return str(write.values[operation.key_field])


def _collection_outcome(
    write: RecordWrite, answer: dict[str, Any], operation: Operation
) -> RecordOutcome:
    if answer.get("success"):
        created = bool(answer.get("created", operation.kind == "insert"))
        return RecordOutcome(write.key, True, answer.get("id") or write.record_id, created)
    errors = answer.get("errors") or [{}]
    return RecordOutcome(
        write.key,
        False,
        write.record_id,
        error_code=str(errors[0].get("statusCode", "UNKNOWN")),
        message="; ".join(str(e.get("message", "")) for e in errors),
    )


def _bulk(
    client: SalesforceClient,
    operation: Operation,
    writes: Sequence[RecordWrite],
    sleep: Callable[[float], None],
    confirmed: Confirmed,
) -> dict[str, RecordOutcome]:
    results: dict[str, RecordOutcome] = {}
    for part in _csv_parts(writes):
        answered = _bulk_job(client, operation, part, sleep)
        confirmed(answered)
        results.update(answered)
    return results


def _csv_parts(writes: Sequence[RecordWrite]) -> list[list[RecordWrite]]:
    """Groups whose CSV stays under the per-job size limit."""
    parts: list[list[RecordWrite]] = [[]]
    size = 0
    for write in writes:
        row = sum(len(str(v)) + 3 for v in write.values.values()) + 20
        if parts[-1] and size + row > _MAX_CSV_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(write)
        size += row
    return parts


def bulk_csv(updates: Sequence[RecordChange]) -> str:
    """Id plus every changed field; an unchanged field's cell stays empty, None is #N/A."""
    writes = [RecordWrite(_write_key(u), u.values, u.record_id) for u in updates]
    return records_csv(writes, with_id=True)


def records_csv(writes: Sequence[RecordWrite], *, with_id: bool) -> str:
    """A Bulk API 2.0 CSV: a cell a record does not set stays empty (unchanged), None is #N/A."""
    columns = sorted({name for w in writes for name in w.values})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([ID_FIELD, *columns] if with_id else columns)
    for write in writes:
        row = [write.record_id or ""] if with_id else []
        for name in columns:
            row.append(_bulk_cell(write.values[name]) if name in write.values else "")
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
    operation: Operation,
    writes: Sequence[RecordWrite],
    sleep: Callable[[float], None],
) -> dict[str, RecordOutcome]:
    settings = client.settings
    job_id = _loaded_job(client, operation, writes)
    _close_job(client, job_id)
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
    return _bulk_outcomes(client, job_id, operation, writes, state.get("errorMessage"))


def _loaded_job(
    client: SalesforceClient, operation: Operation, writes: Sequence[RecordWrite]
) -> str:
    """A new ingest job holding the CSV of `writes` exactly once; its Id.

    Creating a job twice is harmless (an empty Open job is never processed), uploading twice
    into one job is not (each row would be saved twice). So an upload whose answer is lost
    is not resent: that job is aborted, never to be processed, and a new one takes the data.
    """
    body = {
        "object": operation.sobject,
        "operation": operation.kind,
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if operation.kind == "upsert":
        body["externalIdFieldName"] = operation.key_field
    data = records_csv(writes, with_id=operation.kind == "update").encode("utf-8")
    attempts = client.settings.retry.max_attempts
    for attempt in range(1, attempts + 1):
        job_id = str(client.raw("bulk_create", "POST", "jobs/ingest", json=body).json()["id"])
        log.info(
            "salesforce.bulk_job_created",
            job_id=job_id,
            sobject=operation.sobject,
            operation=operation.kind,
            records=len(writes),
        )
        try:
            client.raw(
                "bulk_upload",
                "PUT",
                f"jobs/ingest/{job_id}/batches",
                data=data,
                headers={"Content-Type": "text/csv"},
                resend_after_loss=False,
            )
            return job_id
        except AnswerLostError as lost:
            log.warning(
                "salesforce.answer_lost",
                kind=lost.kind,
                sobject=operation.sobject,
                job_id=job_id,
                records=len(writes),
                already_saved=0,  # an Open job saves nothing
                resent=len(writes) if attempt < attempts else 0,
            )
            _abort_job(client, job_id)
    raise FatalError(
        f"Salesforce did not answer the bulk_upload call after {attempts} attempts "
        "(the answer was lost each time)"
    )


def _abort_job(client: SalesforceClient, job_id: str) -> None:
    """Abort an Open job; if this answer is lost too, the job is Aborted or still Open, and
    an Open job that is never closed is never processed either."""
    try:
        client.raw(
            "bulk_abort",
            "PATCH",
            f"jobs/ingest/{job_id}",
            json={"state": "Aborted"},
            resend_after_loss=False,
        )
    except AnswerLostError:
        return


def _close_job(client: SalesforceClient, job_id: str) -> None:
    """Mark the upload complete. A close whose answer is lost is resolved by the job's
    state: closed already (anything but Open), or closed again."""
    attempts = client.settings.retry.max_attempts
    for _attempt in range(attempts):
        try:
            client.raw(
                "bulk_close",
                "PATCH",
                f"jobs/ingest/{job_id}",
                json={"state": "UploadComplete"},
                resend_after_loss=False,
            )
            return
        except AnswerLostError as lost:
            state = client.raw("bulk_status", "GET", f"jobs/ingest/{job_id}").json()["state"]
            log.warning("salesforce.answer_lost", kind=lost.kind, job_id=job_id, state=state)
            if state != "Open":
                return
    raise FatalError(
        f"Salesforce did not answer the bulk_close call after {attempts} attempts "
        "(the answer was lost each time)"
    )


def _bulk_outcomes(
    client: SalesforceClient,
    job_id: str,
    operation: Operation,
    writes: Sequence[RecordWrite],
    job_error: str | None,
) -> dict[str, RecordOutcome]:
    """Results carry no row index: outcomes are keyed on the key column the rows echo."""
    by_key = {_bulk_key(w, operation): w for w in writes}
    results: dict[str, RecordOutcome] = {}

    def write_of(row: Mapping[str, str]) -> RecordWrite | None:
        if operation.key_field == ID_FIELD:
            return by_key.get(row.get("sf__Id") or row.get(ID_FIELD, ""))
        return by_key.get(row.get(operation.key_field, ""))

    for row in _csv_rows(client, f"jobs/ingest/{job_id}/successfulResults/"):
        write = write_of(row)
        if write is not None:
            created = row.get("sf__Created", "").lower() == "true"
            results[write.key] = RecordOutcome(
                write.key, True, row.get("sf__Id") or write.record_id, created
            )
    for row in _csv_rows(client, f"jobs/ingest/{job_id}/failedResults/"):
        write = write_of(row)
        if write is not None:
            code, _, message = (row.get("sf__Error") or "UNKNOWN").partition(":")
            results[write.key] = RecordOutcome(
                write.key, False, write.record_id, False, code, message.rstrip(" -:") or code
            )
    for write in writes:
        if write.key not in results:
            results[write.key] = RecordOutcome(
                write.key,
                False,
                write.record_id,
                False,
                "UNPROCESSED",
                job_error or "the Bulk API job did not process this record",
            )
    return results


def _bulk_key(write: RecordWrite, operation: Operation) -> str:
    if operation.key_field == ID_FIELD:
        return str(write.record_id)
    return str(write.values.get(operation.key_field, ""))


def _csv_rows(client: SalesforceClient, path: str) -> list[dict[str, str]]:
    text = client.raw("bulk_results", "GET", path).text
    return list(csv.DictReader(io.StringIO(text)))
