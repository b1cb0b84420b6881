"""The columns scoring produces: what a mapping may send to the CRM, and what each one means.

`docs/scoring.md` explains how each is computed; this registry is what `arsync validate` checks
mappings and rules against.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scoring.flags import FLAGS
from scoring.health import COMPONENTS
from scoring.settings import ScoringSettings


class Kind(StrEnum):
    MONEY = "money"  # reporting currency, major units
    NUMBER = "number"
    INTEGER = "integer"
    TEXT = "text"
    DATE = "date"
    DATETIME = "datetime"  # an instant, in UTC
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Column:
    kind: Kind
    description: str


def _columns(kind: Kind, **descriptions: str) -> dict[str, Column]:
    return {name: Column(kind, text) for name, text in descriptions.items()}


_IDENTITY = {
    **_columns(
        Kind.TEXT,
        customer_id="the ERP customer id",
        customer_name="the ERP customer name",
        crm_account_id="the Salesforce Account id the ERP holds, if any",
        parent_id="the ERP id of the parent customer, if any",
        reporting_currency="ISO code of every money column",
        industry="the customer's industry, as the ERP has it",
        invoice_delivery="paper, email, portal or edi",
        payment_method="the customer's usual payment method",
    ),
    "as_of_date": Column(Kind.DATE, "the date the figures are computed for"),
    "data_as_of": Column(
        Kind.DATETIME, "when the ERP data was current (the export's or the server's time)"
    ),
    "payment_terms_days": Column(Kind.INTEGER, "payment terms in days"),
}
_BALANCES = _columns(
    Kind.MONEY,
    open_balance="sum of open invoice balances",
    overdue_balance="open balance of invoices past their due date",
    disputed_balance="open balance of disputed invoices",
    aged_balance="open balance past due by more than health.aged_days_overdue",
    unapplied_credit="payments and credit memos received but not applied to any invoice",
    net_balance="open balance minus unapplied credit",
    credit_limit="the credit limit, in the reporting currency",
)
_COUNTS = {
    **_columns(
        Kind.INTEGER,
        open_invoice_count="invoices with an open balance",
        overdue_invoice_count="open invoices past their due date",
        disputed_invoice_count="open disputed invoices",
        aged_invoice_count="open invoices past due by more than health.aged_days_overdue",
        max_days_overdue="days past due of the oldest overdue invoice",
    ),
    "credit_utilisation": Column(Kind.NUMBER, "open balance / credit limit (1 = at the limit)"),
    "overdue_status": Column(Kind.TEXT, "label of the oldest aging bucket holding money"),
    "next_due_date": Column(Kind.DATE, "the earliest due date of an invoice not yet due"),
}
_BEHAVIOUR = {
    **_columns(
        Kind.INTEGER,
        paid_invoices_12m="invoices paid in the long window",
        paid_invoices_90d="invoices paid in the short window",
    ),
    **_columns(
        Kind.NUMBER,
        avg_days_to_pay_12m="average days from invoice date to payment (long window)",
        weighted_days_to_pay_12m="days to pay, weighted by invoice amount (long window)",
        avg_days_beyond_terms_12m="average days paid after the due date (long window)",
        weighted_days_beyond_terms_12m="days beyond terms, weighted by amount (long window)",
        on_time_share_12m="share of invoices paid by the due date plus grace (long window)",
        days_late_p75_12m="75th percentile of days paid late, early counted as 0 (long window)",
        disputed_share_12m="share of invoices issued in the long window that were disputed",
        avg_days_beyond_terms_90d="average days beyond terms (short window)",
        on_time_share_90d="share paid on time (short window)",
        avg_days_beyond_terms_prior="average days beyond terms, long window before the short",
        on_time_share_prior="share paid on time, long window before the short",
        days_beyond_terms_trend="recent minus prior days beyond terms (positive: slipping)",
    ),
    "last_payment_date": Column(Kind.DATE, "date of the latest payment received"),
    "is_check_payer": Column(Kind.BOOLEAN, "pays by check, by setting or by habit"),
}
_KPIS = {
    "credit_sales_period": Column(Kind.MONEY, "invoiced in the DSO period"),
    **_columns(
        Kind.NUMBER,
        dso="days sales outstanding: open AR / credit sales x days",
        best_possible_dso="current (not overdue) AR / credit sales x days",
        add="average days delinquent: DSO minus best possible DSO",
        dso_countback="DSO by the countback method",
        cei="collection effectiveness index over the CEI period, in percent",
    ),
}
_FLAGS = {
    **{name: Column(Kind.BOOLEAN, f"{name.removeprefix('flag_')} flag raised") for name in FLAGS},
    "flags": Column(Kind.TEXT, "the reasons of the raised flags, joined by '; '"),
}
_HEALTH = {
    "health_score": Column(Kind.INTEGER, "0 (worst) to 100 (best)"),
    "risk_tier": Column(
        Kind.TEXT, "low, medium, high or critical: by the score, or the model's probability band"
    ),
    "is_new": Column(Kind.BOOLEAN, "too little payment history to judge"),
    "score_basis": Column(
        Kind.TEXT,
        "model (the late-payment model, past its gate), history (the rule score), or "
        "provisional (the rule score of a new customer)",
    ),
    "late_payment_chance": Column(
        Kind.NUMBER,
        "the model's chance in percent that an invoice due in the next 30 days is paid late; "
        "empty where the rule score stands",
    ),
    **{
        f"points_{c.name}": Column(Kind.NUMBER, f"points the {c.name} component took off")
        for c in COMPONENTS
    },
    **_columns(
        Kind.TEXT,
        reason_1="the reason that cost the most points, as 'CODE: text'",
        reason_2="the second reason",
        reason_3="the third reason",
        reason_codes="the codes of the reasons, comma-separated",
    ),
    "collection_stage": Column(Kind.TEXT, "stage of the oldest open invoice; none if nothing"),
}
_CRM = {
    "promise_amount": Column(Kind.MONEY, "the amount promised to pay, as the CRM records it"),
    "promise_date": Column(Kind.DATE, "the date the customer promised to pay by"),
    "promise_made_on": Column(Kind.DATE, "when the promise was given, if the CRM records it"),
    "crm_dispute_open": Column(Kind.BOOLEAN, "a dispute is open in the CRM"),
    "promise_status": Column(Kind.TEXT, "none, pending, kept or broken"),
    "promise_paid": Column(Kind.MONEY, "payments received towards the promise"),
}
_WORKLIST = {
    "segment": Column(Kind.TEXT, "the first segment rule that matches"),
    **_columns(
        Kind.TEXT,
        next_action="the playbook's action code",
        next_action_label="the action in words",
    ),
    "next_action_date": Column(Kind.DATE, "when the action is due; empty for none"),
    "priority_weight": Column(
        Kind.MONEY, "the worklist's ranking figure: overdue money weighted by age and risk tier"
    ),
    "money_at_risk": Column(Kind.MONEY, "the open balance, when the risk tier is high or critical"),
    "priority_rank": Column(Kind.INTEGER, "1 = work first; empty when nothing is at risk"),
}
_FORECAST = {
    **_columns(
        Kind.MONEY,
        expected_receipts_30d="open invoices expected to be paid within 30 days, by the "
        "customer's own habit (disputed ones left out)",
        expected_receipts_60d="the same within 60 days (the 30 days included)",
        expected_receipts_90d="the same within 90 days (the 60 days included)",
        expected_overdue_30d="overdue now, plus what falls due in 30 days: disputed in full, "
        "the rest times its late chance (the model's, else the past late share); empty when "
        "that chance is unknown",
    ),
}
_AFTER_SEGMENT = frozenset(_WORKLIST) - {"segment"}
_ROLLUP_MONEY = {
    "open_balance": "open balance of the customer and all its descendants",
    "overdue_balance": "overdue balance of the customer and all its descendants",
    "unapplied_credit": "unapplied credit of the customer and all its descendants",
}
_ROLLUP_AFTER_AGING = {
    "rollup_max_days_overdue": Column(
        Kind.INTEGER, "days past due of the oldest overdue invoice in the hierarchy below"
    ),
    **_columns(
        Kind.TEXT,
        rollup_risk_tier="the worst risk tier of the customer and all its descendants",
    ),
    "rollup_customer_count": Column(Kind.INTEGER, "the customer plus all its descendants"),
    **_columns(
        Kind.TEXT,
        rollup_worst_customer_id="the customer (itself or a descendant) with the worst tier",
    ),
}


def output_columns(settings: ScoringSettings) -> dict[str, Column]:
    """Every column of `score_accounts`' result, in order, aging buckets included."""
    buckets = {
        f"aging_{b.key}": Column(Kind.MONEY, f"open balance aged {b.label}")
        for b in settings.aging_buckets
    }
    rollup = {
        **{f"rollup_{name}": Column(Kind.MONEY, text) for name, text in _ROLLUP_MONEY.items()},
        **{
            f"rollup_aging_{b.key}": Column(
                Kind.MONEY, f"open balance aged {b.label}, with all descendants"
            )
            for b in settings.aging_buckets
        },
        **_ROLLUP_AFTER_AGING,
    }
    return {
        **_IDENTITY,
        **_BALANCES,
        **buckets,
        **_COUNTS,
        **_BEHAVIOUR,
        **_KPIS,
        **_FLAGS,
        **_HEALTH,
        **_CRM,
        **_WORKLIST,
        **_FORECAST,
        **rollup,
    }


def rule_columns(settings: ScoringSettings) -> dict[str, object]:
    """Validation context for the rules: the columns segment and playbook rules may test
    (those computed before them), and each column's kind."""
    registry = output_columns(settings)
    # The roll-up and the forecast are computed after the rules.
    columns = [c for c in registry if not c.startswith("rollup_") and c not in _FORECAST]
    return {
        "segment_columns": [c for c in columns if c not in _WORKLIST],
        "playbook_columns": [c for c in columns if c not in _AFTER_SEGMENT],
        "column_kinds": {name: column.kind.value for name, column in registry.items()},
    }
