"""How many trials Tune keeps pending for PGSearcher when the user sets no limit.

Tune keeps at most ``TUNE_MAX_PENDING_TRIALS_PG`` trials PENDING (waiting for
resources). Unset, that is ``max(200, 1.1 x cluster CPUs)`` for its own
``BasicVariantGenerator`` but 1 for every other searcher without a
``ConcurrencyLimiter`` (``ray/tune/execution/tune_controller.py``,
``_get_max_pending_trials``): trials then start one at a time, and an
autoscaler sees demand for one trial at a time. Tune reads the variable when it
builds its controller and once more after it adds the experiment, both after
``Searcher.set_search_properties`` and before the first ``suggest``; no
searcher method is called in between.

So PGSearcher sets the variable for that window only, when the user set neither
it nor ``max_concurrent_trials``: ``open_window`` from ``set_search_properties``,
``close_window`` from ``suggest`` (which restores the environment). The value is
what the cluster can start at once, at least a first batch: the cluster's CPUs,
no fewer than ``MIN_PENDING``. When Tune never calls ``set_search_properties``
(the space was given to ``PGSearcher(space=...)`` and none to Tune), the limit
stays at 1 and ``close_window`` logs one warning that says what to set. A
searcher set up but never asked for a trial closes its window when it is
garbage-collected.
"""

from __future__ import annotations

import logging
import math
import os
import weakref
from typing import Any

logger = logging.getLogger(__name__)

ENV = "TUNE_MAX_PENDING_TRIALS_PG"
# The first batch is drawn from the initial policy whatever the concurrency, so
# this many pending trials cost the search nothing at the start, and an
# autoscaler whose head node has no CPU still sees demand for several trials.
MIN_PENDING = 8

# ids of the searchers whose window is open; a searcher collected with its
# window open (set up, never asked for a trial) closes it then.
_open: set[int] = set()
_started: weakref.WeakSet[Any] = weakref.WeakSet()


def pending_for_cluster() -> int:
    """Trials to keep pending: the cluster's CPUs, at least ``MIN_PENDING``."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 0.0) if ray.is_initialized() else 0.0
    return max(MIN_PENDING, math.ceil(cpus))


def open_window(searcher: Any, *, limited: bool) -> None:
    """Raise Tune's pending-trial limit for the run being set up, unless the user set one.

    Args:
        searcher: the searcher Tune is setting up (the window is its own).
        limited: whether a ``ConcurrencyLimiter`` (``max_concurrent_trials``)
            already sets the limit.
    """
    if limited or ENV in os.environ:
        return
    os.environ[ENV] = str(pending_for_cluster())
    _open.add(id(searcher))
    weakref.finalize(searcher, _close, id(searcher))


def close_window(searcher: Any, *, limited: bool) -> None:
    """Restore the environment once Tune has read it; warn once if the limit stayed at 1."""
    if not _close(id(searcher)) and searcher not in _started and not limited and ENV not in os.environ:
        logger.warning(
            "Tune keeps only one PGSearcher trial pending at a time in this run (PGSearcher raises that "
            "limit when Tune hands it the search space; here the space was given to PGSearcher(space=...) "
            "only): trials start one by one, and an autoscaler sees demand for one trial at a time. Set "
            "TuneConfig(max_concurrent_trials=N) / tune.run(max_concurrent_trials=N), or the environment "
            "variable %s=N, or pass the space to Tune (param_space= / config=) instead.", ENV)
    _started.add(searcher)


def _close(searcher_id: int) -> bool:
    """Restore the environment if this searcher's window is open; whether it was."""
    if searcher_id not in _open:
        return False
    _open.discard(searcher_id)
    os.environ.pop(ENV, None)
    return True
