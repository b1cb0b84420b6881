"""The names of the Users who own the Accounts a run read: for the report's breakdown by owner.

Read only, never written: one query per 200 owner Ids on User. An org where the running user
may not read User (Salesforce answers such a query INVALID_TYPE or INSUFFICIENT_ACCESS) leaves
the names empty with one warning: the owner is a report's grouping, never worth a failed run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import structlog

from arsync.errors import FatalError
from connector.crm.salesforce.plan import ID_FIELD
from connector.crm.salesforce.soql import chunks, select_in

if TYPE_CHECKING:
    from connector.crm.salesforce.client import SalesforceClient

log = structlog.get_logger(__name__)

OWNER_FIELD: Final = "OwnerId"
USER_OBJECT: Final = "User"
NAME_FIELD: Final = "Name"
IDS_PER_QUERY: Final = 200
# What Salesforce answers a query on an object (or field) the running user may not read.
_NO_ACCESS = re.compile(r"\b(INVALID_TYPE|INSUFFICIENT_ACCESS\w*|INVALID_FIELD)\b")


def owner_names(client: SalesforceClient, owner_ids: Iterable[str]) -> dict[str, str]:
    """Owner Id -> the User's name, for the Ids given (an Id of no readable User is left out).

    Ids are matched on their first 15 characters, as Salesforce Ids compare.
    """
    wanted = sorted({str(owner_id) for owner_id in owner_ids if owner_id})
    names: dict[str, str] = {}
    try:
        for chunk in chunks(wanted, IDS_PER_QUERY):
            soql = select_in(USER_OBJECT, [ID_FIELD, NAME_FIELD], ID_FIELD, chunk)
            for record in client.query(soql):
                name = record.get(NAME_FIELD)
                if record.get(ID_FIELD) and name:
                    names[str(record[ID_FIELD])[:15]] = str(name)
    except FatalError as error:
        # The client (and simple_salesforce) is loaded by then: it made the query.
        from connector.crm.salesforce.client import (  # noqa: PLC0415
            BudgetExhaustedError,
            SessionExpiredError,
        )

        if isinstance(error, BudgetExhaustedError | SessionExpiredError):
            raise
        if not _NO_ACCESS.search(str(error)):
            raise
        log.warning("salesforce.owner_names_unreadable", owners=len(wanted), error=str(error))
        return {}
    found = {owner_id: names[owner_id[:15]] for owner_id in wanted if owner_id[:15] in names}
    log.info("salesforce.owner_names_read", owners=len(wanted), named=len(found))
    return found
