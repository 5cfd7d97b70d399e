"""Simulated asynchronous workers: a searcher driven in-process exactly as Tune drives it.

``simulate`` wraps the searcher in Tune's own ``ConcurrencyLimiter``; hands it
the space through ``set_search_properties(metric, mode, space,
num_samples=budget, stop={}, time_budget_s=None)`` unless it was built with
one; keeps ``workers`` trials in flight, each with an exponential(1) duration
in simulated time; returns completions in time order (so in random order),
each result through ``on_trial_result`` and then ``on_trial_complete(trial_id=...,
result=...)``, as Tune sends the one result of a trainable that reports once.
``suggest`` returning None means "wait for a completion", and every call gets
a new trial id. Durations and observation noise come from streams seeded by
the seed alone, so all methods see the same durations.

``run_task`` runs one task of a single-objective problem suite and returns its
tidy rows: ``trial, suggest_index, sim_time, value`` (what the searcher saw),
``true_value`` (noise-free), ``regret`` (true_value - optimum),
``best_so_far``, ``wall_time`` (searcher CPU seconds so far in
set_search_properties + suggest + on_trial_result + on_trial_complete),
``longest_call`` (CPU seconds of the searcher's longest single call since the
previous completion: the first row's calls include set_search_properties, when
the space is handed over by it, and the first suggestions) and ``invalid``
(parameters not valid for their domain).

``best_so_far`` follows one of two rules. ``by_observed``: the noise-free
regret of the incumbent, the trial with the best *observed* value so far
(``Incumbent``), which is the config a user would pick; every benchmark with
noise written since uses it (``suite-noisy``, ``real``). Otherwise the best
noise-free regret so far, an oracle's pick: the ``suite`` keeps it because its
committed figures (``hartmann6_noisy``, ``train_net_noisy``) were made with it.
The two agree on noise-free problems.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from experiments.bench.domains import invalid_paths
from experiments.bench.methods import make
from experiments.bench.problems import Problem
from experiments.bench.results import Task, tidy

MODE = "min"
# Regrets below -REGRET_TOL mean a wrong optimum; above it, float rounding.
REGRET_TOL = 1e-9
COLUMNS = ["trial", "suggest_index", "sim_time", "value", "true_value", "regret", "best_so_far", "wall_time",
           "longest_call", "invalid"]


@dataclass(frozen=True)
class Completion:
    """A simulated trial that just completed."""

    suggest_index: int  # 1-based order of its suggestion
    sim_time: float  # simulated time of its completion
    outcome: Any  # what ``evaluate`` returned for its config
    cpu: float  # searcher CPU seconds spent so far
    longest_call: float  # CPU seconds of the searcher's longest single call since the previous completion


class CallTimer:
    """Calls a searcher's methods and times each on ``clock``: the CPU seconds of all of them, and the longest
    call since ``since_completion`` was last asked."""

    def __init__(self, clock: Callable[[], float]):
        self.clock, self.total, self.longest = clock, 0.0, 0.0

    def __call__(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = self.clock()
        out = call(*args, **kwargs)
        spent = self.clock() - start
        self.total, self.longest = self.total + spent, max(self.longest, spent)
        return out

    def since_completion(self) -> float:
        """The longest call since the last time this was asked (at the previous completion)."""
        longest, self.longest = self.longest, 0.0
        return longest


def simulate(searcher: Any, space: dict, metric: str | list[str] | None, mode: str | list[str] | None,
             workers: int, budget: int, seed: int, evaluate: Callable[[dict], tuple[dict, Any]],
             hand_space: bool = True) -> Iterator[Completion]:
    """Drive a searcher as Tune does with ``workers`` trials in flight (see the module docstring).

    ``evaluate(config) -> (metrics, outcome)`` is called when a config is
    suggested; ``metrics`` is the trial's one result, ``outcome`` comes back in
    its ``Completion``. Durations come from a stream seeded by ``seed`` alone.
    """
    from ray.tune.search import ConcurrencyLimiter, Searcher

    timed = CallTimer(time.process_time)
    limiter = timed(ConcurrencyLimiter, searcher, max_concurrent=workers)  # it sets the searcher's concurrency
    if hand_space:
        accepted = timed(limiter.set_search_properties, metric, mode, space, num_samples=budget, stop={},
                         time_budget_s=None)
        if not accepted:
            raise RuntimeError(f"{type(searcher).__name__}: set_search_properties returned False")
    durations = np.random.default_rng([seed, 1])
    in_flight: list[tuple[float, int, str, dict, Any]] = []
    now, next_id, suggested, finished = 0.0, 0, 0, False
    while True:
        while not finished and suggested < budget and len(in_flight) < workers:
            trial_id = f"{next_id:05d}"  # a new id for every call, as Tune does
            next_id += 1
            config = timed(limiter.suggest, trial_id)
            if config is None:
                break
            if config == Searcher.FINISHED:
                finished = True
                break
            metrics, outcome = evaluate(config)
            heapq.heappush(in_flight, (now + float(durations.exponential()), suggested, trial_id, metrics, outcome))
            suggested += 1
        if not in_flight:
            if finished or suggested >= budget:
                return
            raise RuntimeError(f"{type(searcher).__name__} returned None from suggest with no trial in flight")
        now, order, trial_id, metrics, outcome = heapq.heappop(in_flight)
        result = {**metrics, "training_iteration": 1, "trial_id": trial_id}
        timed(limiter.on_trial_result, trial_id, {**result, "done": False})
        timed(limiter.on_trial_complete, trial_id=trial_id, result={**result, "done": True}, error=False)
        yield Completion(order + 1, now, outcome, timed.total, timed.since_completion())


class Incumbent:
    """The config a user would pick: the trial with the best observed value so far, and its noise-free score.

    ``offer(observed, score)`` takes each completed trial in completion order;
    ``score()`` (the trial's noise-free score) is called only when the trial
    becomes the incumbent, since on real tasks it costs several fits. Ties keep
    the earlier trial; a NaN observation never becomes the incumbent.
    """

    def __init__(self) -> None:
        self.observed = np.inf
        self.score = np.inf

    def offer(self, observed: float, score: Callable[[], float]) -> bool:
        """Take a completed trial; return whether it became the incumbent."""
        if not observed < self.observed:
            return False
        self.observed, self.score = observed, score()
        return True


def run_task(task: Task, problem: Problem, by_observed: bool = False) -> dict[str, pd.DataFrame]:
    """Simulate one run on ``problem``; return its rows and, if asked and available, the policy history.

    ``by_observed``: ``best_so_far`` is the regret of the incumbent by observed
    value, not the best regret so far (see the module docstring).
    """
    metric = problem.metric
    searcher, space_in_constructor = make(task.method, problem.space, metric, MODE, task.seed)
    noise = np.random.default_rng([task.seed, 2])

    def evaluate(config: dict) -> tuple[dict, tuple[float, float, int]]:
        observed, true = problem.observe(config, noise)
        return {metric: observed}, (observed, true, len(invalid_paths(problem.space, config)))

    rows: list[dict[str, Any]] = []
    best, incumbent = np.inf, Incumbent()
    for done in simulate(searcher, problem.space, metric, MODE, task.workers, task.budget, task.seed, evaluate,
                         hand_space=not space_in_constructor):
        observed, true, bad = done.outcome
        regret = true - problem.optimum
        if regret < -REGRET_TOL:
            raise AssertionError(f"{problem.name}: value {true!r} beats the stated optimum {problem.optimum!r}")
        regret = max(regret, 0.0)
        if by_observed:
            incumbent.offer(observed, lambda: regret)
            best = incumbent.score
        else:
            best = min(best, regret)
        rows.append({"trial": len(rows) + 1, "suggest_index": done.suggest_index, "sim_time": done.sim_time,
                     "value": observed, "true_value": true, "regret": regret, "best_so_far": best,
                     "wall_time": done.cpu, "longest_call": done.longest_call, "invalid": bad})
        if task.time_cap_s and done.cpu > task.time_cap_s:
            break
    return frames(rows, task, COLUMNS, searcher)


def frames(rows: list[dict[str, Any]], task: Task, columns: list[str], searcher: Any) -> dict[str, pd.DataFrame]:
    """A run's frames: its rows and, if the task asks and the searcher has one, its policy history."""
    out = {"trials": tidy(rows, task, columns)}
    if task.history and callable(getattr(searcher, "history", None)):
        out["history"] = searcher.history()
    return out
