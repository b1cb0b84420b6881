"""The process's memory allocators, set once by the CLI before a run allocates anything big.

Arrow: jemalloc where the pyarrow build has it. A run allocates and frees hundreds of large
Arrow buffers (every text column, every parsed one). With pyarrow's default allocator
(mimalloc) about a third of a 50,000-customer run was the kernel handing out and zeroing
fresh pages (8 s of system time in 22 s); jemalloc reuses its freed memory: the same dry run
took 17 to 19 s, and peaked about 200 MB lower (`bench/bench_load.py`). A build without
jemalloc keeps its default.

glibc's malloc (numpy's and pandas' arrays): a fixed mmap threshold. By default glibc raises
the threshold to the size of each mapped block freed, up to 32 MiB, so the next arrays of a
run come from the heap, and a freed heap block goes back to the system only when it lies at
the heap's top. A 50,000-customer load then left 1,477 MiB resident for 500 MiB of frames;
with every block of 1 MiB or more mapped on its own, 804 MiB, in the same time.
"""

from __future__ import annotations

import ctypes

import pyarrow as pa

MMAP_THRESHOLD = 1 << 20
"""Blocks this large or larger are mapped on their own and unmapped when freed."""
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def use_jemalloc() -> str:
    """Make jemalloc Arrow's allocator from now on, if this build has it; the allocator's name."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc (some platforms)
        return str(pa.default_memory_pool().backend_name)
    pa.set_memory_pool(pool)
    return str(pool.backend_name)


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Have glibc's malloc map every block of `size` bytes or more apart, returned to the
    system when freed; False where the C library is not glibc (no mallopt, or it refuses)."""
    try:  # the process's own symbols: the C library it runs on, without searching for it
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no symbols to load, or a C library without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, size))


def tune_allocators() -> str:
    """Both of the above, as the CLI sets them for every command; Arrow's allocator's name."""
    fix_mmap_threshold()
    return use_jemalloc()
