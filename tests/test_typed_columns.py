"""The vectorised ways of typing a column (Arrow's date cast, its strptime with a check back,
its exact decimal cast) give what the one-cell parser gives, value and message, on any mix of
good, bad and edge cells: they are shortcuts, never a second set of rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from connector.erp.files.columns import _by_distinct_value, _parse
from connector.erp.files.mapping import Formats
from connector.erp.record_columns import CellFormats, ColumnSpec
from connector.erp.values import CellError, CellParser

SPEC = ColumnSpec(column="Cell")


def text_column(cells: list[str]) -> pd.Series:
    """Cells as the CSV reader hands them over: Arrow strings (pandas' ArrowDtype)."""
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array([pa.array(cells)])))


def assert_same_as_one_cell_parser(cells: list[str], target: type, formats: Formats) -> None:
    parser = CellParser(formats)
    column = text_column(cells)
    fast = _parse(column, target, SPEC, parser, formats)
    slow = _by_distinct_value(column, target, SPEC, parser)
    assert fast.values.dtype == slow.values.dtype
    assert fast.values.isna().tolist() == slow.values.isna().tolist()
    assert fast.values.dropna().tolist() == slow.values.dropna().tolist()
    assert [fast.error(i) for i in range(len(cells))] == [slow.error(i) for i in range(len(cells))]


def _digits(width: int) -> st.SearchStrategy[str]:
    return st.integers(0, 10**width - 1).map(lambda n: f"{n:0{width}d}")


_FIELD = st.one_of(_digits(2), st.integers(0, 99).map(str), st.sampled_from(["29", "30", "31"]))
_YEAR = st.one_of(_digits(4), st.sampled_from(["2024", "2025", "1900", "2000", "0000", "9999"]))
_OTHER = st.sampled_from(["", " ", "2025/01/05", "20250105", "+2025-01-05", "x", "2025-01-05T"])


@given(
    st.lists(
        st.one_of(st.builds(lambda y, m, d: f"{y}-{m}-{d}", _YEAR, _FIELD, _FIELD), _OTHER),
        min_size=1,
        max_size=30,
    )
)
def test_iso_dates_read_as_the_one_cell_parser_reads_them(cells: list[str]) -> None:
    assert_same_as_one_cell_parser(cells, dt.date, Formats())


@given(st.lists(st.one_of(st.dates().map(dt.date.isoformat), st.just("")), min_size=1))
def test_columns_of_real_dates_take_the_cast_and_read_the_same(cells: list[str]) -> None:
    assert_same_as_one_cell_parser(cells, dt.date, Formats())


@given(
    st.lists(
        st.one_of(
            st.builds(
                lambda y, mo, d, h, mi, s, z: f"{y}-{mo}-{d}T{h}:{mi}:{s}{z}",
                st.sampled_from(["2024", "2025", "1999"]),
                _FIELD,
                _FIELD,
                _FIELD,
                _FIELD,
                st.one_of(_FIELD, st.sampled_from(["60", "61", "00", "01"])),
                st.sampled_from(["+0000", "+0100", "-0530", "Z", "", "+00:00"]),
            ),
            _OTHER,
        ),
        min_size=1,
        max_size=30,
    )
)
def test_date_times_read_as_the_one_cell_parser_reads_them(cells: list[str]) -> None:
    assert_same_as_one_cell_parser(cells, dt.datetime, Formats())


_NUMBER = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.from_regex(r"\A[+-]?\d{0,16}(\.\d{0,6})?([eE][+-]?\d)?\Z"),
    st.sampled_from(["1,234.50", "5306,62", ".5", "5.", "-0", "+1", "1e3", "00012.3400"]),
)


@given(
    st.lists(st.one_of(st.decimals(-(10**13), 10**13, places=2).map(str), st.just("")), min_size=1)
)
def test_columns_of_plain_amounts_take_the_cast_and_read_the_same(cells: list[str]) -> None:
    assert_same_as_one_cell_parser(cells, Decimal, Formats())


@given(st.lists(st.one_of(_NUMBER, _OTHER), min_size=1, max_size=30))
# Found by this test: a per-value amount past 2**53 units beside a bad cell went through float.
@example(["\u0662000000000000.001", "1,234.50"])
def test_amounts_read_as_the_one_cell_parser_reads_them(cells: list[str]) -> None:
    assert_same_as_one_cell_parser(cells, Decimal, Formats())


@given(st.lists(st.one_of(_NUMBER, _OTHER), min_size=1, max_size=30))
def test_grouped_comma_decimal_amounts_read_as_the_one_cell_parser_reads_them(
    cells: list[str],
) -> None:
    formats = Formats(decimal_separator=",", thousands_separator=".")
    assert_same_as_one_cell_parser(cells, Decimal, formats)


def test_a_format_of_none_reads_every_iso_spelling_and_says_what_it_expected() -> None:
    """The SQL source's default (`formats.date: null`): text stamps are read as instants
    whatever ISO spelling the warehouse used, and a date cell is its midnight, UTC."""
    parser = CellParser(CellFormats(date=None, datetime=None))
    spec = ColumnSpec(column="AEDAT")
    six_pm = dt.datetime(2026, 6, 1, 18, tzinfo=dt.UTC)
    for text in ("2026-06-01 18:00:00", "2026-06-01T18:00:00Z", "2026-06-01T20:00:00+02:00"):
        assert parser.parse(text, dt.datetime, spec) == six_pm
    assert parser.parse("2026-06-01T23:30:00-05:00", dt.date, spec) == dt.date(2026, 6, 1)
    assert parser.parse(dt.date(2026, 6, 1), dt.datetime, spec) == six_pm.replace(hour=0)
    with pytest.raises(CellError, match=r"'01.06.2026' is not an ISO 8601 date \(2026-06-30\)"):
        parser.parse("01.06.2026", dt.date, spec)
