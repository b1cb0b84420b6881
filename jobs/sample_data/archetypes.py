"""The kinds of customer a collector meets, and how many of each a sample ledger holds.

Each customer gets exactly one archetype; the generator's behaviour per archetype is what
scoring must recognise, so the labels double as ground truth for scoring tests.
"""

from __future__ import annotations

from enum import IntEnum


class Archetype(IntEnum):
    PROMPT = 0  # pays on or before the due date
    STEADY = 1  # pays around the due date, now and then a few days late
    CHRONIC_LATE = 2  # consistently 20-60+ days late, some invoices never paid
    SLIPPER = 3  # punctual until the last ~4 months, then late
    DISPUTER = 4  # disputes some invoices (mostly recent ones) and leaves them open
    PARTIAL = 5  # short-pays many invoices, leaving a balance open
    CREDIT_MEMO = 6  # returns and price adjustments: credit memos, some credit unapplied
    UNAPPLIED_CASH = 7  # overpays and pays on account without remittance advice

    @property
    def label(self) -> str:
        return self.name.lower()


ARCHETYPE_SHARES: dict[Archetype, float] = {
    Archetype.PROMPT: 0.30,
    Archetype.STEADY: 0.20,
    Archetype.CHRONIC_LATE: 0.14,
    Archetype.SLIPPER: 0.08,
    Archetype.DISPUTER: 0.08,
    Archetype.PARTIAL: 0.08,
    Archetype.CREDIT_MEMO: 0.07,
    Archetype.UNAPPLIED_CASH: 0.05,
}
"""Shares of the customer count, applied exactly (largest remainder), then shuffled by seed."""
