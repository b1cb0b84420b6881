"""Records kept aside with the reason, so nothing bad is scored and nothing is silently lost."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path

from arsync.csv_safety import safe_value


class Action(StrEnum):
    REJECTED = "rejected"  # left out of scoring
    CORRECTED = "corrected"  # kept, with the named field cleared
    REPORTED = "reported"  # kept in the ledger as it is, reported so the user knows


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One record that broke a rule: which record, where it came from, and why."""

    record_type: str
    record_id: str | None
    location: str
    rule: str
    reason: str
    action: Action = Action.REJECTED


class Quarantine:
    """Collects entries in the order they were found; a run with any entry is partial."""

    def __init__(self) -> None:
        self._entries: list[QuarantineEntry] = []

    def add(self, entry: QuarantineEntry) -> None:
        self._entries.append(entry)

    def extend(self, entries: Iterable[QuarantineEntry]) -> None:
        self._entries.extend(entries)

    def __iter__(self) -> Iterator[QuarantineEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def sort(self, key: Callable[[QuarantineEntry], tuple[int, int]]) -> None:
        """Put the entries in `key` order (stable: entries of one key keep theirs)."""
        self._entries.sort(key=key)

    def kept_aside(self) -> int:
        """Entries for records left out or corrected, not those only reported (kept as they
        are): these make a run partial."""
        return sum(1 for e in self._entries if e.action is not Action.REPORTED)

    def rejected_ids(self, record_type: str) -> set[str]:
        return {
            e.record_id
            for e in self._entries
            if e.record_type == record_type and e.action is Action.REJECTED and e.record_id
        }

    def counts_by_rule(self) -> dict[str, int]:
        return dict(Counter(e.rule for e in self._entries))

    def write_csv(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, [f.name for f in fields(QuarantineEntry)])
            writer.writeheader()
            # safe_value: reasons quote ERP text, which must not run as a formula.
            writer.writerows(
                {key: safe_value(value) for key, value in asdict(e).items()} for e in self._entries
            )
