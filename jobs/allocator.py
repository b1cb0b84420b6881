"""Arrow's memory allocator for the process: jemalloc where the pyarrow build has it.

A run allocates and frees hundreds of large Arrow buffers (every text column, every parsed
one). With pyarrow's default allocator (mimalloc) about a third of a 50,000-customer run
was the kernel handing out and zeroing fresh pages (8 s of system time in 22 s); jemalloc
reuses its freed memory: the same dry run took 17 to 19 s, and peaked about 200 MB lower
(`bench/bench_load.py`). A build without jemalloc keeps its default.
"""

from __future__ import annotations

import pyarrow as pa


def use_jemalloc() -> str:
    """Make jemalloc Arrow's allocator from now on, if this build has it; the allocator's name."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc (some platforms)
        return str(pa.default_memory_pool().backend_name)
    pa.set_memory_pool(pool)
    return str(pool.backend_name)
