"""Whether the as-of date a run scores for lies where the data can answer for it.

Scoring as of a day before the first invoice gives every customer an empty history, so
every score reads "new"; scoring as of a day after the ERP data was current ages every
invoice as if nothing had been paid since. Both are legal (`--as-of` is for replaying and
testing) but never what a person meant without saying so: the run warns, with the dates.
"""

from __future__ import annotations

import datetime as dt


def as_of_warning(
    as_of: dt.date, first_invoice: dt.date | None, data_as_of: dt.datetime | None
) -> str | None:
    """The warning for an as-of date outside the data, or None when it is inside.
    `first_invoice` is the earliest issue date the export holds, before the ledger's date
    window (which, as of a day years before the data, would quarantine all of it)."""
    if first_invoice is not None and as_of < first_invoice:
        return (
            f"scored as of {as_of}, before the first invoice ({first_invoice}): no customer has "
            "any history then, so every score reads as a new customer's"
        )
    current = data_as_of.date() if data_as_of is not None else None
    if current is not None and as_of > current:
        return (
            f"scored as of {as_of}, after the ERP data was current ({current}): what was paid "
            "or invoiced since is not in it, so balances and days overdue are as of then, "
            "only older"
        )
    return None
