"""Invoices and how each customer means to pay them, drawn for all invoices at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.sample_data.archetypes import Archetype
from jobs.sample_data.common import BoolArray, IntArray, choose, to_business_day
from jobs.sample_data.customers import CHECK, CustomerPlan

DISPUTE_REASONS = (
    "pricing",
    "damaged goods",
    "PO mismatch",
    "quantity short",
    "not received",
    "duplicate billing",
)
_DISPUTE_WEIGHTS = (0.35, 0.20, 0.20, 0.10, 0.10, 0.05)

_VOID_SHARE = 0.015
_OUTLIER_SHARE = 0.002
_OUTLIER_FACTOR = 10.0
_AMOUNT_SIGMA = 0.35
_RECENT_DAYS = 180  # disputes cluster on recent invoices: old ones get settled

PROFILES = ("default", "noisy")
"""How late customers pay: `default`, the archetypes' clear habits (prompt payers never late,
chronic ones always 20+ days); `noisy`, short noisy delays like a real ledger's (below)."""

# The noisy profile: each customer's chance of paying an invoice late is drawn from a wide Beta
# around its archetype's mean, so the archetype says less about the next invoice than the
# customer's own luck does; late payments are mostly 1-20 days beyond terms.
_NOISY_LATE_MEAN: dict[Archetype, float] = {
    Archetype.PROMPT: 0.12,
    Archetype.STEADY: 0.25,
    Archetype.CHRONIC_LATE: 0.5,
    Archetype.SLIPPER: 0.15,
    Archetype.DISPUTER: 0.3,
    Archetype.PARTIAL: 0.35,
    Archetype.CREDIT_MEMO: 0.25,
    Archetype.UNAPPLIED_CASH: 0.25,
}
_NOISY_SLIPPED_MEAN = 0.5  # a slipper's late chance once it has slipped
_NOISY_CONCENTRATION = 4.0  # of the Beta: low, so customers of one archetype differ widely
_NOISY_DAYS_SHAPE, _NOISY_DAYS_SCALE = 1.5, 4.0  # gamma of the days beyond terms, minus one
_NOISY_EARLY_SHARE = 0.12  # of the invoices paid on time, paid some days early


@dataclass(frozen=True)
class InvoicePlan:
    """Invoices in issue-date order (index = invoice position), with payment intentions."""

    customer: IntArray
    issue: IntArray  # day numbers
    due: IntArray
    total: IntArray  # minor units
    void: BoolArray
    disputed: BoolArray
    reason: IntArray  # index into DISPUTE_REASONS; -1 when not disputed
    never_paid: BoolArray
    delay: IntArray  # days after the due date the customer pays (negative: early)

    @property
    def size(self) -> int:
        return len(self.customer)


def plan_invoices(
    rng: np.random.Generator,
    customers: CustomerPlan,
    start_day: int,
    end_day: int,
    profile: str = "default",
) -> InvoicePlan:
    """Issue dates spread over each customer's active window, then sorted chronologically.

    The delays are drawn last, so `profile` changes nothing but them (and the draws after)."""
    customer = np.repeat(np.arange(customers.size, dtype=np.int64), customers.invoice_count)
    size = len(customer)
    span = customers.last_day - customers.first_day + 1
    offset = customers.first_day[customer] + np.floor(rng.random(size) * span[customer]).astype(
        np.int64
    )
    issue = to_business_day(start_day + offset, start_day)
    order = np.lexsort((customer, issue))
    customer, issue = customer[order], issue[order]
    due = issue + customers.terms[customer]
    archetype = customers.archetype[customer]
    void = rng.random(size) < _VOID_SHARE
    dispute_share = np.where(
        archetype == Archetype.DISPUTER,
        np.where(issue >= end_day - _RECENT_DAYS, 0.25, 0.02),
        0.002,
    )
    disputed = ~void & (rng.random(size) < dispute_share)
    reason = np.where(disputed, choose(rng, size, _DISPUTE_WEIGHTS), -1).astype(np.int64)
    never_share = np.where(archetype == Archetype.CHRONIC_LATE, 0.05, 0.001)
    never_paid = ~void & ~disputed & (rng.random(size) < never_share)
    return InvoicePlan(
        customer=customer,
        issue=issue,
        due=due,
        total=_amounts(rng, customers, customer),
        void=void,
        disputed=disputed,
        reason=reason,
        never_paid=never_paid,
        delay=(
            _noisy_delays(rng, customers, customer, due)
            if profile == "noisy"
            else _delays(rng, customers, customer, due)
        ),
    )


def _amounts(rng: np.random.Generator, customers: CustomerPlan, customer: IntArray) -> IntArray:
    """Lognormal around the customer's typical amount, with rare 10x outliers to flag."""
    size = len(customer)
    amount = customers.typical_minor[customer] * np.exp(rng.normal(0.0, _AMOUNT_SIGMA, size))
    amount = np.where(rng.random(size) < _OUTLIER_SHARE, amount * _OUTLIER_FACTOR, amount)
    one_unit = 10 ** customers.exponent[customer]
    return np.maximum(np.rint(amount).astype(np.int64), one_unit)


def _delays(
    rng: np.random.Generator, customers: CustomerPlan, customer: IntArray, due: IntArray
) -> IntArray:
    """Days past due per archetype; checks add mail float, punctual payers never pass due."""
    size = len(customer)
    archetype = customers.archetype[customer]
    normal = rng.standard_normal(size)
    gamma = rng.gamma(2.0, 1.0, size)
    early = -np.floor(rng.exponential(2.5, size))
    slipped = due >= customers.slip_day[customer]
    late = 20 + np.rint(14 * gamma)
    delay = np.select(
        [
            archetype == Archetype.PROMPT,
            archetype == Archetype.STEADY,
            archetype == Archetype.CHRONIC_LATE,
            archetype == Archetype.SLIPPER,
            archetype == Archetype.PARTIAL,
        ],
        [
            early,
            np.rint(2 + 5 * normal),
            late,
            np.where(slipped, 12 + np.rint(12 * gamma), early),
            np.rint(10 + 10 * normal),
        ],
        default=np.rint(4 + 7 * normal),
    )
    mail_float = np.where(customers.method[customer] == CHECK, rng.integers(1, 6, size), 0)
    delay = delay + mail_float
    punctual = (archetype == Archetype.PROMPT) | ((archetype == Archetype.SLIPPER) & ~slipped)
    return np.where(punctual, np.minimum(delay, 0), delay).astype(np.int64)


def _noisy_delays(
    rng: np.random.Generator, customers: CustomerPlan, customer: IntArray, due: IntArray
) -> IntArray:
    """Late now and then, by a few days, at each customer's own rate; a few pay early."""
    size = len(customer)
    means = np.array([_NOISY_LATE_MEAN[kind] for kind in Archetype], dtype=np.float64)
    mean = means[customers.archetype]
    rate = rng.beta(mean * _NOISY_CONCENTRATION, (1 - mean) * _NOISY_CONCENTRATION)
    slipped_rate = rng.beta(
        _NOISY_SLIPPED_MEAN * _NOISY_CONCENTRATION,
        (1 - _NOISY_SLIPPED_MEAN) * _NOISY_CONCENTRATION,
        customers.size,
    )
    slipped = (customers.archetype[customer] == Archetype.SLIPPER) & (
        due >= customers.slip_day[customer]
    )
    chance = np.where(slipped, slipped_rate[customer], rate[customer])
    late = rng.random(size) < chance
    days = 1 + np.rint(rng.gamma(_NOISY_DAYS_SHAPE, _NOISY_DAYS_SCALE, size))
    early = rng.random(size) < _NOISY_EARLY_SHARE
    ahead = -1 - np.floor(rng.exponential(2.5, size))
    delay = np.where(late, days, np.where(early, ahead, 0))
    return delay.astype(np.int64)
