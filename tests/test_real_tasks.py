"""The benchmarks scored as users live them: the incumbent rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ray import tune

from experiments.bench import results, simulate
from experiments.bench.problems import Problem


def _incumbent_regrets(run: pd.DataFrame) -> np.ndarray:
    """The rule written out: per row, the regret of the first trial with the lowest observed value so far."""
    values, regrets = run["value"].to_numpy(), run["regret"].to_numpy()
    return np.array([regrets[np.argmin(values[: i + 1])] for i in range(len(run))])


# ------------------------------------------------------------------ the incumbent rule


def test_incumbent_follows_the_best_observed_value_and_scores_only_new_incumbents():
    incumbent, scored = simulate.Incumbent(), []

    def score(true: float):
        return lambda: scored.append(true) or true

    # (observed, noise-free): the second trial looks better but is worse; the third is better but looks worse.
    for observed, true in [(1.0, 0.5), (0.8, 0.9), (0.9, 0.1), (float("nan"), 0.0), (0.8, 0.0)]:
        incumbent.offer(observed, score(true))
    assert incumbent.score == 0.9 and incumbent.observed == 0.8
    assert scored == [0.5, 0.9]  # only trials that became the incumbent were scored; ties keep the first


def test_by_observed_scores_the_incumbent_not_the_best_true_value():
    # Noise (sd 1) far above the spread of values (x in [0, 1]): the best observed trial is rarely the best.
    problem = Problem("line", {"x": tune.uniform(0.0, 1.0)}, lambda c: c["x"], 0.0, {"x": 0.0}, noise_sd=1.0)
    task = results.Task("suite-noisy", "random", "line", seed=0, workers=4, budget=40)
    user = simulate.run_task(task, problem, by_observed=True)["trials"]
    oracle = simulate.run_task(task, problem)["trials"]
    assert np.array_equal(user["regret"], oracle["regret"])  # same trials, scored by two rules
    assert np.allclose(oracle["best_so_far"], oracle["regret"].cummin())
    assert np.allclose(user["best_so_far"], _incumbent_regrets(user))
    assert (user["best_so_far"] > oracle["best_so_far"] + 1e-6).any()
