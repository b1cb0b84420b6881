"""The invoice amounts shown with their own currency: the display formulas, evaluated.

The formulas use a handful of Salesforce functions; this test gives each its documented meaning
(TEXT of a whole number has no separators, RIGHT takes the last characters, & joins text) and
evaluates the shipped formula text for amounts a rep will see.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import pytest
from sfdx import field_metadata


def _text(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else str(value)


_FUNCTIONS: dict[str, Any] = {
    "IF": lambda condition, then, otherwise: then if condition else otherwise,
    "ISBLANK": lambda value: value is None,
    "ABS": abs,
    "FLOOR": lambda value: Decimal(math.floor(value)),
    "ROUND": lambda value, places: round(Decimal(value), int(places)),
    "MOD": lambda value, divisor: Decimal(value) % Decimal(divisor),
    "TEXT": _text,
    "RIGHT": lambda text, count: text[-int(count) :],
}


def _evaluate(field: str, amount: str, currency: str) -> str:
    formula = field_metadata("AR_Invoice__c", field)["formula"]
    # Outside its "text literals", & joins text and every number is exact.
    parts = re.split(r'("[^"]*")', formula)
    source = "".join(
        part if part.startswith('"') else re.sub(r"\b(\d+)\b", r"Decimal('\1')", part)
        for part in parts
    ).replace("&", "+")
    names = {**_FUNCTIONS, "Decimal": Decimal, "Currency__c": currency}
    names[field.replace("_Display", "")] = Decimal(amount)
    return str(eval(source, {"__builtins__": {}}, names))  # noqa: S307 - our own formula text


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0", "EUR 0.00"),
        ("5", "EUR 5.00"),
        ("1234.56", "EUR 1,234.56"),
        ("1005.5", "EUR 1,005.50"),
        ("999999.99", "EUR 999,999.99"),
        ("1000000", "EUR 1,000,000.00"),
        ("20030004.07", "EUR 20,030,004.07"),
        ("1234567890123.45", "EUR 1,234,567,890,123.45"),
        ("-250.1", "EUR -250.10"),
    ],
)
@pytest.mark.parametrize("field", ["Open_Amount_Display__c", "Total_Amount_Display__c"])
def test_an_amount_is_shown_with_its_currency_and_separators(
    field: str, amount: str, shown: str
) -> None:
    assert _evaluate(field, amount, "EUR") == shown


def test_the_display_formulas_are_text_and_blank_without_an_amount() -> None:
    for field, source in (
        ("Open_Amount_Display__c", "Open_Amount__c"),
        ("Total_Amount_Display__c", "Total_Amount__c"),
    ):
        metadata = field_metadata("AR_Invoice__c", field)
        assert metadata["type"] == "Text"
        assert metadata["formula"].startswith(f'IF(ISBLANK({source}), "",')
        assert metadata["formulaTreatBlanksAs"] == "BlankAsBlank"
        assert "Currency__c" in metadata["formula"]
