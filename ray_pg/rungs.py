"""How far to trust the rank of a trial that an early-stopping scheduler cut short.

ASHA and HyperBand stop most trials at a rung (an iteration count) on their result there. A trial cut at
rung ``l`` ranks below the trials that went further, and among the trials cut there by its result at
``l``. That ranking is only as good as rung ``l`` is at predicting the end: where learning curves
cross, the configs that look best after one epoch are often not the best after the last. So each
finished trial keeps its results at the rungs it passed (``Finished.rungs``), and a trial cut at rung
``l`` counts in the natural update with the weight ``trust(l)``: the product, over the rungs from ``l``
up, of each rung's Spearman correlation with the next rung (or with the end, for the last rung) on the
recent trials that reached both, floored at 0. A rung with fewer than ``MIN_PAIRS`` such trials gets
``PRIOR``. Trials that ran their course count fully.

Taken from BOHB (Falkner et al. 2018), which models the largest budget with enough results and so stops
listening to low budgets once higher ones have data, and from the rank correlation between budgets
that Hyper-Tune (Li et al. 2022) weighs its budgets by; here it weighs results, not models, because
the natural update has none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ray_pg.policy import average_ranks
from ray_pg.results import Finished

# Trials that reached both of two consecutive rungs needed before their correlation replaces the prior.
MIN_PAIRS = 5
# The trust of a rung with too few such trials (1: as much as a finished trial; ablation in
# experiments/results/asha.md).
PRIOR = 1.0


def levels(entries: Sequence[Finished]) -> np.ndarray:
    """The rungs the entries were cut at or passed, ascending (finite levels only)."""
    found = {entry.level for entry in entries if math.isfinite(entry.level)}
    found.update(float(level) for entry in entries if entry.rungs is not None for level in entry.rungs[:, 0])
    return np.array(sorted(found))


def value_at(entry: Finished, level: float) -> float:
    """The entry's first reward at ``level`` (its end when ``level`` is its own), NaN if unknown."""
    if level == entry.level:
        return float(entry.rewards[0])
    if entry.rungs is not None:
        hit = entry.rungs[entry.rungs[:, 0] == level, 1]
        if len(hit):
            return float(hit[0])
    return math.nan


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); 0 when either side is constant."""
    ra, rb = average_ranks(a) - (len(a) - 1) / 2, average_ranks(b) - (len(b) - 1) / 2
    scale = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / scale if scale > 0 else 0.0


def trust(entries: Sequence[Finished], known: Sequence[Finished], prior: float = PRIOR) -> np.ndarray:
    """Each entry's weight in the update: 1 if it ran its course, else its rung's trust (module doc),
    measured on the ``known`` results (``entries`` among them)."""
    rungs = [*levels(known), math.inf]
    link = np.full(len(rungs) - 1, prior)
    for i, (low, high) in enumerate(zip(rungs[:-1], rungs[1:])):
        pairs = np.array([(value_at(e, low), value_at(e, high)) for e in known])
        pairs = pairs[~np.isnan(pairs).any(axis=1)] if len(pairs) else pairs
        if len(pairs) >= MIN_PAIRS:
            link[i] = max(0.0, spearman(pairs[:, 0], pairs[:, 1]))
    # trust of rung i: the product of the links from it to the end
    from_rung = np.cumprod(link[::-1])[::-1]
    index = {level: i for i, level in enumerate(rungs[:-1])}
    return np.array([1.0 if math.isinf(e.level) else float(from_rung[index[e.level]]) for e in entries])


def kept(curve: dict[float, float], rung_levels: Sequence[float]) -> dict[float, float]:
    """A pending trial's results worth keeping: those at known rungs, and any above the highest (which may
    be a rung not yet seen)."""
    top = max(rung_levels, default=0.0)
    return {t: v for t, v in curve.items() if t in rung_levels or t > top}
