"""Planning: read the current values of the mapped fields, keep only the real changes.

Values are compared the way Salesforce stores them (numbers at the field's scale, dates as
dates, an empty string as empty), so a rerun with nothing new in the ERP plans nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import structlog

from connector.crm.salesforce.changes import RecordChange
from connector.crm.salesforce.soql import chunks, select_in

if TYPE_CHECKING:
    from connector.crm.salesforce.client import SalesforceClient

log = structlog.get_logger(__name__)
ID_FIELD = "Id"
NUMERIC_TYPES = frozenset({"double", "currency", "percent", "int"})


@dataclass(frozen=True)
class Desired:
    """What one customer's Account should hold, and how to find the Account."""

    customer_id: str
    match_field: str
    match_value: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class NotWritten:
    """A customer whose Account is not written: none found, more than one, or on hold."""

    customer_id: str
    match_field: str
    match_value: str
    reason: str
    kind: str = "unmatched"  # or "ambiguous", or "held"


@dataclass(frozen=True)
class Conflict:
    """A suggested field a person changed since arsync last wrote it: left as the person set it."""

    customer_id: str
    account_id: str
    field: str
    current: Any
    last_written: Any
    proposed: Any


@dataclass(frozen=True)
class Ownership:
    """Which fields are only suggested, and what arsync last wrote to them, per Account; and
    which fields only ever move forward (a stamp)."""

    suggested: frozenset[str] = frozenset()
    last_written: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    advance_only: frozenset[str] = frozenset()
    keep_earlier: Mapping[str, str] = field(default_factory=dict)  # date field -> its guard


@dataclass
class Plan:
    updates: list[RecordChange] = field(default_factory=list)  # one per Account, key its customer
    not_written: list[NotWritten] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    unchanged: int = 0

    @property
    def field_changes(self) -> int:
        return sum(len(u.values) for u in self.updates)


@dataclass(frozen=True)
class MatchKey:
    customer_id: str
    match_field: str
    match_value: str


@dataclass
class Snapshot:
    """What Salesforce holds for each customer, read once per run before anything is decided:
    the one Account it matched (with the fields read), or why there is none."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # customer -> Account
    not_written: dict[str, NotWritten] = field(default_factory=dict)  # customer -> why not
    sobject: str = "Account"  # the object the Accounts were read from


def read_snapshot(
    client: SalesforceClient,
    sobject: str,
    keys: Sequence[MatchKey],
    fields: Iterable[str],
    *,
    ignore_case: Collection[str] = frozenset(),
) -> Snapshot:
    """Find each customer's one Account and read `fields` of it, a few hundred keys a query.

    Two customers pointing at one Account, or one key matching two Accounts, is ambiguous:
    none of them is written, because writing one customer's figures over another's is worse
    than writing nothing. Values of a match field in `ignore_case` (describe() says it is not
    `caseSensitive`) are compared as Salesforce compares them: "c00016" is "C00016".
    """
    snapshot = Snapshot(sobject=sobject)
    by_key: dict[tuple[str, str], list[MatchKey]] = defaultdict(list)
    for key in keys:
        folded = _key(key.match_value, key.match_field, key.match_field in ignore_case)
        by_key[(key.match_field, folded)].append(key)
    for (match_field, _), items in by_key.items():
        if len(items) > 1:
            others = ", ".join(i.customer_id for i in items)
            for item in items:
                snapshot.not_written[item.customer_id] = NotWritten(
                    item.customer_id,
                    match_field,
                    item.match_value,
                    f"{len(items)} ERP customers ({others}) point at the same Account",
                    "ambiguous",
                )
    unique = [items[0] for items in by_key.values() if len(items) == 1]
    selected = sorted(set(fields))
    for match_field in sorted({item.match_field for item in unique}):
        group = [item for item in unique if item.match_field == match_field]
        fold = match_field in ignore_case
        found = read_accounts(
            client,
            sobject=sobject,
            key_field=match_field,
            keys=[i.match_value for i in group],
            fields=selected,
            ids_per_query=client.settings.ids_per_query,
            ignore_case=fold,
        )
        for item in group:
            accounts = found.get(_key(item.match_value, match_field, fold), [])
            if len(accounts) == 1:
                snapshot.accounts[item.customer_id] = accounts[0]
                continue
            if accounts:
                ids = ", ".join(a[ID_FIELD] for a in accounts)
                reason = f"{len(accounts)} {sobject} records match ({ids}); none is written"
            else:
                reason = f"no {sobject} has {match_field} = {item.match_value!r}"
            snapshot.not_written[item.customer_id] = NotWritten(
                item.customer_id,
                match_field,
                item.match_value,
                reason,
                "ambiguous" if accounts else "unmatched",
            )
    return snapshot


def plan_changes(
    snapshot: Snapshot,
    desired: Sequence[Desired],
    field_types: Mapping[str, str],
    *,
    hold_field: str | None = None,
    ownership: Ownership | None = None,
) -> Plan:
    """Diff each customer's desired values against its Account as read.

    An Account whose `hold_field` checkbox is checked is left alone entirely: a person asked
    arsync not to touch it.
    """
    plan = Plan()
    for item in desired:
        account = snapshot.accounts.get(item.customer_id)
        if account is None:
            plan.not_written.append(
                snapshot.not_written.get(item.customer_id)
                or NotWritten(
                    item.customer_id,
                    item.match_field,
                    item.match_value,
                    "the customer was not read from Salesforce",
                )
            )
        elif hold_field and account.get(hold_field) is True:
            plan.not_written.append(
                NotWritten(
                    item.customer_id,
                    item.match_field,
                    item.match_value,
                    f"{hold_field} is checked on {account[ID_FIELD]}: nothing is written",
                    "held",
                )
            )
        else:
            update, conflicts = diff(item, account, field_types, ownership, snapshot.sobject)
            plan.conflicts.extend(conflicts)
            if update.values:
                plan.updates.append(update)
            else:
                plan.unchanged += 1
    for conflict in plan.conflicts:
        log.warning(
            "salesforce.field_conflict",
            customer_id=conflict.customer_id,
            account_id=conflict.account_id,
            field=conflict.field,
        )
    log.info(
        "salesforce.plan_built",
        updates=len(plan.updates),
        fields=plan.field_changes,
        conflicts=len(plan.conflicts),
        unchanged=plan.unchanged,
        unmatched=len(plan.not_written),
    )
    return plan


def read_accounts(
    client: SalesforceClient,
    *,
    sobject: str,
    key_field: str,
    keys: Sequence[str],
    fields: Iterable[str],
    ids_per_query: int,
    ignore_case: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """Current values of `fields` for the records whose `key_field` is one of `keys`, by key
    (case-folded when `ignore_case`: the field's values match regardless of case)."""
    selected = [ID_FIELD, key_field, *fields]
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk in chunks(list(dict.fromkeys(keys)), ids_per_query):
        for record in client.query(select_in(sobject, selected, key_field, chunk)):
            key = record.get(key_field)
            if key is not None:
                found[_key(key, key_field, ignore_case)].append(record)
    return found


def _key(value: Any, key_field: str, ignore_case: bool = False) -> str:
    """A match value as Salesforce compares it.

    Record Ids come back in 18-character form; an ERP may hold the 15-character one, whose
    case matters, so an Id is never case-folded.
    """
    text = str(value)
    if key_field == ID_FIELD:
        return text[:15] if len(text) == 18 else text
    return text.casefold() if ignore_case else text


def diff(
    item: Desired,
    account: Mapping[str, Any],
    field_types: Mapping[str, str],
    ownership: Ownership | None = None,
    sobject: str = "Account",
) -> tuple[RecordChange, list[Conflict]]:
    """The fields to change; a suggested field a person has changed is a conflict instead.

    A suggested field is written only while Salesforce still holds what arsync last wrote
    there (or nothing): any other value was set by a person, and a person's value stands.
    """
    ownership = ownership or Ownership()
    account_id = str(account[ID_FIELD])
    changes, previous, conflicts = {}, {}, []
    for name, new in item.values.items():
        kind = field_types.get(name, "string")
        current = account.get(name)
        if normalise(new, kind) == normalise(current, kind):
            continue
        if name in ownership.advance_only and not _advances(new, current, kind):
            continue
        guard = ownership.keep_earlier.get(name)
        if guard and keeps_earlier(item.values, account, name, guard, field_types):
            continue
        if name in ownership.suggested and normalise(current, kind) is not None:
            last = ownership.last_written.get((account_id, name))
            if normalise(last, kind) != normalise(current, kind):
                conflicts.append(Conflict(item.customer_id, account_id, name, current, last, new))
                continue
        changes[name] = new
        previous[name] = current
    update = RecordChange(
        sobject, item.customer_id, item.customer_id, "update", changes, account_id, previous
    )
    return update, conflicts


def keeps_earlier(
    wanted: Mapping[str, Any],
    current: Mapping[str, Any],
    name: str,
    guard: str,
    field_types: Mapping[str, str],
) -> bool:
    """The date `name` stays where it is: the `guard` field (the action) is unchanged and the
    date already there is no later than the wanted one."""
    guard_kind = field_types.get(guard, "string")
    unchanged = normalise(wanted.get(guard), guard_kind) == normalise(
        current.get(guard), guard_kind
    )
    kind = field_types.get(name, "date")
    held, new = normalise(current.get(name), kind), normalise(wanted.get(name), kind)
    return unchanged and held is not None and new is not None and held <= new


def _advances(new: Any, current: Any, kind: str) -> bool:
    """A value that is later than the current one (anything beats an empty field)."""
    later, now = normalise(new, kind), normalise(current, kind)
    if later is None:
        return False
    if now is None:
        return True
    try:
        return bool(later > now)
    except TypeError:
        return False


def normalise(value: Any, kind: str) -> Any:
    """A value as Salesforce would store it in a field of this type, for comparison."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if kind in NUMERIC_TYPES:
        try:
            return Decimal(str(value)).normalize()
        except InvalidOperation:
            return str(value)
    return _NORMALISERS.get(kind, str)(value)


def _boolean(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _date(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]


def _instant(value: Any) -> Any:
    """A datetime as a UTC instant, whichever of Salesforce's spellings it comes in."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


_NORMALISERS: dict[str, Callable[[Any], Any]] = {
    "boolean": _boolean,
    "date": _date,
    "datetime": _instant,
}
