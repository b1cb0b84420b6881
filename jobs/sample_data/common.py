"""Array helpers shared by the sample-data modules: day numbers, weighted draws, id strings.

Everything works on whole numpy arrays so that two million invoices cost a few array passes,
not two million Python iterations.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]
CodeArray = npt.NDArray[np.uint32]

_EPOCH = dt.date(1970, 1, 1)
FRIDAY = 4  # weekday() of the last business day


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01, so that date arithmetic is integer arithmetic on arrays."""
    return (day - _EPOCH).days


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` earlier, clamped to that month's last day."""
    index = day.year * 12 + day.month - 1 - months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def weekday(days: IntArray) -> IntArray:
    """Monday 0 .. Sunday 6; 1970-01-01 was a Thursday."""
    return (days + 3) % 7


def to_business_day(days: IntArray, floor: IntArray | int) -> IntArray:
    """Weekend days move back to Friday, not below floor: ERPs rarely date documents Sundays."""
    return np.maximum(days - np.maximum(weekday(days) - FRIDAY, 0), floor)


def allocate(rng: np.random.Generator, n: int, shares: Sequence[float]) -> IntArray:
    """Labels in exact proportion to `shares`, shuffled.

    Largest-remainder rounding guarantees every share with n * share >= 1 appears, so a small
    ledger still holds every kind of customer, whatever the seed.
    """
    weights = np.asarray(shares, dtype=np.float64)
    raw = weights * n / weights.sum()
    counts = np.floor(raw).astype(np.int64)
    short = n - int(counts.sum())
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:short]] += 1
    labels = np.repeat(np.arange(len(weights), dtype=np.int64), counts)
    return rng.permutation(labels)


def choose(rng: np.random.Generator, n: int, weights: Sequence[float]) -> IntArray:
    """n indices drawn with the given (unnormalised) weights."""
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)


def labels(table: Sequence[str | None], index: IntArray) -> ObjArray:
    """Strings for label indices; every row with the same label shares one str object."""
    return np.array(list(table), dtype=object)[index]


def digit_codes(numbers: IntArray, width: int) -> CodeArray:
    """Zero-padded decimal digits of each number as character codes, one row per number."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    codes: CodeArray = ((numbers[:, None] // powers) % 10 + ord("0")).astype(np.uint32)
    return codes


def constant_codes(text: str, rows: int) -> CodeArray:
    """The same text in every row, as character codes."""
    codes = np.array([ord(char) for char in text], dtype=np.uint32)
    return np.broadcast_to(codes, (rows, len(text)))


def join_codes(parts: Sequence[CodeArray]) -> ObjArray:
    """Concatenate character-code columns into one Python str per row, without a row loop."""
    codes = np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.uint32)
    rows, width = codes.shape
    if width == 0:
        return np.full(rows, "", dtype=object)
    text: npt.NDArray[np.str_] = codes.view(f"<U{width}").reshape(rows)
    return text.astype(object)


def format_ids(prefix: str, numbers: IntArray, width: int) -> ObjArray:
    """`prefix` + zero-padded numbers, e.g. INV-000123."""
    return join_codes([constant_codes(prefix, len(numbers)), digit_codes(numbers, width)])


def id_width(count: int, minimum: int) -> int:
    """Digits needed for `count` ids, never fewer than the house style's minimum."""
    return max(minimum, len(str(count)))


def group_starts(*keys: IntArray) -> BoolArray:
    """True where a run of equal keys begins, for arrays already sorted by those keys."""
    size = len(keys[0]) if keys else 0
    new = np.zeros(size, dtype=np.bool_)
    new[:1] = True
    for key in keys:
        new[1:] |= key[1:] != key[:-1]
    return new
