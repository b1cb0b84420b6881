"""A payment method's name, as an ERP company names it, as a canonical method: one word list
for every source, matched on whole words (so "Cash (left at the desk)" is not an EFT)."""

from __future__ import annotations

import re

from arsync.records import PaymentMethod

_WORDS: tuple[tuple[tuple[str, ...], PaymentMethod], ...] = (
    (("check", "cheque"), PaymentMethod.CHECK),
    (
        ("ach", "eft", "bacs", "sepa", "giro", "direct debit", "bank transfer"),
        PaymentMethod.ACH,
    ),
    (("wire", "swift"), PaymentMethod.WIRE),
    (
        ("card", "visa", "mastercard", "master card", "amex", "american express", "discover"),
        PaymentMethod.CARD,
    ),
)
_PATTERNS = tuple(
    (re.compile(r"\b(?:" + "|".join(re.escape(key) for key in keys) + r")\b"), method)
    for keys, method in _WORDS
)


def method_named(name: str) -> PaymentMethod:
    """The method a name says, by the usual words in English; OTHER when it says none."""
    words = " ".join(re.split(r"[\s\-_/]+", name.casefold()))
    for pattern, method in _PATTERNS:
        if pattern.search(words):
            return method
    return PaymentMethod.OTHER


def optional_method(name: str | None) -> PaymentMethod | None:
    """The method a name says; None when the ERP names none (an empty method)."""
    return None if name is None else method_named(name)
