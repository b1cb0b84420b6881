"""The fast CSV writer writes the very bytes of `safe_frame(frame).to_csv(path, index=False)`:
random frames of every dtype the outputs hold, then the cases that decide a byte by hand."""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_budget import examples

from arsync.csv_safety import safe_frame
from arsync.frame_csv import write_safe_csv

# Characters that decide quoting and the formula apostrophe, and text a CSV holds as a number.
SPECIAL = [",", '"', "\n", "\r", "\t", "=", "+", "-", "@", "'", " ", ".", "e", "1", "é", "日", "😀"]
PLAIN_NUMBERS = ["-14659.82", "+1", "-1e5", ".5", "-0", "1.", "-1+2", "-1e5x", "-inf", "=1"]
texts = st.one_of(
    st.text(
        st.one_of(st.sampled_from(SPECIAL), st.characters(exclude_categories=["Cs"])), max_size=6
    ),
    st.sampled_from(PLAIN_NUMBERS),
)
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**7), 10**7).map(lambda cents: cents / 100),
    st.sampled_from([0.0, -0.0, 1e-4, 9.99e-5, 1e10, 9999999999.999998, 1e16, 5e-324]),
)
# Naive on purpose: a zone is put on some columns afterwards.
moments = st.datetimes(
    min_value=pd.Timestamp("1900-01-01").to_pydatetime(),
    max_value=pd.Timestamp("2200-01-01").to_pydatetime(),
)
midnights = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1)).map(
    lambda day: dt.datetime.combine(day, dt.time())
)
mixed_cells = st.one_of(
    texts,
    floats,
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.just(math.nan),
    st.just(pd.NA),
    st.dates(),
    moments,
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.just(Decimal("NaN")),
    floats.map(np.float64),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
)


def maybe_missing(cells: st.SearchStrategy[object], missing: object) -> st.SearchStrategy[object]:
    return st.one_of(cells, cells, cells, st.just(missing))


def _datetimes(values: list[dt.datetime | None], dtype: str, tz: str | None) -> pd.Series:
    series = pd.Series(pd.to_datetime(values)).astype(dtype)
    return series.dt.tz_localize("UTC").dt.tz_convert(tz) if tz else series


ColumnMaker = Callable[[st.DrawFn, int], pd.Series]
COLUMNS: dict[str, ColumnMaker] = {
    "float64": lambda draw, n: pd.Series(draw(st.lists(floats, min_size=n, max_size=n))),
    "float32": lambda draw, n: pd.Series(
        draw(st.lists(st.floats(width=32), min_size=n, max_size=n)), dtype=np.float32
    ),
    "int64": lambda draw, n: pd.Series(
        draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n)), dtype=np.int64
    ),
    "uint8": lambda draw, n: pd.Series(
        draw(st.lists(st.integers(0, 255), min_size=n, max_size=n)), dtype=np.uint8
    ),
    "bool": lambda draw, n: pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n))),
    "Int64": lambda draw, n: pd.Series(
        draw(
            st.lists(maybe_missing(st.integers(-(2**63), 2**63 - 1), None), min_size=n, max_size=n)
        ),
        dtype="Int64",
    ),
    "boolean": lambda draw, n: pd.Series(
        draw(st.lists(maybe_missing(st.booleans(), None), min_size=n, max_size=n)),
        dtype="boolean",
    ),
    "Float64": lambda draw, n: pd.Series(
        draw(st.lists(maybe_missing(floats, None), min_size=n, max_size=n)), dtype="Float64"
    ),
    "str": lambda draw, n: pd.Series(
        draw(st.lists(maybe_missing(texts, None), min_size=n, max_size=n)), dtype="str"
    ),
    "string": lambda draw, n: pd.Series(
        draw(st.lists(maybe_missing(texts, None), min_size=n, max_size=n)), dtype="string"
    ),
    "string[python]": lambda draw, n: pd.Series(
        draw(st.lists(maybe_missing(texts, None), min_size=n, max_size=n)),
        dtype="string[python]",
    ),
    "object text": lambda draw, n: pd.Series(
        draw(
            st.lists(
                maybe_missing(texts, draw(st.sampled_from([None, math.nan]))),
                min_size=n,
                max_size=n,
            )
        ),
        dtype=object,
    ),
    "object mixed": lambda draw, n: pd.Series(
        draw(st.lists(mixed_cells, min_size=n, max_size=n)), dtype=object
    ),
    "object numpy text": lambda draw, n: pd.Series(
        [np.str_(cell) for cell in draw(st.lists(texts, min_size=n, max_size=n))], dtype=object
    ),
    "category": lambda draw, n: pd.Series(
        draw(st.lists(maybe_missing(texts, None), min_size=n, max_size=n)), dtype="category"
    ),
    "datetime": lambda draw, n: _datetimes(
        draw(
            st.lists(
                maybe_missing(draw(st.sampled_from([moments, midnights])), None),
                min_size=n,
                max_size=n,
            )
        ),
        draw(st.sampled_from(["datetime64[ns]", "datetime64[us]", "datetime64[s]"])),
        draw(st.sampled_from([None, None, "UTC", "Europe/Berlin"])),
    ),
    "timedelta": lambda draw, n: pd.Series(
        pd.to_timedelta(
            draw(
                st.lists(
                    maybe_missing(st.integers(-(10**15), 10**15), None), min_size=n, max_size=n
                )
            ),
            unit="us",
        )
    ),
}


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """2 to 5 columns of 1 to 10 rows (sometimes three times over), each of any dtype, under
    names that may need the apostrophe or quotes themselves, on an index that is not 0..n-1."""
    rows = draw(st.integers(1, 10))
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=2, max_size=5))
    names = draw(
        st.lists(st.one_of(texts, st.integers(-5, 5)), min_size=len(kinds), max_size=len(kinds))
    )
    columns = [COLUMNS[kind](draw, rows).reset_index(drop=True) for kind in kinds]
    frame = pd.concat(columns, axis=1, ignore_index=True)
    frame.columns = pd.Index(names)
    frame.index = pd.Index(draw(st.permutations(range(10, 10 + rows))))
    # Repeated rows: distinct values are formatted once, then spread back over the rows.
    return pd.concat([frame] * draw(st.sampled_from([1, 1, 3])))


def written(frame: pd.DataFrame) -> tuple[bytes, bytes]:
    """The bytes of the old way and of `write_safe_csv`."""
    with tempfile.TemporaryDirectory() as folder:
        old, new = Path(folder) / "old.csv", Path(folder) / "new.csv"
        safe_frame(frame).to_csv(old, index=False)
        write_safe_csv(frame, new)
        return old.read_bytes(), new.read_bytes()


@settings(max_examples=examples(150))
@given(frames())
def test_bytes_are_those_of_safe_frame_to_csv(frame: pd.DataFrame) -> None:
    old, new = written(frame)
    assert new == old


def test_text_is_quoted_and_made_safe_as_the_csv_module_and_safe_frame_do() -> None:
    frame = pd.DataFrame(
        {
            "=name": ["=1+1", "-14659.82", 'say "hi"', "a,b", "two\nlines", "cr\ronly", "", None],
            "n": range(8),
        }
    )
    expected = (
        '\'=name,n\n\'=1+1,0\n-14659.82,1\n"say ""hi""",2\n"a,b",3\n'
        '"two\nlines",4\ncr\ronly,5\n,6\n,7\n'
    )
    old, new = written(frame)
    assert new == old == expected.encode()


def test_a_mixed_column_writes_each_cell_as_its_own_type() -> None:
    """1, 1.0 and True are equal keys; each is still written as itself, and no number or
    plain-number text gets the apostrophe."""
    cells = [1, 1.0, True, "1", None, math.nan, dt.date(2026, 1, 2), Decimal("1.10"), -2.5, "-2.5"]
    cells += ["-x", np.float64(0.1), 10**20, 1e16]
    frame = pd.DataFrame({"value": pd.Series(cells, dtype=object), "k": "x"})
    lines = ["1", "1.0", "True", "1", "", "", "2026-01-02", "1.10", "-2.5", "-2.5", "'-x", "0.1"]
    lines += ["100000000000000000000", "1e+16"]
    old, new = written(frame)
    assert new == old == ("value,k\n" + "".join(f"{line},x\n" for line in lines)).encode()


def test_numbers_booleans_and_missing_values() -> None:
    frame = pd.DataFrame(
        {
            "f": [0.0, -0.0, 5.0, 0.1, 1e-5, 1e10, math.nan, math.inf],
            "i": pd.array([1, None, -3, 4, 5, 6, 7, 2**63 - 1], dtype="Int64"),
            "b": [True, False] * 4,
            "nb": pd.array([True, None, False, None, True, True, True, True], dtype="boolean"),
        }
    )
    expected = [
        "0.0,1,True,True",
        "-0.0,,False,",
        "5.0,-3,True,False",
        "0.1,4,False,",
        "1e-05,5,True,True",
        "10000000000.0,6,False,True",
        ",7,True,True",
        "inf,9223372036854775807,False,True",
    ]
    old, new = written(frame)
    assert new == old == ("f,i,b,nb\n" + "".join(f"{line}\n" for line in expected)).encode()


def test_datetimes_are_dates_only_when_every_value_is_midnight() -> None:
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-11-20", None, "2026-11-21"]),
            "stamp": pd.to_datetime(["2026-11-20", "2026-11-20 23:00", None], format="ISO8601"),
            "utc": pd.to_datetime(
                ["2026-11-20 23:00", "2026-11-21", None], format="ISO8601"
            ).tz_localize("UTC"),
        }
    )
    expected = (
        "day,stamp,utc\n"
        "2026-11-20,2026-11-20 00:00:00,2026-11-20 23:00:00+00:00\n"
        ",2026-11-20 23:00:00,2026-11-21 00:00:00+00:00\n"
        "2026-11-21,,\n"
    )
    old, new = written(frame)
    assert new == old == expected.encode()


@pytest.mark.parametrize("same_in_every_chunk", [True, False])
def test_datetimes_follow_pandas_chunk_by_chunk(same_in_every_chunk: bool) -> None:
    """to_csv formats datetimes per chunk of 100_000 // columns rows: with 500 columns, rows
    0-199 are one chunk. A chunk of midnights is written as dates, and one microsecond in a
    chunk gives all its values six decimals, while the other chunks keep theirs."""
    rows = 450
    midnights = pd.Series(pd.date_range("2026-01-01", periods=rows, freq="D"))
    evenings = midnights + pd.Timedelta(hours=23)
    precise = evenings.copy()
    if same_in_every_chunk:
        naive = evenings
        precise[[5, 250, 420]] += pd.Timedelta(microseconds=1)
    else:
        naive = pd.concat([midnights[:200], evenings[200:]], ignore_index=True)
        precise[250] += pd.Timedelta(microseconds=1)
    columns = {"naive": naive, "zoned": precise.dt.tz_localize("Europe/Berlin"), "nat": naive}
    columns["nat"] = naive.where(np.arange(rows) >= 200)  # chunk 0 holds only NaT
    frame = pd.DataFrame(columns | {f"n{i}": np.arange(rows) for i in range(497)})

    old, new = written(frame)

    assert new == old
    lines = old.decode().splitlines()
    if not same_in_every_chunk:
        assert lines[1].startswith("2026-01-01,")
        assert lines[201].startswith("2026-07-20 23:00:00,")
        assert ".000000+0" not in lines[1]
        assert ".000000+0" in lines[201]


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"only": ["", "=x", None]}),
        pd.DataFrame({"a": pd.Series([], dtype=object), "b": pd.Series([], dtype=float)}),
        pd.DataFrame({"text": pd.Categorical(["a\nb", "=c"]), "n": [1, 2]}),
    ],
    ids=["one column", "no rows", "line break in a column pandas renders"],
)
def test_frames_pandas_writes_whole_are_written_the_same(frame: pd.DataFrame) -> None:
    old, new = written(frame)
    assert new == old
