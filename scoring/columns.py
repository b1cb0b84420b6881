"""The columns scoring produces: what a mapping may send to the CRM, and what each one means."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scoring.settings import ScoringSettings


class Kind(StrEnum):
    MONEY = "money"  # reporting currency, major units
    INTEGER = "integer"
    TEXT = "text"
    DATE = "date"


@dataclass(frozen=True)
class Column:
    kind: Kind
    description: str


_FIXED: dict[str, Column] = {
    "customer_id": Column(Kind.TEXT, "the ERP customer id"),
    "customer_name": Column(Kind.TEXT, "the ERP customer name"),
    "crm_account_id": Column(Kind.TEXT, "the Salesforce Account id the ERP holds, if any"),
    "reporting_currency": Column(Kind.TEXT, "ISO code of every money column"),
    "as_of_date": Column(Kind.DATE, "the date the figures are computed for"),
    "open_balance": Column(Kind.MONEY, "sum of open invoice balances"),
    "overdue_balance": Column(Kind.MONEY, "open balance of invoices past their due date"),
    "unapplied_credit": Column(
        Kind.MONEY, "payments and credit memos received but not applied to any invoice"
    ),
    "net_balance": Column(Kind.MONEY, "open balance minus unapplied credit"),
    "open_invoice_count": Column(Kind.INTEGER, "invoices with an open balance"),
    "overdue_invoice_count": Column(Kind.INTEGER, "open invoices past their due date"),
    "max_days_overdue": Column(Kind.INTEGER, "days past due of the oldest overdue invoice"),
    "overdue_status": Column(Kind.TEXT, "label of the oldest aging bucket holding money"),
}


def output_columns(settings: ScoringSettings) -> dict[str, Column]:
    """Every column of `score_accounts`' result, aging buckets included."""
    buckets = {
        f"aging_{b.key}": Column(Kind.MONEY, f"open balance aged {b.label}")
        for b in settings.aging_buckets
    }
    return {**_FIXED, **buckets}
