"""The benchmarks' result tables, as Markdown a closing note can quote as printed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

Row = TypeVar("Row")
Column = tuple[str, int, Callable[[Row], str]]


def markdown_table(rows: Sequence[Row], columns: Sequence[Column[Row]]) -> str:
    """One line per row; the first column left-aligned, the figures right-aligned."""
    lines = [
        "| " + " | ".join(name.ljust(width) for name, width, _ in columns) + " |",
        "|" + "|".join("-" * (width + 2) for _, width, _ in columns) + "|",
    ]
    for row in rows:
        cells = [
            cell(row).rjust(width) if index else cell(row).ljust(width)
            for index, (_, width, cell) in enumerate(columns)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
