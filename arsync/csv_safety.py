"""Cells of the CSV files written for people, made safe to open in a spreadsheet.

ERP text such as a customer name reaches out/*.csv as it is. A cell that begins with `=`, `+`,
`-`, `@`, a tab or a carriage return is read by Excel, LibreOffice and Google Sheets as a
formula (CSV injection), so such a cell gets a leading apostrophe, as OWASP advises: the
spreadsheet then shows the text and runs nothing.

Two choices:

- Only text is touched. A value held as a number (an int, float or bool column, or a number in
  a mixed column) cannot be a formula and is written as it is.
- Text that is wholly a plain decimal number, such as "-14659.82" in plan.csv's mixed
  current/value columns, is left alone too: it is not a formula, and finance reads it as a
  number. "-1+2", "-1e5x" or "-inf" are not plain numbers and get the apostrophe.

Not for the Bulk API upload to Salesforce: that CSV is data for Salesforce, not a file for a
person, and an apostrophe there would land in the field.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The two rules as patterns: arsync.frame_csv applies them in Arrow (RE2) as well.
FORMULA_START = "^[=+\\-@\t\r]"
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def safe_cell(value: str) -> str:
    """`value` with a leading apostrophe if a spreadsheet would read it as a formula."""
    if value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_value(value: object) -> object:
    """Any cell for csv.writer: text made safe, everything else (numbers, None) as it is."""
    return safe_cell(value) if isinstance(value, str) else value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` for `to_csv`, every text cell and column name made safe.

    Number, bool and datetime columns are not looked at; in any other column (object, string,
    category) each str cell goes through `safe_cell` and other cells stay as they are.
    """
    safe = frame.copy()
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        dtype = column.dtype
        if (
            types.is_numeric_dtype(dtype)
            or types.is_bool_dtype(dtype)
            or types.is_datetime64_any_dtype(dtype)
            or types.is_timedelta64_dtype(dtype)
        ):
            continue
        cells = column.astype(object).to_numpy(dtype=object)
        risky = risky_cells(cells)
        if risky.any():
            cells = cells.copy()
            cells[risky] = [safe_cell(cell) for cell in cells[risky]]
            safe.isetitem(position, cells)
    safe.columns = pd.Index([safe_value(name) for name in safe.columns])
    return safe


def risky_cells(cells: np.ndarray) -> np.ndarray:
    """Which cells are text that starts with a formula character, checked at C speed (only
    those few then go through `safe_cell`). A column of text and missing values is read as
    Arrow strings at once; a mixed one (numbers among the text) is sorted cell by cell."""
    try:
        text = pa.array(cells, type=pa.string(), from_pandas=True)
        present = np.ones(len(cells), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        present = np.fromiter((type(cell) is str for cell in cells), dtype=bool, count=len(cells))
        text = pa.array(cells[present], type=pa.string())
    starts = pc.fill_null(pc.match_substring_regex(text, FORMULA_START), False)
    hits = np.asarray(starts.to_numpy(zero_copy_only=False), dtype=bool)
    risky = np.zeros(len(cells), dtype=bool)
    risky[np.flatnonzero(present)[hits]] = True
    return risky
