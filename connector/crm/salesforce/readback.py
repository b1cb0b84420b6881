"""After a write's answer was lost: which records already hold what was sent.

Salesforce may have saved an update or an upsert whose answer never arrived. Sending it
again would save those records a second time (their triggers and flows would run twice), so
the records are read back first, by Id or by the upsert's external id, and only those that do
not hold every value sent are sent again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector.crm.salesforce.plan import ID_FIELD, normalise
from connector.crm.salesforce.soql import chunks, select_in

if TYPE_CHECKING:
    from connector.crm.salesforce.client import SalesforceClient


class AnswerLostError(Exception):
    """A write was sent and its answer lost (the connection dropped, the read timed out):
    Salesforce may have saved it. The caller finds out what was saved before resending."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the answer to the {kind} call was lost after it was sent")
        self.kind = kind


def already_saved(
    client: SalesforceClient,
    sobject: str,
    values_by_key: Mapping[str, Mapping[str, Any]],
    key_field: str = ID_FIELD,
) -> dict[str, str]:
    """Of the records sent (by their `key_field` value: an Id, or an upsert's external id),
    those that hold every value sent to them, each with its record Id.

    A record not found (deleted since, or never created) counts as not saved: resending it
    brings back Salesforce's own answer for it. External ids are matched whatever their
    case, as the field's default is; the values sent, the key among them, must match exactly.
    """
    fields = sorted({name for values in values_by_key.values() for name in values})
    read = sorted({ID_FIELD, key_field, *fields})
    held: dict[str, dict[str, Any]] = {}
    for chunk in chunks(list(values_by_key), client.settings.ids_per_query):
        for record in client.query(select_in(sobject, read, key_field, chunk)):
            row = {k.lower(): v for k, v in record.items()}
            held[_matched(str(row[key_field.lower()]), key_field)] = row
    saved: dict[str, str] = {}
    for key, values in values_by_key.items():
        found = held.get(_matched(key, key_field))
        if found is not None and all(
            same_value(sent, found.get(name.lower())) for name, sent in values.items()
        ):
            saved[key] = str(found[ID_FIELD.lower()])
    return saved


def same_value(sent: Any, held: Any) -> bool:
    """Whether Salesforce holds the value sent, compared as it stores values of that kind
    (the kind read off the JSON value sent: a number, a boolean, a datetime, or text)."""
    return bool(normalise(sent, _kind(sent)) == normalise(held, _kind(sent)))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "double"
    if isinstance(value, str) and "T" in value and _is_instant(value):
        return "datetime"
    return "string"


def _is_instant(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _matched(value: str, key_field: str) -> str:
    """A key as the records are matched on it: an Id in its 15-character form (queries
    answer in 18), an external id case-folded."""
    if key_field == ID_FIELD:
        return value[:15] if len(value) == 18 else value
    return value.casefold()
