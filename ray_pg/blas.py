"""BLAS held to one thread while PGSearcher updates: Tune's driver shares its machine with the trials."""

from __future__ import annotations

import functools
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

from threadpoolctl import ThreadpoolController

# One searcher's update at a time per process holds BLAS to one thread (see one_blas_thread).
_BLAS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _blas(modules: int) -> ThreadpoolController:
    """The BLAS libraries loaded (1 ms to find), found again once ``modules`` (the number imported) grows:
    an import can load another BLAS (scipy's, with scikit-learn), which the update must hold too."""
    return ThreadpoolController()


# BLAS is left as it is where the rank model may have at most this many coefficients: there OpenBLAS's
# second thread never held a fit up, and holding it cost 0.05 ms an update. 1,000 fits with one core busy,
# two threads / held to one: 64 coefficients p99 0.40 / 0.46 ms, 72: 5.6 / 0.42 ms, 100: worst 132 / 6.4 ms
# (experiments/results/cost_width.md, 2026-12-04).
ONE_THREAD_ABOVE = 64


@contextmanager
def one_blas_thread(coefficients: int) -> Iterator[None]:
    """BLAS limited to one thread inside, for every thread of the process, restored after, where the
    rank model may have more than ``ONE_THREAD_ABOVE`` ``coefficients``.

    An update's linear algebra is small (the rank model's fit: a few hundred rows and columns), and
    Tune's driver shares its machine with the trials: there OpenBLAS's second thread waits for a busy
    core. With one core busy, the fit on 70 parameters took 7.5 ms (median) and up to 162 ms with two
    threads, 2.8 ms and up to 10 ms with one (``experiments/results/cost_width.md``). The lock keeps
    two searchers' updates from restoring each other's limit.
    """
    if coefficients <= ONE_THREAD_ABOVE:
        yield
        return
    with _BLAS_LOCK, _blas(len(sys.modules)).limit(limits=1, user_api="blas"):
        yield
