"""The models' native thread pools held to one thread while they fit and predict.

Their matrices are small (tens of columns): on two cores, BLAS and OpenMP threads spend more
time waiting for each other than working, and L-BFGS asks for thousands of small products
(the sample's backtest: 0.8 s on one thread, 1.5-3.2 s on two). Worse, OpenMP's threads keep
spinning after BLAS has run: the pay-date backtest after a late-payment fit took 16 s with
both pools at two threads and 3.6 s at one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager


def one_thread() -> AbstractContextManager[object]:
    """A context in which every native thread pool (BLAS, OpenMP) runs one thread."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - scikit-learn's own dependency

    limits: AbstractContextManager[object] = threadpool_limits(limits=1)
    return limits
