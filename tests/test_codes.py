"""arsync.codes, arsync.parallel, the Ledger's invoice rows and the allocator: the shortcuts
the 50,000-customer run takes give what the plain pandas spelling gives."""

from __future__ import annotations

import dataclasses
import itertools
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples
from ledger_strategies import consistent_ledgers

from arsync import parallel
from arsync.codes import as_str, equals_text, positions, shared_codes
from arsync.frames import records_to_frames
from arsync.ledger import LedgerBuilder
from arsync.records import CanonicalRecord
from jobs.allocator import tune_allocators, use_jemalloc

ids = st.one_of(st.text(alphabet="AC01-é ", min_size=0, max_size=4), st.none())
dtypes = st.sampled_from([object, "string", "string[pyarrow]", "str"])


@settings(max_examples=examples(100), deadline=None)
@given(columns=st.lists(st.lists(ids, max_size=12), min_size=1, max_size=4), dtype=dtypes)
def test_shared_codes_are_one_factorisation_in_order_of_first_appearance(
    columns: list[list[str | None]], dtype: object
) -> None:
    series = [pd.Series(column, dtype=dtype) for column in columns]

    coded = shared_codes(*series)

    joined = [value for column in columns for value in column]
    expected, _ = pd.factorize(pd.Series(joined, dtype=object), use_na_sentinel=True)
    assert [c.tolist() for c in coded] == [
        expected[a:b].tolist() for a, b in _bounds([len(c) for c in columns])
    ]


def test_codes_of_arrow_text_and_of_python_text_agree() -> None:
    arrow = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([["b", "a"], ["b", None]])))
    python = pd.Series(["b", "a", "b", None], dtype=object)

    assert [c.tolist() for c in shared_codes(arrow, python)] == [[0, 1, 0, -1], [0, 1, 0, -1]]


@settings(max_examples=examples(100), deadline=None)
@given(cells=st.lists(ids, max_size=12), text=st.sampled_from(["void", "", "A", "é"]), dtype=dtypes)
def test_equals_text_is_the_cell_by_cell_comparison(
    cells: list[str | None], text: str, dtype: object
) -> None:
    column = pd.Series(cells, dtype=dtype)

    assert equals_text(column, text).tolist() == [cell == text for cell in cells]


@settings(max_examples=examples(50), deadline=None)
@given(cells=st.lists(st.text(alphabet="AC01-é ", max_size=4), max_size=12), dtype=dtypes)
def test_as_str_is_the_column_a_frame_infers_from_the_objects(
    cells: list[str], dtype: object
) -> None:
    column = pd.Series(cells, dtype=dtype, index=range(5, 5 + len(cells)))

    made = pd.DataFrame({"id": as_str(column)})

    inferred = pd.DataFrame({"id": column.to_numpy()})
    pd.testing.assert_frame_equal(made, inferred)


def test_positions_find_rows_of_arrow_ids_among_python_ids() -> None:
    among = pd.Index(["C2", "C1", "C3"], dtype=object)
    keys = pd.Series(["C1", None, "C9", "C3"], dtype="string[pyarrow]")

    assert positions(among, keys).tolist() == [1, -1, -1, 2]


def test_parallel_work_comes_back_in_order_and_fails_as_one_after_the_other() -> None:
    items = list(range(6))

    assert parallel.each(lambda n: n * n, items, rows=parallel.WORTH_IT) == [0, 1, 4, 9, 16, 25]

    def fail_on_three(n: int) -> int:
        if n >= 3:
            raise ValueError(f"item {n}")
        return n

    with pytest.raises(ValueError, match="item 3"):
        parallel.each(fail_on_three, items, rows=parallel.WORTH_IT)


@settings(max_examples=examples(40), deadline=None)
@given(records=consistent_ledgers())
def test_the_builders_invoice_rows_are_those_found_by_id(records: list[CanonicalRecord]) -> None:
    builder = LedgerBuilder(currencies={"USD", "EUR"})
    located = [(record, f"r:{number}") for number, record in enumerate(records)]
    for frame in records_to_frames(located).values():
        builder.add_frame(frame)
    ledger = builder.build()

    given_rows = ledger.application_invoice_rows()
    # A copy without the builder's rows finds them by id, as any other Ledger would.
    found = dataclasses.replace(ledger).application_invoice_rows()

    assert given_rows.tolist() == found.tolist()
    invoice_ids = ledger.invoices["invoice_id"].to_numpy(dtype=object)
    assert [invoice_ids[row] for row in given_rows] == ledger.applications["invoice_id"].tolist()


def test_the_cli_allocator_is_jemalloc_where_pyarrow_has_it() -> None:
    name = use_jemalloc()

    assert name == pa.default_memory_pool().backend_name
    if _has_jemalloc():
        assert name == "jemalloc"


# 256 MiB of 4 MiB arrays, each followed on the heap by a small one that stays; after a
# 16 MiB array is mapped and freed, glibc's own threshold would put them on the heap.
_HOLES = """
import sys
import numpy as np
from jobs.allocator import fix_mmap_threshold
def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) // 1024 for l in status if l.startswith("VmRSS"))
fixed = fix_mmap_threshold() if sys.argv[1] == "fixed" else None
large = np.ones(2 << 20)
del large
before = rss()
blocks, kept = [], []
for _ in range(64):
    blocks.append(np.ones(1 << 19))
    kept.append(np.ones(1 << 10))
del blocks
print(fixed, rss() - before)
"""


def _left_resident(mode: str) -> tuple[str, int]:
    done = subprocess.run(  # noqa: S603 - this interpreter, this test's own script
        [sys.executable, "-c", _HOLES, mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    fixed, mib = done.stdout.split()
    return fixed, int(mib)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc"
)
def test_a_fixed_mmap_threshold_returns_freed_arrays_to_the_system() -> None:
    fixed, fixed_mib = _left_resident("fixed")
    default, default_mib = _left_resident("default")

    assert (fixed, default) == ("True", "None")
    assert fixed_mib <= 8  # the small arrays that stay: 0.5 MiB
    assert default_mib >= 200  # glibc's default keeps the holes: what the CLI's setting avoids


def test_tuning_both_allocators_names_arrows_pool() -> None:
    assert tune_allocators() == pa.default_memory_pool().backend_name


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


def _bounds(lengths: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(np.cumsum([0, *lengths])))
