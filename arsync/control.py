"""The ERP's own balance per customer: what a source reports beside the documents, so that
arsync can check the balance it computes before it writes one (`arsync.reconcile`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Basis(StrEnum):
    """What the ERP's figure sums, so that arsync computes the same from its ledger."""

    NET = "net"
    """Open invoices minus unapplied payments and unapplied credit memos: the customer's
    receivables account, as QuickBooks' Customer.Balance or Business Central's balance."""
    OPEN_INVOICES = "open_invoices"
    """Open invoices only, unapplied money left out."""


@dataclass(frozen=True, slots=True)
class ControlBalance:
    """One customer's balance as the ERP reports it, in major units of `currency`."""

    customer_id: str
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class ControlBalances:
    """The ERP's figures for one pull.

    `every_customer`: the figures cover the whole ERP, so a customer not listed owes nothing
    there (a source that asks only for non-zero balances); otherwise only the listed
    customers are checked (an optional control query or file).
    """

    figure: str  # the ERP's figure in words, for messages: "QuickBooks Customer.Balance"
    basis: Basis
    balances: tuple[ControlBalance, ...]
    every_customer: bool = False
