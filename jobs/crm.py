"""The CRM stage of a run: check the mapping against the org, plan the changes, push them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import structlog

from arsync.yamlfile import ConfigError, ConfigProblem, read_yaml
from connector.crm.salesforce.changes import ChangeOutcome
from connector.crm.salesforce.describe import (
    FieldInfo,
    Problem,
    check_inputs,
    check_invoice_object,
    check_mapping,
    check_task_object,
    check_values,
    field_infos,
)
from connector.crm.salesforce.inputs import INPUT_COLUMNS, read_inputs
from connector.crm.salesforce.invoices import read_invoices
from connector.crm.salesforce.owners import OWNER_FIELD, owner_names
from connector.crm.salesforce.plan import (
    ID_FIELD,
    Desired,
    MatchKey,
    Ownership,
    Plan,
    Snapshot,
    plan_changes,
    read_snapshot,
)
from connector.crm.salesforce.push import push
from connector.crm.salesforce.settings import SalesforceSettings
from connector.crm.salesforce.tasks import read_open_tasks
from jobs.outcomes import outcome_frame, outcome_row, unwritten_row
from jobs.settings import RunSettings
from scoring.columns import output_columns

if TYPE_CHECKING:
    from connector.crm.salesforce.client import SalesforceClient

log = structlog.get_logger(__name__)

CHANGE_COLUMNS = [
    "customer_id",
    "customer_name",
    "account_id",
    "match_field",
    "match_value",
    "field",
    "current",
    "value",
]
OWNER_COLUMNS = ["customer_id", "owner_id", "owner_name"]
CONFLICT_COLUMNS = ["customer_id", "account_id", "field", "current", "last_written", "proposed"]
Connect = Callable[[SalesforceSettings], "SalesforceClient"]


def connect_salesforce(settings: SalesforceSettings) -> SalesforceClient:
    """Log in to the org as the settings say (the default `Connect`)."""
    # The client brings simple_salesforce, requests and jwt: only runs with an org load them.
    from connector.crm.salesforce.client import SalesforceClient  # noqa: PLC0415

    return SalesforceClient.connect(settings)


@dataclass(frozen=True, eq=False)  # DataFrames have no single truth value to compare by
class CrmResult:
    changes: pd.DataFrame  # one row per field that would change (or, offline, every value)
    outcomes: pd.DataFrame  # `jobs.outcomes`: per record of every object, and unwritten Account
    online: bool
    api_calls: dict[str, int] = field(default_factory=dict)
    conflicts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CONFLICT_COLUMNS))
    written: list[tuple[str, str, Any]] = field(default_factory=list)  # (account, field, value)

    @property
    def failed(self) -> int:
        """Accounts, invoice records and Tasks that Salesforce refused."""
        return int((self.outcomes["status"] == "failed").sum())

    @property
    def ambiguous(self) -> int:
        return int((self.outcomes["status"] == "ambiguous").sum())


@dataclass
class Pushed:
    """The Account push as far as Salesforce confirmed it, batch by batch: what a run that
    stops half-way records (outcomes and written values) and writes to its outputs.

    Set by `push_accounts` once it has the plan; `outcomes` (by Account Id, the latest answer)
    grows with each confirmed batch, so it never holds a value Salesforce did not confirm.
    """

    plan: Plan | None = None
    desired: pd.DataFrame | None = None
    client: SalesforceClient | None = None
    outcomes: dict[str, ChangeOutcome] = field(default_factory=dict)

    def confirm(self, outcomes: list[ChangeOutcome]) -> None:
        for outcome in outcomes:
            self.outcomes[str(outcome.change.record_id)] = outcome

    def result(self) -> CrmResult | None:
        """What was planned, with the outcomes confirmed so far (None: nothing planned)."""
        if self.plan is None or self.desired is None:
            return None
        updates = self.plan.updates
        confirmed = [self.outcomes[a] for u in updates if (a := str(u.record_id)) in self.outcomes]
        calls = dict(self.client.budget.calls) if self.client is not None else {}
        return _result(self.plan, self.desired, confirmed, calls)


def _result(
    plan: Plan, desired: pd.DataFrame, outcomes: list[ChangeOutcome], api_calls: dict[str, int]
) -> CrmResult:
    """The plan's changes and conflicts, the outcomes given, and the values they wrote."""
    written = [
        (str(o.change.record_id), name, value)
        for o in outcomes
        if o.ok
        for name, value in o.change.values.items()
    ]
    conflicts = pd.DataFrame(
        [
            (c.customer_id, c.account_id, c.field, c.current, c.last_written, c.proposed)
            for c in plan.conflicts
        ],
        columns=CONFLICT_COLUMNS,
    )
    return CrmResult(
        _changes(plan, desired),
        _outcomes(plan, outcomes),
        online=True,
        api_calls=api_calls,
        conflicts=conflicts,
        written=written,
    )


def offline(desired: pd.DataFrame) -> CrmResult:
    """No CRM connection configured: the plan is every desired value, nothing is compared."""
    changes = desired.assign(account_id=None, current=None)[CHANGE_COLUMNS]
    return CrmResult(changes, outcome_frame(), online=False)


@dataclass(frozen=True)
class CrmConnection:
    """A logged-in client, and the describe() of the mapped object, checked against the mapping."""

    client: SalesforceClient
    fields: dict[str, FieldInfo]
    invoice_fields: dict[str, FieldInfo] = field(default_factory=dict)  # when invoices are on


@dataclass(frozen=True)
class CrmRead:
    """What Salesforce holds, read once before scoring: each customer's Account, what people
    recorded there that scoring weighs (promises, disputes; INPUT_COLUMNS), and the records
    arsync keeps beside the Accounts in scope, so that every object is planned from this one
    read and nothing is queried after it.

    `invoices` (ERP invoice id -> the open record) and `tasks` (15-character Account Id ->
    arsync's open Tasks, oldest first) are None when that object is off in the mapping.
    """

    snapshot: Snapshot
    inputs: pd.DataFrame
    # customer_id, owner_id, owner_name (None when User cannot be read): OWNER_COLUMNS.
    owners: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=OWNER_COLUMNS))
    promises_read: bool = False  # the mapping has a promise source (`from_crm.promise`)
    disputes_read: bool = False  # and a dispute field
    invoices: dict[str, dict[str, Any]] | None = None
    tasks: dict[str, list[dict[str, Any]]] | None = None


def open_crm(settings: RunSettings, connect: Connect = connect_salesforce) -> CrmConnection:
    """Log in, learn the org's API use, and check against describe() everything the mapping
    reads and writes; every problem is reported at once, before anything is written."""
    client = connect(_require_salesforce(settings))
    client.limits()
    mapping = settings.crm_mapping
    fields = field_infos(client.describe(mapping.object))
    kinds = {name: column.kind.value for name, column in output_columns(settings.scoring).items()}
    problems = check_mapping(fields, mapping, kinds)
    inputs, invoices, tasks = mapping.from_crm, mapping.invoices, mapping.tasks
    related = inputs.promise.object if inputs.promise else None
    related_fields = field_infos(client.describe(related)) if related else None
    problems += check_inputs(fields, inputs, related_fields)
    invoice_fields = field_infos(client.describe(invoices.object)) if invoices.enabled else {}
    if invoices.enabled:
        problems += check_invoice_object(invoice_fields, invoices)
    if tasks.enabled:
        problems += check_task_object(field_infos(client.describe("Task")), tasks)
    _raise_problems(settings, problems)
    return CrmConnection(client, fields, invoice_fields)


def read_crm(settings: RunSettings, connection: CrmConnection, keys: pd.DataFrame) -> CrmRead:
    """Find every customer's Account and read what the plan and scoring need from it, and
    who owns it (OwnerId, when the object has one, and the owner's name: for the report).

    `keys` has `customer_id`, `match_field` and `match_value` (`arsync.mapping.match_keys`).
    OwnerId is only read: the plan compares and writes the mapped fields alone.
    """
    mapping = settings.crm_mapping
    columns = (keys[c].astype(str).tolist() for c in ("customer_id", "match_field", "match_value"))
    owned = OWNER_FIELD in connection.fields
    fields = [
        *mapping.fields,
        *filter(None, [mapping.match.hold_field]),
        *mapping.from_crm.account_fields(),
        *([OWNER_FIELD] if owned or mapping.tasks.enabled else []),
    ]
    snapshot = read_snapshot(
        connection.client,
        mapping.object,
        [MatchKey(*key) for key in zip(*columns, strict=True)],
        fields,
        ignore_case=frozenset(n for n, f in connection.fields.items() if not f.case_sensitive),
    )
    rows = read_inputs(connection.client, snapshot, mapping.from_crm)
    # The Accounts in scope are known now; which customers' balances are held is decided
    # later, so their records are read too and the planners leave them alone.
    in_scope = sorted(accounts_in_scope(snapshot, mapping.match.hold_field).values())
    invoices, tasks = mapping.invoices, mapping.tasks
    return CrmRead(
        snapshot,
        pd.DataFrame(rows, columns=INPUT_COLUMNS),
        owners=_owners(connection.client, snapshot) if owned else _no_owners(),
        promises_read=mapping.from_crm.promise is not None,
        disputes_read=mapping.from_crm.dispute is not None,
        invoices=read_invoices(connection.client, invoices, in_scope) if invoices.enabled else None,
        tasks=read_open_tasks(connection.client, tasks, in_scope) if tasks.enabled else None,
    )


def accounts_in_scope(snapshot: Snapshot, hold_field: str | None) -> dict[str, str]:
    """Customer -> Account Id, for the customers matched to one Account that is not on hold."""
    return {
        customer: str(account[ID_FIELD])
        for customer, account in snapshot.accounts.items()
        if not (hold_field and account.get(hold_field) is True)
    }


def _owners(client: SalesforceClient, snapshot: Snapshot) -> pd.DataFrame:
    """Each matched customer's Account owner: Id and name (OWNER_COLUMNS)."""
    ids = {
        customer_id: str(account[OWNER_FIELD]) if account.get(OWNER_FIELD) else None
        for customer_id, account in snapshot.accounts.items()
    }
    names = owner_names(client, filter(None, ids.values()))
    rows = [
        (customer_id, owner_id, names.get(owner_id) if owner_id else None)
        for customer_id, owner_id in ids.items()
    ]
    return pd.DataFrame(rows, columns=OWNER_COLUMNS)


def _no_owners() -> pd.DataFrame:
    return pd.DataFrame(columns=OWNER_COLUMNS)


def open_and_read(
    settings: RunSettings, keys: pd.DataFrame, connect: Connect = connect_salesforce
) -> tuple[CrmConnection, CrmRead]:
    """A run's whole contact with Salesforce before scoring: log in, check the mapping
    against describe(), and read everything the run plans from (`read_crm`)."""
    connection = open_crm(settings, connect)
    return connection, read_crm(settings, connection, keys)


def plan_accounts(
    settings: RunSettings,
    desired: pd.DataFrame,
    *,
    connection: CrmConnection,
    read: CrmRead,
    last_written: Mapping[tuple[str, str], Any] | None = None,
) -> Plan:
    """Check the values against describe(), then diff them against the run's one read.

    `connection` and `read` are what the run made before scoring (`open_and_read`): nothing
    is read here. `last_written` ((account, field) -> value) is what arsync wrote before: a
    suggested field is left alone once a person has changed it.
    """
    fields = connection.fields
    mapping = settings.crm_mapping
    triples = zip(desired["customer_id"], desired["field"], desired["value"], strict=True)
    _raise_problems(settings, check_values(fields, triples))
    return plan_changes(
        read.snapshot,
        _desired(desired),
        _types(fields),
        hold_field=mapping.match.hold_field,
        ownership=Ownership(
            suggested=frozenset(n for n, f in mapping.fields.items() if f.mode == "suggested"),
            last_written=last_written or {},
            advance_only=frozenset(n for n, f in mapping.fields.items() if f.advance_only),
            keep_earlier={
                n: f.keep_earlier_while_unchanged
                for n, f in mapping.fields.items()
                if f.keep_earlier_while_unchanged
            },
        ),
    )


def push_accounts(
    settings: RunSettings,
    plan: Plan,
    desired: pd.DataFrame,
    *,
    connection: CrmConnection,
    dry_run: bool,
    pushed: Pushed | None = None,
) -> CrmResult:
    """Write the planned Account updates unless dry; the plan's changes and outcomes.

    `pushed` follows the push batch by batch: if the push stops half-way, it holds what
    Salesforce confirmed.
    """
    pushed = pushed if pushed is not None else Pushed()
    salesforce = _require_salesforce(settings)
    client = connection.client
    pushed.plan, pushed.desired, pushed.client = plan, desired, client
    outcomes: list[ChangeOutcome] = []
    if not dry_run and plan.updates:
        client.budget.check(_calls_needed(plan, salesforce))
        outcomes = push(
            client, settings.crm_mapping.object, plan.updates, on_confirmed=pushed.confirm
        )
    return _result(plan, desired, outcomes, dict(client.budget.calls))


@dataclass(frozen=True)
class ConnectionCheck:
    instance: str
    api_used: int | None
    api_limit: int | None
    sobject: str
    fields_written: int  # the mapped fields: writable and fit for their values
    # The fields only read (the match key, the hold checkbox, the from_crm inputs): they need
    # to be readable, which describe() already says by listing them, never writable.
    fields_read: tuple[str, ...] = ()
    also_checked: tuple[str, ...] = ()  # the invoice object and Tasks, when turned on

    @property
    def fields_checked(self) -> int:
        return self.fields_written + len(self.fields_read)


def check_connection(
    settings: RunSettings, connect: Connect = connect_salesforce
) -> ConnectionCheck:
    """Log in, read the API use, and check the mapping against describe(); write nothing."""
    client = open_crm(settings, connect).client
    mapping = settings.crm_mapping
    return ConnectionCheck(
        instance=str(client.sf.sf_instance),
        api_used=client.budget.used,
        api_limit=client.budget.limit,
        sobject=mapping.object,
        fields_written=len(mapping.fields),
        fields_read=tuple(
            dict.fromkeys(
                [
                    mapping.match.external_id_field,
                    *filter(None, [mapping.match.hold_field]),
                    *mapping.from_crm.account_fields(),
                ]
            )
        ),
        also_checked=(
            *(
                [f"{len(mapping.invoices.fields) + 2} {mapping.invoices.object} fields"]
                if mapping.invoices.enabled
                else []
            ),
            *([f"the Task checkbox {mapping.tasks.marker_field}"] if mapping.tasks.enabled else []),
        ),
    )


def _require_salesforce(settings: RunSettings) -> SalesforceSettings:
    if settings.app.salesforce is None:
        raise ConfigError(
            [ConfigProblem(settings.config_path, None, "salesforce", "missing: no org to talk to")]
        )
    return settings.app.salesforce


def _raise_problems(settings: RunSettings, problems: list[Problem]) -> None:
    if problems:
        document = read_yaml(settings.app.crm_mapping)
        raise ConfigError([document.problem(loc, message) for loc, message in problems])


def _desired(desired: pd.DataFrame) -> list[Desired]:
    """One Desired per customer; a plain loop over columns beats a groupby at this size."""
    keys: dict[str, tuple[str, str]] = {}
    values: dict[str, dict[str, object]] = {}
    columns = (
        desired[c].tolist() for c in ("customer_id", "match_field", "match_value", "field", "value")
    )
    for customer_id, match_field, match_value, field_name, value in zip(*columns, strict=True):
        if customer_id not in keys:
            keys[customer_id] = (str(match_field), str(match_value))
            values[customer_id] = {}
        values[customer_id][field_name] = value
    return [
        Desired(str(customer_id), match_field, match_value, values[customer_id])
        for customer_id, (match_field, match_value) in keys.items()
    ]


def _types(fields: Mapping[str, FieldInfo]) -> dict[str, str]:
    return {name: info.type for name, info in fields.items()}


def _calls_needed(plan: Plan, settings: SalesforceSettings) -> int:
    records = len(plan.updates)
    if records > settings.bulk_threshold:
        return 8  # create, upload, close, a few polls, three result reads
    return -(-records // settings.collection_size)


def _changes(plan: Plan, desired: pd.DataFrame) -> pd.DataFrame:
    first = desired.drop_duplicates("customer_id").set_index("customer_id")
    names = first["customer_name"].to_dict()
    match_fields = first["match_field"].to_dict()
    match_values = first["match_value"].to_dict()
    rows = [
        (
            update.customer_id,
            names.get(update.customer_id),
            update.record_id,
            match_fields.get(update.customer_id),
            match_values.get(update.customer_id),
            name,
            update.previous.get(name),
            value,
        )
        for update in plan.updates
        for name, value in update.values.items()
    ]
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS).astype({"current": object, "value": object})


def _outcomes(plan: Plan, outcomes: list[ChangeOutcome]) -> pd.DataFrame:
    rows = [outcome_row(o.change, o) for o in outcomes]
    rows += [unwritten_row(u.customer_id, u.kind, u.reason) for u in plan.not_written]
    return outcome_frame(rows)
