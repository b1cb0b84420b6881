"""Account health from a validated ledger: pure pandas, no I/O, no clock."""

from scoring.accounts import score_accounts
from scoring.columns import output_columns
from scoring.currency import CurrencyTable
from scoring.settings import ScoringSettings

__all__ = ["CurrencyTable", "ScoringSettings", "output_columns", "score_accounts"]
