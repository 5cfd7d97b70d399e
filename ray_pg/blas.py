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


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread inside, for every thread of the process, restored after.

    An update's linear algebra is small (the rank model's fit: a few hundred rows and columns), and
    Tune's driver shares its machine with the trials: there OpenBLAS's second thread waits for a busy
    core. With one core busy, the fit on 70 parameters took 7.5 ms (median) and up to 162 ms with two
    threads, 2.8 ms and up to 10 ms with one (``experiments/results/cost_width.md``). The lock keeps
    two searchers' updates from restoring each other's limit.
    """
    with _BLAS_LOCK, _blas(len(sys.modules)).limit(limits=1, user_api="blas"):
        yield
