"""Counts in words, shared by the run's messages, the CLI and the report: '1 account',
'3 accounts'. Here, not in the report, so that the run's modules never import the report."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 account', '3 accounts', '0 accounts', with thousands separators."""
    form = word if abs(count) == 1 else (many or f"{word}s")
    return f"{count:,} {form}"
