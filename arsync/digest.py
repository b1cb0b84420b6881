"""A digest of frames' values read from their memory, not value by value.

`pd.util.hash_pandas_object` hashes Arrow text as Python objects: a 50,000-customer ledger's
five frames (2 M invoices, 1.6 M payments, 1.8 M applications) took 5.9 s, where reading the
same columns' bytes takes 0.9. Equal values give equal digests whatever their chunks or
offsets; a change of a value, a missing cell, a column's name, order or dtype, or a row's
order changes it. Columns of other dtypes (objects, Arrow numbers) are hashed by pandas.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def frames_digest(frames: Iterable[tuple[str, pd.DataFrame]]) -> str:
    """The hex digest of the named frames, in order: names, columns, dtypes and values."""
    digest = hashlib.blake2b(digest_size=32)
    for name, frame in frames:
        digest.update(f"{name}|{len(frame)}|{','.join(map(str, frame.columns))}|".encode())
        for column in frame.columns:
            values = frame[column]
            digest.update(f"{values.dtype}|".encode())
            for part in _column_bytes(values):
                digest.update(part)
    return digest.hexdigest()


def _column_bytes(values: pd.Series) -> list[bytes | memoryview]:
    chunks = _arrow_text(values)
    if chunks is not None:
        return _text_bytes(chunks)
    dtype = values.dtype
    numpy_dtype = getattr(dtype, "numpy_dtype", None)  # pandas' Int64, boolean, Float64
    if numpy_dtype is not None and not isinstance(dtype, pd.ArrowDtype):
        numbers = values.to_numpy(dtype=numpy_dtype, na_value=0)
        return [np.ascontiguousarray(numbers).tobytes(), values.isna().to_numpy().tobytes()]
    if isinstance(dtype, np.dtype) and dtype != np.object_:
        return [np.ascontiguousarray(values.to_numpy()).tobytes()]
    return [pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes()]


def _text_bytes(chunks: list[pa.Array]) -> list[bytes | memoryview]:
    """Every cell's length in bytes, then the cells' bytes, then the rows of missing cells:
    the same stream of bytes however the column is cut into chunks."""
    lengths: list[bytes | memoryview] = []
    cells: list[bytes | memoryview] = []
    missing: list[bytes | memoryview] = [b"|missing|"]
    row = 0
    for chunk in chunks:
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)
        offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1]
        data = chunk.buffers()[2]
        lengths.append(np.diff(offsets).astype(np.int64).tobytes())
        if data is not None and len(offsets):
            cells.append(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
        if chunk.null_count:
            nulls = np.asarray(pc.is_null(chunk).to_numpy(zero_copy_only=False), dtype=bool)
            missing.append((np.flatnonzero(nulls) + row).astype(np.int64).tobytes())
        row += len(chunk)
    return [*lengths, *cells, *missing]


def _arrow_text(values: pd.Series) -> list[pa.Array] | None:
    """The column's Arrow string chunks, or None when it is not Arrow text."""
    if not isinstance(values.dtype, pd.StringDtype | pd.ArrowDtype):
        return None
    array = values.array
    if not hasattr(array, "__arrow_array__"):
        return None
    arrow = array.__arrow_array__()
    if not (pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type)):
        return None
    return list(arrow.chunks) if isinstance(arrow, pa.ChunkedArray) else [arrow]
