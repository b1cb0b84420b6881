"""The optional records arsync keeps beside the Account: open invoices and next-action Tasks.

Both are off by default; the `invoices:` and `tasks:` sections of the CRM mapping turn them
on and say which object and fields they use.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from arsync.shaping import SalesforceName, Strict, ValueShape, known_column

#: The columns of an invoice line (`scoring.invoices.invoice_lines`), for the invoice mapping.
INVOICE_COLUMNS = {
    "invoice_id": "the ERP invoice id (the external id)",
    "number": "the invoice number people see",
    "customer_id": "the ERP customer id",
    "issue_date": "the date the invoice was issued",
    "due_date": "the date it is due",
    "currency": "ISO code of the invoice's amounts",
    "total": "the invoice total, in its currency",
    "open_amount": "what is still open, in its currency (0 once paid, void or removed)",
    "days_overdue": "days past due on the as-of date (0 when not due or not open)",
    "expected_pay_date": "when an open invoice is expected to be paid, by the customer's habit "
    "(empty when not open, or disputed)",
    "disputed": "the invoice is disputed",
    "dispute_reason": "why, as the ERP says",
    "status": "open, paid, void, or removed (no longer in the ERP)",
}
UserId = Annotated[str, StringConstraints(pattern=r"^005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")]


class InvoiceField(ValueShape):
    """One field of the invoice object, fed by one invoice column."""

    @field_validator("source")
    @classmethod
    def _known_column(cls, column: str) -> str:
        return known_column(column, INVOICE_COLUMNS)


def _field(source: str, **shape: object) -> InvoiceField:
    return InvoiceField.model_validate({"from": source, **shape})


DEFAULT_INVOICE_FIELDS = {
    "Name": _field("number", max_length=80),
    "Issue_Date__c": _field("issue_date"),
    "Due_Date__c": _field("due_date"),
    "Currency__c": _field("currency"),
    "Total_Amount__c": _field("total"),
    "Open_Amount__c": _field("open_amount"),
    "Disputed__c": _field("disputed"),
    "Dispute_Reason__c": _field("dispute_reason", max_length=255),
    "Status__c": _field(
        "status", values={"open": "Open", "paid": "Paid", "void": "Void", "removed": "Removed"}
    ),
}


class InvoiceSync(Strict):
    """Open invoices of each matched Account, upserted on the ERP invoice id.

    Only open invoices are created; a record already in Salesforce is updated when its
    invoice is paid, voided or gone from the ERP, so it never stays open by mistake.
    """

    enabled: bool = False
    object: SalesforceName = "AR_Invoice__c"
    external_id_field: SalesforceName = Field(
        default="ERP_Invoice_Id__c", description="external id field holding the ERP invoice id"
    )
    account_field: SalesforceName = Field(
        default="Account__c", description="the lookup to the Account"
    )
    fields: dict[SalesforceName, InvoiceField] = Field(
        default_factory=lambda: dict(DEFAULT_INVOICE_FIELDS), min_length=1
    )

    @model_validator(mode="after")
    def _keys_not_mapped(self) -> InvoiceSync:
        reserved = sorted({"Id", self.external_id_field, self.account_field} & set(self.fields))
        if reserved:
            raise ValueError(f"{', '.join(reserved)} is set by arsync itself, not mapped")
        return self


class TaskSync(Strict):
    """One open Task per Account for its next action, created, updated and closed by arsync.

    arsync finds its Tasks by the marker checkbox, so it never touches a person's own Tasks;
    it sets the owner when it creates a Task and leaves a person's reassignment alone.
    """

    enabled: bool = False
    marker_field: SalesforceName = Field(
        default="AR_Sync_Task__c", description="Task checkbox marking arsync's own Tasks"
    )
    owner: Literal["account_owner"] | UserId = Field(
        default="account_owner",
        description="account_owner, or the User Id of a collector who gets every Task",
    )
    subject_prefix: str = Field(default="AR: ", max_length=40)
    open_status: str = "Not Started"
    closed_status: str = Field(
        default="Completed", description="the Status that closes a Task no longer needed"
    )
    priorities: dict[str, str] = Field(
        default_factory=lambda: {
            "critical": "High",
            "high": "High",
            "medium": "Normal",
            "low": "Low",
        },
        description="risk tier -> Task Priority",
    )
