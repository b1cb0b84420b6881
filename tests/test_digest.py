"""arsync.digest: a frame's digest follows its values, not how its columns sit in memory."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa

from arsync.digest import frames_digest
from arsync.ledger import Ledger


def _text(chunks: list[list[str | None]]) -> pd.Series:
    arrow = pa.chunked_array([pa.array(chunk, type=pa.large_string()) for chunk in chunks])
    return pd.Series(pd.arrays.ArrowStringArray(arrow))


def _frame(ids: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ids,
            "amount": np.arange(len(ids), dtype="int64"),
            "limit": pd.array([1, None, 3, 4][: len(ids)], dtype="Int64"),
            "day": pd.to_datetime(["2026-01-01"] * len(ids)),
        }
    )


def _digest(frame: pd.DataFrame) -> str:
    return frames_digest([("invoices", frame)])


def test_equal_values_cut_into_other_chunks_or_offsets_give_the_same_digest() -> None:
    one_chunk = _frame(_text([["I1", "I2", None, "I44"]]))
    two_chunks = _frame(_text([["I1"], ["I2", None, "I44"]]))
    sliced = _frame(_text([["X", "I1", "I2", None, "I44"]]).iloc[1:].reset_index(drop=True))
    small_offsets = _frame(pd.Series(["I1", "I2", None, "I44"], dtype="string[pyarrow]"))

    assert _digest(one_chunk) == _digest(two_chunks) == _digest(sliced) == _digest(small_offsets)


def test_a_changed_value_a_missing_cell_or_a_renamed_column_changes_the_digest() -> None:
    base = _digest(_frame(_text([["I1", "I2", "I3", "I44"]])))
    changed = _digest(_frame(_text([["I1", "I2", "I3", "I45"]])))
    missing = _digest(_frame(_text([["I1", "I2", None, "I44"]])))
    empty = _digest(_frame(_text([["I1", "I2", "", "I44"]])))
    moved = _digest(_frame(_text([["I1", "I2", "I34", "4"]])))  # the same bytes, cut elsewhere
    renamed = _digest(_frame(_text([["I1", "I2", "I3", "I44"]])).rename(columns={"id": "key"}))
    limit = _frame(_text([["I1", "I2", "I3", "I44"]]))
    limit["limit"] = pd.array([1, 2, 3, 4], dtype="Int64")

    digests = [base, changed, missing, empty, moved, renamed, _digest(limit)]
    assert len(set(digests)) == len(digests)


def test_a_ledger_fingerprint_is_its_frames_and_changes_with_any_of_them() -> None:
    ledger = Ledger.empty()
    again = Ledger.empty()
    invoices = ledger.invoices.copy()
    grown = dataclasses.replace(ledger, customers=ledger.customers.iloc[:0].copy())

    assert ledger.fingerprint() == again.fingerprint()
    assert grown.fingerprint() == ledger.fingerprint()  # no rows either way
    other = dataclasses.replace(ledger, invoices=invoices.rename(columns={"number": "no"}))
    assert other.fingerprint() != ledger.fingerprint()
