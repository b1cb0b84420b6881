"""The ERP's own balance of each customer, computed once from the records the ERP holds, for
every contract case to serve in its ERP's shape (QuickBooks `Customer.Balance`, Xero
`Balances.AccountsReceivable.Outstanding`, Business Central `customerFinancialDetail.balance`,
NetSuite `balancesearch`, the files' control totals, the warehouse's control table).

Each of those ERPs keeps a customer's balance on its receivables account: what its open
invoices still ask, less the money it holds for the customer that no invoice has taken yet
(unapplied payments and credit memos). So that figure is computed here from the canonical
records, of any date (the ERP's figure is today's, not the run's as-of date), a void invoice
holding nothing. A case that served its own arithmetic could agree with its connector by
sharing its mistake; one computation, from the records, cannot.

`unseen` stands for what moves a customer's receivable in the ERP without any record arsync
reads carrying it: a journal entry to A/R, a finance charge, a write-off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from arsync.records import (
    CanonicalRecord,
    CreditMemo,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
)

Unseen = Mapping[str, Decimal]
"""Customer id -> what the ERP posted to its receivable beyond the documents (+ owes more)."""

UNSEEN_CUSTOMER = "C2"  # a sub-customer: its parent's own balance must not move with it
UNSEEN_AMOUNT = Decimal("12.50")  # a finance charge journalled to A/R, inside the portfolio limit
JOURNAL_ENTRY: Unseen = {UNSEEN_CUSTOMER: UNSEEN_AMOUNT}


@dataclass(frozen=True)
class ErpBalance:
    """One customer's balance as its ERP keeps it: in the customer's currency."""

    customer_id: str
    currency: str
    amount: Decimal


def erp_balances(
    records: Iterable[CanonicalRecord], unseen: Unseen | None = None
) -> dict[str, ErpBalance]:
    """Every customer's balance, by id, zero ones too: open invoices less unapplied payments
    and credit memos, plus what `unseen` posts to it.

    Each ERP here keeps one balance a customer, in its currency; a document in another
    currency has no place in it, so the contract ledger has none (an AssertionError says so).
    """
    records = list(records)
    currency = {r.id: r.currency for r in records if isinstance(r, Customer)}
    owed = {customer_id: Decimal(0) for customer_id in currency}
    for record in records:
        if isinstance(record, Customer):
            continue
        assert record.currency == currency[record.customer_id], (
            f"{record.id} is in {record.currency}, its customer {record.customer_id} in "
            f"{currency[record.customer_id]}: one balance a customer cannot hold both"
        )
        owed[record.customer_id] += _receivable(record)
    for customer_id, amount in (unseen or {}).items():
        owed[customer_id] += amount
    return {
        customer_id: ErpBalance(customer_id, currency[customer_id], amount)
        for customer_id, amount in owed.items()
    }


def _receivable(record: CanonicalRecord) -> Decimal:
    """What one document adds to its customer's receivable (a credit: less than zero)."""
    if isinstance(record, Invoice):
        return Decimal(0) if record.status is InvoiceStatus.VOID else record.open_balance
    if isinstance(record, Payment | CreditMemo):
        return -record.unapplied
    raise AssertionError(f"no receivable for {type(record).__name__}")


def erp_amounts(
    records: Iterable[CanonicalRecord], unseen: Unseen | None = None
) -> dict[str, Decimal]:
    """`erp_balances` as the fakes take it: customer id -> amount in the customer's currency."""
    return {key: balance.amount for key, balance in erp_balances(records, unseen).items()}
