"""After a write's answer was lost: which records already hold what was sent.

Salesforce may have saved an update whose answer never arrived. Sending it again would save
those records a second time (their triggers and flows would run twice), so the records are
read back by Id first and only those that do not hold every value sent are sent again.
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
    values_by_id: Mapping[str, Mapping[str, Any]],
) -> set[str]:
    """The record Ids (as given) whose record holds every value sent to it.

    A record not found (deleted since) counts as not saved: resending it brings back
    Salesforce's own answer for it.
    """
    fields = sorted({name for values in values_by_id.values() for name in values})
    held: dict[str, dict[str, Any]] = {}
    for chunk in chunks(list(values_by_id), client.settings.ids_per_query):
        for record in client.query(select_in(sobject, [ID_FIELD, *fields], ID_FIELD, chunk)):
            held[_id15(str(record[ID_FIELD]))] = {k.lower(): v for k, v in record.items()}
    return {
        record_id
        for record_id, values in values_by_id.items()
        if (row := held.get(_id15(record_id))) is not None
        and all(same_value(sent, row.get(name.lower())) for name, sent in values.items())
    }


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


def _id15(record_id: str) -> str:
    """An Id in its 15-character form (which queries answer in 18)."""
    return record_id[:15] if len(record_id) == 18 else record_id
