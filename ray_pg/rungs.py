"""How far to trust the rank of a trial that an early-stopping scheduler cut short: an ablation.

Measured against counting every trial fully (``Learner(rung_prior=None)``, the default), it lost on the
sum of ranks at B/4, B/2 and B of the four learning-curve problems against the rivals under ASHA
(27.0 against 22.0 over 12 checkpoints, ``experiments/results/asha_rivals.md``): kept for ablations
(``ablation_asha[rung_prior=0.5]``).

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
listening to low budgets once higher ones have data, and from MFES-HB (Li et al. 2021) and Hyper-Tune
(Li et al. 2022), which weigh each budget's surrogate by how many pairs of the higher budget's results it
orders rightly. Here the weight is on results, not models (the natural update has none), and each rung
is measured against the next, where trials that passed both are many, rather than against the last.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ray_pg.policy import average_ranks
from ray_pg.results import Finished

# Trials that reached both of two consecutive rungs needed before their correlation replaces the prior.
MIN_PAIRS = 5
# The trust of a rung with too few such trials. Crossing curves under ASHA, 10 seeds, mean rank of 5 at
# the end: 0.5 3.10, 1 3.45 (experiments/results/asha_rivals.md).
PRIOR = 0.5


def levels(entries: Sequence[Finished]) -> list[float]:
    """The rungs the entries were cut at or passed, ascending (finite levels only)."""
    found = {entry.level for entry in entries if math.isfinite(entry.level)}
    found.update(float(level) for entry in entries if entry.rungs is not None for level in entry.rungs[:, 0])
    return sorted(found)


def values(entries: Sequence[Finished], rungs: Sequence[float]) -> np.ndarray:
    """(entries, rungs): each entry's first reward at each rung (at its own level: its end), NaN where it
    did not report there. ``rungs`` holds every entry's level."""
    column = {level: j for j, level in enumerate(rungs)}
    table = np.full((len(entries), len(rungs)), np.nan)
    for i, entry in enumerate(entries):
        for level, value in (() if entry.rungs is None else entry.rungs):
            if level in column:
                table[i, column[level]] = value
        table[i, column[entry.level]] = entry.rewards[0]
    return table


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); 0 when either side is constant."""
    ra, rb = average_ranks(a) - (len(a) - 1) / 2, average_ranks(b) - (len(b) - 1) / 2
    scale = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / scale if scale > 0 else 0.0


def level_trust(known: Sequence[Finished], prior: float = PRIOR) -> dict[float, float]:
    """The trust of each rung of the ``known`` results (module doc), by its level."""
    rungs = [*levels(known), math.inf]
    table = values(known, rungs)
    link = np.full(len(rungs) - 1, prior)
    for i in range(len(rungs) - 1):
        pairs = table[:, i:i + 2][~np.isnan(table[:, i:i + 2]).any(axis=1)]
        if len(pairs) >= MIN_PAIRS:
            link[i] = max(0.0, spearman(pairs[:, 0], pairs[:, 1]))
    # the trust of a rung: the product of the links from it to the end
    return dict(zip(rungs[:-1], np.cumprod(link[::-1])[::-1].tolist()))


def trust(entries: Sequence[Finished], known: Sequence[Finished], prior: float = PRIOR) -> np.ndarray:
    """Each entry's weight in the update: 1 if it ran its course, else its rung's trust (module doc),
    measured on the ``known`` results (``entries`` among them)."""
    by_level = level_trust(known, prior)
    return np.array([1.0 if math.isinf(e.level) else by_level[e.level] for e in entries])


def kept(curve: dict[float, float], rung_levels: Sequence[float]) -> dict[float, float]:
    """A pending trial's results worth keeping: those at known rungs, and its latest (which may be at a
    rung not yet seen; a rung first seen after a trial passed it lacks that trial's result there)."""
    latest = max(curve)
    return {t: v for t, v in curve.items() if t in rung_levels or t == latest}
