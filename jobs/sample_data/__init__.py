"""Deterministic sample data: a realistic B2B receivables ledger and its generic-CSV export.

It feeds the scoring benchmark, the demo and the source contract tests: one seed, one ledger,
with every kind of customer a collector meets (see `Archetype`).
"""

from jobs.sample_data.archetypes import ARCHETYPE_SHARES, Archetype
from jobs.sample_data.export import EXPORT_FILES, write_export
from jobs.sample_data.generate import DEFAULT_INVOICES_PER_CUSTOMER, SampleLedger, generate_ledger
from jobs.sample_data.invoices import PROFILES

__all__ = [
    "ARCHETYPE_SHARES",
    "DEFAULT_INVOICES_PER_CUSTOMER",
    "EXPORT_FILES",
    "PROFILES",
    "Archetype",
    "SampleLedger",
    "generate_ledger",
    "write_export",
]
