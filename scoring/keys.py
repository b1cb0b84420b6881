"""Finding rows by id: where each key stands among unique values (see arsync.codes)."""

from __future__ import annotations

from arsync.codes import positions

__all__ = ["positions"]
