"""The CRM stage after scoring: one plan of every object from the run's one read, then writes.

`plan_crm` is the one planner: the Account updates, the invoice records and the Tasks, all
from what `jobs.crm.open_and_read` read before scoring, with no call to Salesforce, so the
whole plan exists before anything is written. `write_crm` then writes the Accounts and, after
them, the invoice records and Tasks, through the one writer (`connector.crm.salesforce.push`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from arsync.ledger import Ledger
from connector.crm.salesforce.changes import ChangeOutcome
from connector.crm.salesforce.plan import Plan
from jobs.crm import CrmConnection, CrmRead, CrmResult, Pushed, plan_accounts, push_accounts
from jobs.related import RelatedPlan, plan_related, write_related
from jobs.settings import RunSettings


@dataclass(frozen=True)
class CrmPlan:
    """Every change of a run: the Accounts' (with the desired values they came from, for
    the outputs) and the invoice records' and Tasks'."""

    accounts: Plan
    desired: pd.DataFrame
    related: RelatedPlan


def plan_crm(
    settings: RunSettings,
    connection: CrmConnection,
    read: CrmRead,
    desired: pd.DataFrame,
    *,
    scores: pd.DataFrame,
    ledger: Ledger,
    as_of: dt.date,
    last_written: Mapping[tuple[str, str], Any] | None = None,
    quarantined_invoices: frozenset[str] = frozenset(),
    held: frozenset[str] = frozenset(),
) -> CrmPlan:
    """Plan every object from `read`; no query, no write (`connection` gives describe()).

    `scores` are those of the customers that may be written (not `held`).
    """
    accounts = plan_accounts(
        settings, desired, connection=connection, read=read, last_written=last_written
    )
    related = plan_related(
        settings,
        connection,
        read,
        scores,
        ledger,
        as_of=as_of,
        quarantined_invoices=quarantined_invoices,
        held=held,
    )
    return CrmPlan(accounts, desired, related)


def write_crm(
    settings: RunSettings,
    connection: CrmConnection,
    plan: CrmPlan,
    *,
    dry_run: bool,
    pushed: Pushed | None = None,
    on_confirmed: Callable[[list[ChangeOutcome]], None] | None = None,
) -> CrmResult:
    """Write the Accounts, then the invoice records and Tasks, unless dry.

    `pushed` follows the Account push and `on_confirmed` hears the invoice records' and
    Tasks' outcomes, batch by batch, for a run that stops half-way.
    """
    crm = push_accounts(
        settings,
        plan.accounts,
        plan.desired,
        connection=connection,
        dry_run=dry_run,
        pushed=pushed,
    )
    records = write_related(
        settings, connection, plan.related, dry_run=dry_run, on_confirmed=on_confirmed
    )
    return replace(crm, outcomes=pd.concat([crm.outcomes, records], ignore_index=True))
