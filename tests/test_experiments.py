"""The benchmark harness: problem optima, method table, runner, summary and plots."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from experiments import cost, plots, runner, summary
from experiments.domains import KINDS, domain_kind, invalid_paths, set_path, walk
from experiments.methods import parse_method
from experiments.problems import PROBLEMS


def _random_configs(space: dict, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(n):
        config: dict = {}
        for path, domain in walk(space):
            set_path(config, path, domain.sample(random_state=rng))
        configs.append(config)
    return configs


def test_registry_has_nine_problems_using_every_domain_kind():
    assert len(PROBLEMS) >= 9
    used = {domain_kind(d) for p in PROBLEMS.values() for _, d in walk(p.space)}
    assert used == set(KINDS)
    assert any(p.noise_sd > 0 for p in PROBLEMS.values())


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_stated_optimum_is_attained_and_not_beaten(name):
    problem = PROBLEMS[name]
    assert invalid_paths(problem.space, problem.optimal_config) == []
    assert problem.value(problem.optimal_config) == pytest.approx(problem.optimum, abs=1e-12)
    values = np.array([problem.value(c) for c in _random_configs(problem.space, 2000, seed=1)])
    assert values.min() >= problem.optimum - 1e-12
    # The optimum is not trivial: random search does not stumble on it.
    assert values.min() > problem.optimum + 1e-6


def test_noise_changes_observed_but_not_true_value():
    problem = PROBLEMS["train_net_noisy"]
    observed, true = problem.observe(problem.optimal_config, np.random.default_rng(0))
    assert true == pytest.approx(problem.optimum)
    assert observed != true


def test_method_specs_parse_keyword_arguments():
    method, kwargs = parse_method("pg[batch_size=16, learning_rate=0.05]")
    assert kwargs == {"batch_size": 16, "learning_rate": 0.05}
    assert parse_method("pg_b16")[1] == {"batch_size": 16}
    with pytest.raises(ValueError, match="unknown method"):
        parse_method("nope")


def test_tpe_adapter_suggests_valid_values_for_every_problem():
    for name in PROBLEMS:
        rows, _ = runner.run_fast(runner.Task("tpe", name, seed=0, workers=4, budget=12))
        assert len(rows) == 12
        assert rows["invalid"].sum() == 0, name


def test_runner_summary_and_plots_end_to_end(tmp_path):
    results, figures = tmp_path / "results", tmp_path / "figures"
    problems, methods = ["train_net", "needle100"], ["random", "pg"]
    argv = ["--problems", *problems, "--methods", *methods, "--seeds", "1", "--workers", "4",
            "--budget", "16", "--out", str(results), "--processes", "2"]
    assert runner.main(argv) == 0

    files = sorted((results / "trials").glob("*.parquet"))
    assert len(files) == 4
    rows = runner.load_results(results)
    assert list(rows.columns) == runner.COLUMNS
    assert len(rows) == 4 * 16
    for (_, problem), run in rows.groupby(["method", "problem"]):
        run = run.sort_values("trial")
        assert run["trial"].tolist() == list(range(1, 17))
        assert sorted(run["suggest_index"]) == list(range(1, 17))
        assert (run["regret"] >= 0).all()
        assert (np.diff(run["best_so_far"]) <= 0).all()
        assert np.allclose(run["best_so_far"], run["regret"].cummin())
        assert (np.diff(run["sim_time"]) >= 0).all()
        assert (np.diff(run["wall_time"]) >= 0).all()
        assert (run["invalid"] == 0).all()
        assert np.allclose(run["regret"], run["true_value"] - PROBLEMS[problem].optimum)
    # Trials complete out of order: with 4 in flight and random durations the
    # suggestion order differs from the completion order.
    assert (rows["suggest_index"] != rows["trial"]).any()
    # A second run with the same arguments finds every file and does nothing.
    mtimes = [f.stat().st_mtime_ns for f in files]
    assert runner.main(argv) == 0
    assert [f.stat().st_mtime_ns for f in files] == mtimes

    histories = sorted((results / "history").glob("*.parquet"))
    assert [h.name.split("__")[0] for h in histories] == ["pg", "pg"]
    history = pd.read_parquet(histories[0])
    assert {"update", "trials_used", "mean_reward", "best_reward", "entropy"} <= set(history.columns)

    out_md = tmp_path / "summary.md"
    assert summary.main(["--results", str(results), "--out", str(out_md)]) == 0
    text = out_md.read_text()
    assert "## 4 workers, budget 16" in text
    assert "Mean rank" in text
    assert text.count("| train_net | ") == 3  # two methods in the regret table, one rank row
    assert "| overall |" in text

    assert plots.main(["--results", str(results), "--out", str(figures), "--history-problems", "train_net"]) == 0
    pngs = sorted(p.name for p in figures.glob("*.png"))
    assert pngs == ["curves_w4_b16.png", "policy_pg_train_net_w4_s0.png"]
    assert all(0 < os.path.getsize(figures / p) < 300_000 for p in pngs)


def test_cost_windows_and_plot(tmp_path):
    argv = ["--methods", "random", "pg", "--max-trials", "60", "--processes", "1",
            "--results", str(tmp_path), "--out", str(tmp_path)]
    assert cost.main(argv) == 0
    table = pd.read_parquet(tmp_path / "cost" / "cost.parquet")
    assert set(table["method"]) == {"random", "pg"}
    assert table.groupby("method")["trials"].max().tolist() == [60, 60]
    assert (table["ms_per_trial"] > 0).all()
    assert (tmp_path / "cost.png").stat().st_size > 0


@pytest.mark.slow
def test_tune_mode_runs_real_trials_and_writes_the_same_rows(tmp_path):
    argv = ["--mode", "tune", "--methods", "pg", "--seeds", "1", "--workers", "2",
            "--budget", "4", "--out", str(tmp_path)]
    assert runner.main(argv) == 0
    rows = runner.load_results(tmp_path).sort_values("trial")
    assert list(rows.columns) == runner.COLUMNS
    assert set(rows["method"]) == {"pg"} and set(rows["problem"]) == {"sklearn_digits"}
    assert rows["trial"].tolist() == [1, 2, 3, 4]
    assert rows["value"].between(0, 1).all() and (rows["invalid"] == 0).all()
    assert (np.diff(rows["best_so_far"]) <= 0).all() and (rows["wall_time"] > 0).all()
