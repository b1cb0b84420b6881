"""One word list for the payment methods every ERP names in its own way."""

from __future__ import annotations

import pytest

from arsync.records import PaymentMethod
from connector.erp.payment_methods import method_named, optional_method
from connector.erp.quickbooks import mapping as quickbooks


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("Cheque", PaymentMethod.CHECK),
        ("BACS", PaymentMethod.ACH),
        ("SEPA direct-debit", PaymentMethod.ACH),
        ("Bank Transfer", PaymentMethod.ACH),
        ("Wire (SWIFT)", PaymentMethod.WIRE),
        ("MasterCard", PaymentMethod.CARD),
        ("Discover", PaymentMethod.CARD),
        # Whole words only: these name no method arsync knows.
        ("Cash (left at the desk)", PaymentMethod.OTHER),
        ("Coach voucher", PaymentMethod.OTHER),
        ("Postmaster credit", PaymentMethod.OTHER),
    ],
)
def test_every_source_reads_a_method_name_the_same_way(name: str, method: PaymentMethod) -> None:
    assert method_named(name) is method
    assert optional_method(name) is method  # Business Central's and NetSuite's
    assert quickbooks.payment_method({"Name": name, "Type": "NON_CREDIT_CARD"}, {}) is method


def test_a_method_left_empty_is_none() -> None:
    assert optional_method(None) is None
