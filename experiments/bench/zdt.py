"""Multi-objective benchmark: ZDT1, ZDT2, ZDT3 and DTLZ2 over one mixed Tune space, fronts known.

Run and summarised through ``python -m experiments.bench {run,summary} multiobjective``.

All objectives are minimised, over one space: ``x1, u`` uniform on [0, 1],
``q`` a quniform grid, ``n`` a randint on 0..10, ``lr`` a loguniform on
[1e-3, 1] and ``variant`` a choice of four categories whose offsets are 0.6,
0.0, 0.3, 1.0 (the best one is not first). Every distance term below is >= 0
and vanishes at the lower bounds and the best variant, which is where the
Pareto front lies.

- ``zdt1_mixed`` (Zitzler, Deb and Thiele 2000): ``f1 = x1``,
  ``f2 = g (1 - sqrt(f1 / g))``, ``g = 1 + 9 mean(u, q, n / 10,
  (log10(lr) + 3) / 3) + offset``; front ``f2 = 1 - sqrt(f1)`` (convex).
  Reference (1.1, 1.1), hypervolume ``0.1 + 2/3 + 0.11``.
- ``zdt2_mixed``: ``f2 = g (1 - (f1 / g)^2)``; front ``1 - f1^2`` (concave).
  Reference (1.1, 1.1), hypervolume ``0.1 + 1/3 + 0.11``.
- ``zdt3_mixed``: ``f2 = g (1 - sqrt(f1 / g) - (f1 / g) sin(10 pi f1))``; a
  front in five pieces. Reference (1.1, 1.1); its hypervolume is that of
  100,001 points of the ``g = 1`` curve (error below 1e-5).
- ``dtlz2_mixed`` (Deb, Thiele, Laumanns and Zitzler 2002), three objectives:
  ``(1 + h) (cos a cos b, cos a sin b, sin a)`` with ``a = pi x1 / 2``,
  ``b = pi u / 2`` and ``h = mean(q, n / 10, (log10(lr) + 3) / 3) + offset``;
  front: the unit sphere's positive octant. Reference (1.5, 1.5, 1.5),
  hypervolume ``1.5^3 - pi / 6``.

``run_task`` drives each method with ``experiments.bench.simulate.simulate``, as the
single-objective suites do (Tune's ``ConcurrencyLimiter``, ``workers``
simulated trials in flight, the same durations for every method), handing the
space over as a Tuner without a metric does: ``set_search_properties(None,
None, space, num_samples=budget, ...)``; the searchers are built with the
problem's metric list and ``"min"`` for each. Methods (``experiments.bench.methods``):
``random``, ``optuna_tpe`` and ``optuna_nsga2`` (``OptunaSearch`` with Ray's own
space conversion, as users get it), ``pg``. A run is refused when the
metric/mode lists did not reach the searcher, Optuna did not record every
completed trial, or PGSearcher counted a failed trial; ``invalid`` counts
suggested parameters not valid for their domain (scored clipped into it).

Rows: the common keys, ``trial, suggest_index, sim_time, f1, f2, f3`` (f3 NaN
with two objectives), ``invalid, hv_so_far`` (hypervolume of all trials
completed so far, at the problem's reference), ``best_so_far`` (1 - hv_so_far /
hv_true: lower is better, as in every benchmark), ``wall_time`` (the
searcher's cumulative CPU seconds) and ``longest_call`` (its longest single call
since the previous completion).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from ray import tune

from experiments.bench.domains import clip_config, invalid_paths
from experiments.bench.methods import make
from experiments.bench.results import Task, tidy
from experiments.bench.simulate import simulate
from ray_pg.pareto import hypervolume

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

COLUMNS = ["trial", "suggest_index", "sim_time", "f1", "f2", "f3", "invalid", "hv_so_far", "best_so_far",
           "wall_time", "longest_call"]


# ---------------------------------------------------------------------- problems


def _distance_terms(c: dict) -> list[float]:
    """The terms that vanish on the front: q, n / 10 and lr on a log scale, each in [0, 1]."""
    lr_term = (math.log10(c["lr"]) - math.log10(LR_LOW)) / (math.log10(LR_HIGH) - math.log10(LR_LOW))
    return [c["q"], c["n"] / N_HIGH, lr_term]


def _zdt(shape: Callable[[float, float], float]) -> Callable[[dict], tuple[float, ...]]:
    """ZDT's objectives ``(x1, g * shape(x1 / g, x1))``, with ``g`` over u and the distance terms
    (``shape`` takes floats or arrays)."""
    def objectives(c: dict) -> tuple[float, ...]:
        g = 1.0 + 9.0 * float(np.mean([c["u"], *_distance_terms(c)])) + OFFSETS[c["variant"]]
        return c["x1"], g * shape(c["x1"] / g, c["x1"])
    return objectives


def _dtlz2(c: dict) -> tuple[float, ...]:
    """DTLZ2's three objectives: x1 and u place the point, the distance terms set the radius."""
    radius = 1.0 + float(np.mean(_distance_terms(c))) + OFFSETS[c["variant"]]
    a, b = math.pi * c["x1"] / 2, math.pi * c["u"] / 2
    return radius * math.cos(a) * math.cos(b), radius * math.cos(a) * math.sin(b), radius * math.sin(a)


def _zdt3_shape(ratio: float, x1: float) -> float:
    return 1.0 - np.sqrt(ratio) - ratio * np.sin(10 * np.pi * x1)


@dataclass(frozen=True)
class MOProblem:
    """A multi-objective problem of the benchmark: ``objectives(config)`` are all minimised."""

    objectives: Callable[[dict], tuple[float, ...]]
    reference: tuple[float, ...]
    hv_true: float

    @property
    def metrics(self) -> list[str]:
        return [f"f{i + 1}" for i in range(len(self.reference))]

    def evaluate(self, config: dict) -> tuple[float, ...]:
        """The objectives of a config whose numeric parameters are first clipped into their domains."""
        return tuple(float(v) for v in self.objectives(clip_config(SPACE, config)))


def _curve_hv(shape: Callable[[float, float], float], num: int = 100_001) -> float:
    """Hypervolume at (1.1, 1.1) of ``num`` points of a ZDT curve at g = 1."""
    x1 = np.linspace(0.0, 1.0, num)
    return hypervolume(np.column_stack([x1, shape(x1, x1)]), reference=(1.1, 1.1))


PROBLEMS: dict[str, MOProblem] = {
    "zdt1_mixed": MOProblem(_zdt(lambda r, x1: 1.0 - np.sqrt(r)), (1.1, 1.1), 0.1 + 2.0 / 3.0 + 0.11),
    "zdt2_mixed": MOProblem(_zdt(lambda r, x1: 1.0 - r * r), (1.1, 1.1), 0.1 + 1.0 / 3.0 + 0.11),
    "zdt3_mixed": MOProblem(_zdt(_zdt3_shape), (1.1, 1.1), _curve_hv(_zdt3_shape)),
    "dtlz2_mixed": MOProblem(_dtlz2, (1.5, 1.5, 1.5), 1.5**3 - math.pi / 6),
}


def front_config(x1: float, u: float = 0.0) -> dict:
    """A config on the front: the distance terms at their lower bounds, the best variant. ``u`` is a
    position for DTLZ2 only; a ZDT problem's g counts it, so keep it 0 there."""
    best = min(OFFSETS, key=OFFSETS.get)
    return {"x1": x1, "u": u, "q": 0.0, "n": 0, "lr": LR_LOW, "variant": best}


def run_task(task: Task) -> dict[str, pd.DataFrame]:
    """Simulate one run; return its rows (one per completed trial)."""
    if task.problem not in PROBLEMS:
        raise ValueError(f"unknown multi-objective problem {task.problem!r}; known: {sorted(PROBLEMS)}")
    problem, method = PROBLEMS[task.problem], task.method
    metrics, modes = problem.metrics, ["min"] * len(problem.metrics)
    searcher, _ = make(method, None, list(metrics), list(modes), task.seed)

    def evaluate(config: dict) -> tuple[dict, tuple[tuple[float, ...], int]]:
        values = problem.evaluate(config)
        return dict(zip(metrics, values)), (values, len(invalid_paths(SPACE, config)))

    rows: list[dict[str, Any]] = []
    points: list[tuple[float, ...]] = []
    for done in simulate(searcher, SPACE, None, None, task.workers, task.budget, task.seed, evaluate):
        if not rows and (searcher.metric != metrics or searcher.mode != modes):
            raise RuntimeError(f"{method}: metric/mode did not arrive, got {searcher.metric=}, {searcher.mode=}")
        values, bad = done.outcome
        points.append(values)
        # A superset never has less volume; max() only absorbs the sweep's rounding (~1e-16).
        hv = max(rows[-1]["hv_so_far"] if rows else 0.0, hypervolume(np.array(points), reference=problem.reference))
        objectives = dict(zip(["f1", "f2", "f3"], [*values, math.nan]))
        rows.append({"trial": len(rows) + 1, "suggest_index": done.suggest_index, "sim_time": done.sim_time,
                     **objectives, "invalid": bad, "hv_so_far": hv, "best_so_far": 1.0 - hv / problem.hv_true,
                     "wall_time": done.cpu, "longest_call": done.longest_call})
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
