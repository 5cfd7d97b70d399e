"""The benchmarks scored as users live them: our suite with noise, real scikit-learn problems, the incumbent rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ray import tune

from experiments.bench import __main__ as bench_cli
from experiments.bench import noisy, real, results, simulate
from experiments.bench.benchmarks import BENCHMARKS
from experiments.bench.domains import KINDS, domain_kind, invalid_paths, walk
from experiments.bench.problems import PROBLEMS, Problem
from experiments.bench.real_problems import PROBLEMS as REAL_PROBLEMS
from test_experiments import _random_configs


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


# ------------------------------------------------------------------ real problems


@pytest.mark.parametrize("name", list(REAL_PROBLEMS))
def test_real_problem_scores_random_configs_to_finite_losses(name):
    problem = REAL_PROBLEMS[name]
    rng = np.random.default_rng(0)
    for config in _random_configs(problem.space, 3, seed=1):
        assert invalid_paths(problem.space, config) == []
        loss = problem.observe(config, rng)
        assert np.isfinite(loss) and loss >= 0, config


def test_real_problems_mix_models_metrics_and_domains():
    assert len(REAL_PROBLEMS) >= 10
    assert {p.metric for p in REAL_PROBLEMS.values()} == set(real.SCORERS)
    kinds = {domain_kind(d) for p in REAL_PROBLEMS.values() for _, d in walk(p.space)}
    assert set(KINDS) - kinds == {"randn", "qrandn"}  # no real hyperparameter here has a Gaussian prior
    # Conditional pipelines: a choice of model whose branches carry their own nested parameters.
    conditional = [p for p in REAL_PROBLEMS.values() if "model" in p.space]
    assert len(conditional) >= 2
    for p in conditional:
        assert all(isinstance(p.space[m], dict) for m in p.space["model"].categories)


def test_observed_loss_is_noisy_while_the_noise_free_loss_is_deterministic_and_cached(monkeypatch):
    problem = REAL_PROBLEMS["knn_diabetes"]
    config = {"scaler": "standard", "n_neighbors": 10, "weights": "uniform", "p": 2.0}
    noise = np.random.default_rng(3)
    observed = [problem.observe(config, noise) for _ in range(3)]
    assert len(set(observed)) == 3  # the same config scores differently on three trials

    problem._true.clear()
    calls = []
    cv_loss = real.RealProblem.cv_loss
    monkeypatch.setattr(real.RealProblem, "cv_loss", lambda self, c, seed: calls.append(seed) or cv_loss(self, c, seed))
    true = problem.true_loss(config)
    assert calls == list(range(real.REPEATS))
    assert true == pytest.approx(np.mean([cv_loss(problem, config, s) for s in range(real.REPEATS)]))
    assert problem.true_loss(dict(reversed(config.items()))) == true and len(calls) == real.REPEATS  # cached
    problem._true.clear()
    assert problem.true_loss(config) == true  # recomputed: the same value
    assert min(observed) != true


def test_real_entry_runs_real_fits_and_scores_the_incumbent(tmp_path):
    argv = ["real", "--problems", "svm_wine", "--methods", "random", "pg", "--seeds", "1", "--workers", "4",
            "--budget", "16", "--out", str(tmp_path), "--processes", "1", "--summary-dir", str(tmp_path)]
    assert bench_cli.main(["all", *argv]) == 0
    rows = results.load(tmp_path, "real")
    assert list(rows.columns) == results.KEYS + simulate.COLUMNS + ["fit_s"]
    for _, run in rows.groupby("method"):
        run = run.sort_values("trial")
        assert run["trial"].tolist() == list(range(1, 17)) and (run["invalid"] == 0).all()
        assert (run["fit_s"] > 0).all() and run["value"].between(0, 1).all()
        # The noise-free loss is computed exactly on the trials that became the incumbent.
        values = run["value"].to_numpy()
        new_best = np.array([values[i] < values[:i].min(initial=np.inf) for i in range(len(values))])
        assert np.array_equal(run["true_value"].notna().to_numpy(), new_best)
        assert np.allclose(run["best_so_far"], run["true_value"].ffill())
    text = (tmp_path / "real_tasks.md").read_text()
    assert "| all problems | 16 |" in text and "tuning half |" not in text and "No tuning half" in text


def test_reports_rank_at_25_50_100_and_200_trials(tmp_path):
    rng = np.random.default_rng(0)
    rows = pd.concat([pd.DataFrame({"method": m, "problem": "svm_wine", "seed": 0, "workers": 8, "budget": 200,
                                    "trial": np.arange(1, 201), "best_so_far": np.sort(rng.random(200))[::-1],
                                    "wall_time": np.arange(1, 201) / 1000}) for m in ("random", "pg")])
    BENCHMARKS["real"].report(rows, pd.DataFrame(), tmp_path, "test")
    text = (tmp_path / "real_tasks.md").read_text()
    for n in (25, 50, 100, 200):
        assert f"| all problems | {n} |" in text
    assert "| all problems | 400 |" not in text
