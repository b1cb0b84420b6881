"""Credit memos and payments, with their applications, derived from the invoice plan.

Applications are built from the same arrays as the documents, so the ledger's balances
(invoice open amount, document unapplied amount) hold exactly by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.sample_data.archetypes import Archetype
from jobs.sample_data.common import (
    FRIDAY,
    IntArray,
    group_starts,
    to_business_day,
    weekday,
)
from jobs.sample_data.customers import KNOWN_METHOD_WEIGHTS, NO_METHOD, CustomerPlan, draw_methods
from jobs.sample_data.invoices import InvoicePlan

_MEMO_SHARE = 0.2  # of a credit-memo customer's invoices
_FULL_CREDIT_SHARE = 0.12
_SPARE_CREDIT_SHARE = 0.25  # memos worth more than what they settle
_REBATES_PER_CUSTOMER = 0.8  # standalone memos nobody applied
_PARTIAL_SHARE = 0.45  # of a partial payer's paid invoices
_REST_PAID_SHARE = 0.5  # of short-paid invoices whose remainder is paid later
_REST_AFTER_DAYS = (20, 90)
_OVERPAY_SHARE = 0.3  # of an unapplied-cash customer's payments
_ON_ACCOUNT_PER_CUSTOMER = 1.5  # payments with no remittance advice at all
_ON_ACCOUNT_DAYS = 180
_METHOD_SWITCH_SHARE = 0.06


@dataclass(frozen=True)
class Documents:
    """Payments or credit memos in date order, with applications sorted by document."""

    customer: IntArray
    day: IntArray  # received (payment) or issue (memo) day; also every application's date
    amount: IntArray
    method: IntArray  # index into customers.METHODS; NO_METHOD for credit memos
    app_document: IntArray
    app_invoice: IntArray
    app_amount: IntArray

    @property
    def size(self) -> int:
        return len(self.customer)

    def applied(self) -> IntArray:
        total = np.zeros(self.size, dtype=np.int64)
        np.add.at(total, self.app_document, self.app_amount)
        return total


@dataclass(frozen=True)
class Settlement:
    """Everything that settles invoices, and what it leaves open on each."""

    credit_memos: Documents
    payments: Documents
    open_minor: IntArray  # per invoice


def settle(
    rng: np.random.Generator,
    customers: CustomerPlan,
    invoices: InvoicePlan,
    start_day: int,
    end_day: int,
) -> Settlement:
    """Credit memos first (they reduce what is paid), then payments, then open balances."""
    memos, memo_applied, memo_day = _credit_memos(rng, customers, invoices, start_day, end_day)
    payments = _payments(
        rng,
        customers=customers,
        invoices=invoices,
        memo_applied=memo_applied,
        memo_day=memo_day,
        start_day=start_day,
        end_day=end_day,
    )
    applied = np.zeros(invoices.size, dtype=np.int64)
    np.add.at(applied, memos.app_invoice, memos.app_amount)
    np.add.at(applied, payments.app_invoice, payments.app_amount)
    open_minor = np.where(invoices.void, 0, invoices.total - applied).astype(np.int64)
    return Settlement(credit_memos=memos, payments=payments, open_minor=open_minor)


def _credit_memos(
    rng: np.random.Generator,
    customers: CustomerPlan,
    invoices: InvoicePlan,
    start_day: int,
    end_day: int,
) -> tuple[Documents, IntArray, IntArray]:
    """Memos against invoices (returns, price adjustments), some with credit left, plus rebates.

    Returns the memos, the credit applied to each invoice and the day it was applied (or the
    issue day where there is none), so payments can cover only what is left, after it.
    """
    archetype = customers.archetype[invoices.customer]
    eligible = (archetype == Archetype.CREDIT_MEMO) & ~invoices.void & ~invoices.disputed
    invoice = np.flatnonzero(eligible & (rng.random(invoices.size) < _MEMO_SHARE))
    count = len(invoice)
    issued = invoices.issue[invoice]
    day = to_business_day(np.minimum(issued + rng.integers(2, 41, count), end_day), issued)
    total = invoices.total[invoice]
    share = np.rint(total * rng.uniform(0.05, 0.35, count)).astype(np.int64)
    partial = np.clip(share, 1, np.maximum(total - 1, 1))
    applied = np.where(rng.random(count) < _FULL_CREDIT_SHARE, total, partial)
    spare = np.maximum(np.rint(applied * rng.uniform(0.1, 0.8, count)), 1).astype(np.int64)
    amount = applied + np.where(rng.random(count) < _SPARE_CREDIT_SHARE, spare, 0)

    holders = np.flatnonzero(customers.archetype == Archetype.CREDIT_MEMO)
    rebate_customer = np.repeat(holders, rng.poisson(_REBATES_PER_CUSTOMER, len(holders)))
    rebate_day = _day_in_window(rng, customers, rebate_customer, start_day, 0)
    rebate = customers.typical_minor[rebate_customer] * rng.uniform(0.05, 0.5, len(rebate_customer))
    rebate_amount = np.maximum(np.rint(rebate), 1).astype(np.int64)

    memos = _assemble(
        customer=np.concatenate([invoices.customer[invoice], rebate_customer]),
        day=np.concatenate([day, rebate_day]),
        amount=np.concatenate([amount, rebate_amount]),
        method=np.full(count + len(rebate_customer), NO_METHOD, dtype=np.int64),
        app_owner=np.arange(count, dtype=np.int64),
        app_invoice=invoice,
        app_amount=applied,
    )
    memo_applied = np.zeros(invoices.size, dtype=np.int64)
    memo_applied[invoice] = applied
    memo_day = invoices.issue.copy()
    memo_day[invoice] = day
    return memos, memo_applied, memo_day


def _payments(
    rng: np.random.Generator,
    *,
    customers: CustomerPlan,
    invoices: InvoicePlan,
    memo_applied: IntArray,
    memo_day: IntArray,
    start_day: int,
    end_day: int,
) -> Documents:
    """One payment per customer and payment day, covering every invoice paid that day.

    Unapplied-cash customers add overpayments and payments on account (no remittance).
    """
    invoice, day, pay = _payment_lines(
        rng,
        customers=customers,
        invoices=invoices,
        memo_applied=memo_applied,
        memo_day=memo_day,
        end_day=end_day,
    )
    order = np.lexsort((invoice, invoices.customer[invoice], day))
    invoice, day, pay = invoice[order], day[order], pay[order]
    starts = group_starts(day, invoices.customer[invoice])
    first = np.flatnonzero(starts)
    group_customer = invoices.customer[invoice][first]
    covered = np.add.reduceat(pay, first) if len(first) else np.zeros(0, dtype=np.int64)
    overpaid = customers.archetype[group_customer] == Archetype.UNAPPLIED_CASH
    overpaid &= rng.random(len(first)) < _OVERPAY_SHARE
    extra = np.maximum(np.rint(covered * rng.uniform(0.02, 0.3, len(first))), 1).astype(np.int64)

    holders = np.flatnonzero(customers.archetype == Archetype.UNAPPLIED_CASH)
    on_account = np.repeat(holders, rng.poisson(_ON_ACCOUNT_PER_CUSTOMER, len(holders)) + 1)
    on_account_day = _day_in_window(rng, customers, on_account, start_day, _ON_ACCOUNT_DAYS)
    loose = customers.typical_minor[on_account] * rng.uniform(0.3, 1.5, len(on_account))

    customer = np.concatenate([group_customer, on_account])
    return _assemble(
        customer=customer,
        day=np.concatenate([day[first], on_account_day]),
        amount=np.concatenate(
            [covered + np.where(overpaid, extra, 0), np.maximum(np.rint(loose), 1)]
        ).astype(np.int64),
        method=_methods(rng, customers, customer),
        app_owner=np.cumsum(starts) - 1,
        app_invoice=invoice,
        app_amount=pay,
    )


def _payment_lines(
    rng: np.random.Generator,
    *,
    customers: CustomerPlan,
    invoices: InvoicePlan,
    memo_applied: IntArray,
    memo_day: IntArray,
    end_day: int,
) -> tuple[IntArray, IntArray, IntArray]:
    """(invoice, day, amount) of every payment application, before grouping into payments.

    Partial payers short-pay some invoices; about half of those remainders are paid weeks
    later, so an invoice can carry two payment applications.
    """
    archetype = customers.archetype[invoices.customer]
    run_weekday = customers.run_weekday[invoices.customer]
    owed = invoices.total - memo_applied
    earliest = np.maximum(invoices.issue, memo_day)
    intended = np.maximum(invoices.due + invoices.delay, earliest)
    day = _align_to_runs(intended, invoices.due, earliest, run_weekday)
    paid = ~invoices.void & ~invoices.disputed & ~invoices.never_paid
    paid &= (owed > 0) & (day <= end_day)
    short = paid & (archetype == Archetype.PARTIAL) & (owed >= 2)
    short &= rng.random(invoices.size) < _PARTIAL_SHARE
    part = np.floor(owed * rng.uniform(0.3, 0.9, invoices.size)).astype(np.int64)
    pay = np.where(short, np.clip(part, 1, owed - 1), owed)
    later = day + rng.integers(_REST_AFTER_DAYS[0], _REST_AFTER_DAYS[1] + 1, invoices.size)
    rest_day = _align_to_runs(later, day, day, run_weekday)
    rest = short & (rng.random(invoices.size) < _REST_PAID_SHARE) & (rest_day <= end_day)
    first, second = np.flatnonzero(paid), np.flatnonzero(rest)
    return (
        np.concatenate([first, second]),
        np.concatenate([day[first], rest_day[second]]),
        np.concatenate([pay[first], (owed - pay)[second]]),
    )


def _align_to_runs(
    intended: IntArray, due: IntArray, earliest: IntArray, run_weekday: IntArray
) -> IntArray:
    """Move a payment onto the customer's payment-run weekday (or off a weekend).

    On-time payments move earlier, so a batching customer stays on time; late ones move later.
    A payment that cannot move earlier without predating its invoice or memo stays put.
    """
    current = weekday(intended)
    batches = run_weekday >= 0
    back = np.where(batches, (current - run_weekday) % 7, np.maximum(current - FRIDAY, 0))
    weekend = np.where(current > FRIDAY, 7 - current, 0)
    ahead = np.where(batches, (run_weekday - current) % 7, weekend)
    earlier = intended - back
    on_time = np.where(earlier >= earliest, earlier, intended)
    return np.where(intended <= due, on_time, intended + ahead).astype(np.int64)


def _day_in_window(
    rng: np.random.Generator,
    customers: CustomerPlan,
    customer: IntArray,
    start_day: int,
    recent_days: int,
) -> IntArray:
    """A business day in the customer's active window (its last `recent_days` if nonzero)."""
    first = customers.first_day[customer]
    last = customers.last_day[customer]
    if recent_days:
        first = np.maximum(first, last - recent_days)
    offset = first + np.floor(rng.random(len(customer)) * (last - first + 1)).astype(np.int64)
    return to_business_day(start_day + offset, start_day + first)


def _methods(rng: np.random.Generator, customers: CustomerPlan, customer: IntArray) -> IntArray:
    """The customer's usual method, now and then another (or any, when none is on file)."""
    usual = customers.method[customer]
    other = draw_methods(rng, customers.currency[customer], KNOWN_METHOD_WEIGHTS)
    switch = (usual == NO_METHOD) | (rng.random(len(customer)) < _METHOD_SWITCH_SHARE)
    return np.where(switch, other, usual).astype(np.int64)


def _assemble(
    *,
    customer: IntArray,
    day: IntArray,
    amount: IntArray,
    method: IntArray,
    app_owner: IntArray,
    app_invoice: IntArray,
    app_amount: IntArray,
) -> Documents:
    """Put documents in date order (ids follow it) and re-point their applications."""
    order = np.lexsort((customer, day))
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    app_document = position[app_owner]
    app_order = np.lexsort((app_invoice, app_document))
    return Documents(
        customer=customer[order],
        day=day[order],
        amount=amount[order],
        method=method[order],
        app_document=app_document[app_order],
        app_invoice=app_invoice[app_order],
        app_amount=app_amount[app_order],
    )
