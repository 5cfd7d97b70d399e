"""Two-objective benchmark: a ZDT1-like problem over a mixed Tune space with a known front.

Run and summarised through ``python -m experiments.bench {run,summary} multiobjective``.

The problem (both objectives minimised): ``f1 = x1`` and
``f2 = g * (1 - sqrt(f1 / g))`` with ``g = 1 + 9 * mean(u, q, n / 10,
(log10(lr) + 3) / 3) + OFFSETS[variant]``, where ``x1, u`` are uniform on
[0, 1], ``q`` a quniform grid, ``n`` a randint on 0..10, ``lr`` a loguniform on
[1e-3, 1] and ``variant`` a choice of four categories whose offsets are
0.6, 0.0, 0.3, 1.0 (the best one is not first). Every mean term is >= 0 and
vanishes at the lower bounds, so the Pareto front is ``g = 1``,
``f2 = 1 - sqrt(f1)``. With the fixed reference point (1.1, 1.1) the front's
hypervolume is ``int_0^1 (1.1 - (1 - sqrt f)) df + 0.1 * 1.1
= 0.1 + 2/3 + 0.11 = 0.876667`` (``HV_TRUE``).

``run_task`` drives each method with ``experiments.bench.simulate.simulate``, as the
single-objective suites do (Tune's ``ConcurrencyLimiter``, ``workers``
simulated trials in flight, the same durations for every method), handing the
space over as a Tuner without a metric does: ``set_search_properties(None,
None, space, num_samples=budget, ...)``; the searchers are built with
``metric=["f1", "f2"], mode=["min", "min"]``. Methods (``experiments.bench.methods``):
``random``, ``optuna_tpe`` and ``optuna_nsga2`` (``OptunaSearch`` with Ray's own
space conversion, as users get it), ``pg``. A run is refused when the
metric/mode lists did not reach the searcher, Optuna did not record every
completed trial, or PGSearcher counted a failed trial; ``invalid`` counts
suggested parameters not valid for their domain (scored clipped into it).

Rows: the common keys, ``trial, suggest_index, sim_time, f1, f2, invalid,
hv_so_far`` (hypervolume of all trials completed so far, reference (1.1, 1.1)),
``best_so_far`` (1 - hv_so_far / HV_TRUE: lower is better, as in every
benchmark) and ``wall_time`` (the searcher's cumulative CPU seconds).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from ray import tune

from experiments.bench.domains import clip_config, invalid_paths
from experiments.bench.methods import make
from experiments.bench.results import Task, tidy
from experiments.bench.simulate import simulate
from ray_pg.pareto import hypervolume

METRICS = ["f1", "f2"]
MODES = ["min", "min"]
REFERENCE = (1.1, 1.1)
#: Hypervolume of the true front f2 = 1 - sqrt(f1), f1 in [0, 1], up to REFERENCE.
HV_TRUE = (REFERENCE[1] - 1.0) + 2.0 / 3.0 + (REFERENCE[0] - 1.0) * REFERENCE[1]
OFFSETS = {"a": 0.6, "b": 0.0, "c": 0.3, "d": 1.0}
LR_LOW, LR_HIGH = 1e-3, 1.0
N_HIGH = 10  # randint(0, N_HIGH + 1): 0..N_HIGH

SPACE: dict[str, Any] = {
    "x1": tune.uniform(0.0, 1.0),
    "u": tune.uniform(0.0, 1.0),
    "q": tune.quniform(0.0, 1.0, 0.05),
    "n": tune.randint(0, N_HIGH + 1),
    "lr": tune.loguniform(LR_LOW, LR_HIGH),
    "variant": tune.choice(list(OFFSETS)),
}

PROBLEM = "zdt1_mixed"
COLUMNS = ["trial", "suggest_index", "sim_time", "f1", "f2", "invalid", "hv_so_far", "best_so_far", "wall_time"]


# ---------------------------------------------------------------------- problem


def objectives(config: dict) -> tuple[float, float]:
    """``(f1, f2)`` of a config; numeric parameters are first clipped into their domains."""
    c = clip_config(SPACE, config)
    lr_term = (math.log10(c["lr"]) - math.log10(LR_LOW)) / (math.log10(LR_HIGH) - math.log10(LR_LOW))
    terms = [c["u"], c["q"], c["n"] / N_HIGH, lr_term]
    g = 1.0 + 9.0 * float(np.mean(terms)) + OFFSETS[c["variant"]]
    f1 = float(c["x1"])
    return f1, g * (1.0 - math.sqrt(f1 / g))


def true_front(num: int = 200) -> np.ndarray:
    """``num`` points (f1, f2) on the Pareto front, f1 evenly spaced on [0, 1]."""
    f1 = np.linspace(0.0, 1.0, num)
    return np.column_stack([f1, 1.0 - np.sqrt(f1)])


def front_config(x1: float) -> dict:
    """A config on the front: every g term at its lower bound, best variant."""
    best = min(OFFSETS, key=OFFSETS.get)
    return {"x1": x1, "u": 0.0, "q": 0.0, "n": 0, "lr": LR_LOW, "variant": best}


def run_task(task: Task) -> dict[str, pd.DataFrame]:
    """Simulate one run; return its rows (one per completed trial)."""
    if task.problem != PROBLEM:
        raise ValueError(f"the two-objective benchmark has one problem, {PROBLEM!r}; got {task.problem!r}")
    method = task.method
    searcher, _ = make(method, None, list(METRICS), list(MODES), task.seed)

    def evaluate(config: dict) -> tuple[dict, tuple[float, float, int]]:
        f1, f2 = objectives(config)
        return {"f1": f1, "f2": f2}, (f1, f2, len(invalid_paths(SPACE, config)))

    rows: list[dict[str, Any]] = []
    points: list[tuple[float, float]] = []
    for done in simulate(searcher, SPACE, None, None, task.workers, task.budget, task.seed, evaluate):
        if not rows and (searcher.metric != METRICS or searcher.mode != MODES):
            raise RuntimeError(f"{method}: metric/mode did not arrive, got {searcher.metric=}, {searcher.mode=}")
        f1, f2, bad = done.outcome
        points.append((f1, f2))
        # A superset never has less volume; max() only absorbs the sweep's rounding (~1e-16).
        hv = max(rows[-1]["hv_so_far"] if rows else 0.0, hypervolume(np.array(points), reference=REFERENCE))
        rows.append({"trial": len(rows) + 1, "suggest_index": done.suggest_index, "sim_time": done.sim_time,
                     "f1": f1, "f2": f2, "invalid": bad, "hv_so_far": hv, "best_so_far": 1.0 - hv / HV_TRUE,
                     "wall_time": done.cpu})
    _check_searcher(method, searcher, len(rows))
    return {"trials": tidy(rows, task, COLUMNS)}


def _check_searcher(method: str, searcher: Any, completed: int) -> None:
    """Refuse runs where results were silently lost inside the searcher."""
    study = getattr(searcher, "_ot_study", None)
    if study is not None:
        import optuna

        states = [t.state for t in study.get_trials(deepcopy=False)]
        told = sum(s == optuna.trial.TrialState.COMPLETE for s in states)
        if told != completed:
            raise RuntimeError(f"{method}: Optuna recorded {told} complete trials of {completed} ({states=})")
    if getattr(searcher, "num_failed", 0):
        raise RuntimeError(f"{method}: PGSearcher counted {searcher.num_failed} failed trials of {completed}")
    history = searcher.history() if callable(getattr(searcher, "history", None)) else None
    if history is not None and "stopped_early" in history and history["stopped_early"].sum():
        raise RuntimeError(f"{method}: {history['stopped_early'].sum()} trials counted as stopped early")
