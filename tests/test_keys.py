"""arsync.codes.positions gives what pd.Index.get_indexer gives, for every kind of id column."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples

from arsync.codes import positions

ids = st.text(alphabet="AC01-", min_size=1, max_size=4)


@settings(max_examples=examples(100), deadline=None)
@given(
    among=st.lists(ids, unique=True, max_size=12),
    keys=st.lists(st.one_of(ids, st.none()), max_size=20),
    dtype=st.sampled_from([object, "string", "string[pyarrow]"]),
)
def test_positions_are_those_of_get_indexer(
    among: list[str], keys: list[str | None], dtype: object
) -> None:
    index = pd.Index(among, dtype=dtype)
    lookups = pd.Series(keys, dtype=dtype)

    found = positions(index, lookups)

    expected = pd.Index(among, dtype=object).get_indexer(pd.Index(keys, dtype=object))
    assert found.tolist() == expected.tolist()


def test_nothing_to_find_and_nowhere_to_look() -> None:
    assert positions(pd.Index([], dtype=object), pd.Series(["C1"])).tolist() == [-1]
    assert positions(pd.Index(["C1"]), pd.Series([], dtype=object)).tolist() == []
