"""The shared base of every ERP source: a few declared attributes and one `pull` method."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from arsync.quarantine import QuarantineEntry
from arsync.records import CanonicalRecord


@dataclass(frozen=True, slots=True)
class Pulled:
    """A record and where it came from; `part_locations` align with its applications."""

    record: CanonicalRecord
    location: str
    part_locations: tuple[str, ...] = ()


PulledItem = Pulled | QuarantineEntry


class Source(ABC):
    """Yields canonical records, or quarantine entries for what it could not read.

    A source checks only what one record can tell; the ledger-wide rules are applied to every
    source alike by `arsync.ledger.LedgerBuilder`.
    """

    name: ClassVar[str]

    @abstractmethod
    def pull(self) -> Iterator[PulledItem]:
        """Every record of the ledger, in any order."""

    @abstractmethod
    def data_as_of(self) -> dt.datetime | None:
        """When the ERP data was current, if the source knows; None if it does not."""
