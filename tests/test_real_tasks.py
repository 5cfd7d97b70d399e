"""The benchmarks scored as users live them: our suite with noise, the incumbent rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ray import tune

from experiments.bench import __main__ as bench_cli
from experiments.bench import noisy, results, simulate
from experiments.bench.problems import PROBLEMS, Problem


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


# ------------------------------------------------------------------ the noisy suite


def test_noise_levels_are_positive_named_and_scaled_to_each_problems_spread():
    names = noisy.problem_names()
    bases = [p for p in PROBLEMS.values() if p.noise_sd == 0]
    assert len(names) == len(set(names)) == len(noisy.NOISE_LEVELS) * len(bases) == 16
    assert all(level > 0 for level in noisy.NOISE_LEVELS)
    for base in bases:
        spread = noisy.spread(base)
        assert spread > 0
        for level in noisy.NOISE_LEVELS:
            problem = noisy.get_problem(f"{base.name}~noise{level}")
            assert problem.name == f"{base.name}~noise{level}" and noisy.base_name(problem.name) == base.name
            assert problem.noise_sd == pytest.approx(level * spread) and problem.noise_sd > 0
            assert problem.optimum == base.optimum
            assert problem.value(base.optimal_config) == base.value(base.optimal_config)
    # The numbers the module's docstring states.
    assert noisy.spread(PROBLEMS["branin_cat"]) == pytest.approx(50.4, rel=0.01)
    assert noisy.spread(PROBLEMS["int_heavy"]) == pytest.approx(0.108, rel=0.01)
    assert noisy.is_tuning("sphere~noise0.3") and not noisy.is_tuning("mixed_hd24~noise0.1")


def test_noisy_suite_entry_scores_by_the_incumbent(tmp_path):
    argv = ["suite-noisy", "--problems", "train_net~noise0.3", "--methods", "random", "--seeds", "1",
            "--workers", "4", "--budget", "40", "--out", str(tmp_path), "--processes", "1"]
    assert bench_cli.main(["run", *argv]) == 0
    run = results.load(tmp_path, "suite-noisy").sort_values("trial")
    assert (run["value"] != run["true_value"]).all()
    assert np.allclose(run["best_so_far"], _incumbent_regrets(run))
    assert not np.allclose(run["best_so_far"], run["regret"].cummin())  # this run's incumbent was not its best
