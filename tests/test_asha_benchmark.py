"""The learning-curve benchmark (experiments/bench/curves.py): its problem, and a tiny real Tune run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.bench import curves as asha
from experiments.bench import curves_report, results
from experiments.bench.methods import RandomSearcher, parse_method
from experiments.bench.runner import run, tasks_for


def random_configs(n: int, seed: int = 0) -> list[dict]:
    searcher = RandomSearcher(asha.SPACE, seed=seed)
    return [searcher.suggest(str(i)) for i in range(n)]


def test_optimum_is_zero_at_the_stated_config_and_nowhere_lower():
    assert asha.final_loss(asha.OPTIMUM) == 0.0
    assert asha.loss_at(asha.OPTIMUM, asha.MAX_T) == pytest.approx(0.0, abs=1e-12)
    assert asha.OPTIMUM["optimizer"] != asha.OPTIMISERS[0]  # the best category is not the first
    finals = np.array([asha.final_loss(c) for c in random_configs(2000)])
    assert (finals > 0).all()
    # Moving any one parameter away from the optimum costs something.
    for key, other in [("optimizer", "rmsprop"), ("lr", 3e-3), ("layers", 3), ("dropout", 0.3)]:
        assert asha.final_loss({**asha.OPTIMUM, key: other}) > 0


def test_curves_fall_to_their_final_value_and_cross():
    t = np.arange(1, asha.MAX_T + 1)
    for config in random_configs(200, seed=1):
        curve = asha.loss_at(config, t)
        assert np.all(np.diff(curve) <= 0) and curve[0] > curve[-1]  # fast runs flatten out
        assert curve[-1] == pytest.approx(asha.final_loss(config), abs=1e-12)
    # A too-high learning rate converges fast to a worse value: it leads at t=1, loses at t=27.
    fast = {**asha.OPTIMUM, "lr": 1e-2}
    assert asha.loss_at(fast, 1) < asha.loss_at(asha.OPTIMUM, 1)
    assert asha.loss_at(fast, asha.MAX_T) > asha.loss_at(asha.OPTIMUM, asha.MAX_T)


def test_parallel_curves_rank_configs_alike_at_every_iteration():
    configs = [{**c, "curves": "parallel"} for c in random_configs(100, seed=3)]
    finals = [asha.final_loss(c) for c in configs]
    for t in (1, 3, 9):
        assert np.argsort([asha.loss_at(c, t) for c in configs]).tolist() == np.argsort(finals).tolist()
    with pytest.raises(ValueError, match="curves"):
        asha.time_constant({**asha.OPTIMUM, "curves": "wavy"})


def test_low_rungs_are_informative_but_imperfect():
    rho = asha.fidelity(num_configs=600, seed=2)
    assert 0.2 < rho[1] < rho[3] < rho[9] < 0.99


def test_tidy_rows_cut_the_budget_and_track_the_incumbent():
    configs = [{**asha.OPTIMUM, "lr": lr} for lr in (1e-1, 1e-2, 1e-3, 1e-4)]
    results = pd.DataFrame({
        "trial_id": ["a", "b", "c", "d"], "training_iteration": [27, 3, 27, 27],
        "loss": [float(asha.loss_at(c, it)) for c, it in zip(configs, [27, 3, 27, 27])],
        **{f"config/{k}": [c[k] for c in configs] for k in asha.SPACE}})
    completions = [{"trial_id": "b", "cum_budget": 12}, {"trial_id": "a", "cum_budget": 40},
                   {"trial_id": "c", "cum_budget": 70}, {"trial_id": "d", "cum_budget": 120}]
    rows = asha.tidy_rows(completions, results, budget=100)
    assert list(rows["trial_id"]) == ["b", "a", "c"] and list(rows["trial"]) == [1, 2, 3]
    assert math.isnan(rows["incumbent_regret"].iloc[0])  # b stopped at 3: no incumbent yet
    assert rows["incumbent_regret"].iloc[1] == pytest.approx(asha.final_loss(configs[0]))
    assert rows["incumbent_regret"].iloc[2] == 0.0


@pytest.fixture
def asha_ray(monkeypatch):
    """A local Ray whose workers can import experiments.bench.curves (the repository root on their path)."""
    import os

    import ray

    root = str(Path(asha.__file__).resolve().parents[2])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tiny_tune_run_writes_rows_and_summary(asha_ray, tmp_path):
    budget = asha.MAX_T * 6
    # Batches count training: a batch of 2 full trials lets this tiny budget make updates.
    pg, hb = "pg_asha[batch_size=2]", "random_hyperband"
    tasks = tasks_for("asha", methods=(pg, "random", hb), problems=("crossing",), seeds=[3], workers=(4,),
                      budget=budget)
    assert run(tasks, tmp_path) == []
    files = {t.method: results.run_file(tmp_path, t) for t in tasks}
    for path in files.values():
        rows = pd.read_parquet(path)
        assert len(rows) > 0 and rows["trial_id"].is_unique
        assert (np.diff(rows["cum_budget"]) >= 0).all() and rows["cum_budget"].max() <= budget
        # A trial's own iterations were spent by the time it completed.
        assert (rows["cum_budget"] >= rows["iterations"]).all()
        assert (rows["reached_max_t"] == (rows["iterations"] == asha.MAX_T)).all()
        reached = rows[rows["reached_max_t"]]
        assert np.allclose(reached["loss"], reached["final_loss"])
        incumbent = rows["incumbent_regret"].dropna()
        assert len(incumbent) and (np.diff(incumbent) <= 1e-12).all()
    fifo = pd.read_parquet(files["random"])
    assert len(fifo) == 6 and fifo["cum_budget"].iloc[-1] == budget and fifo["reached_max_t"].all()
    stopped = pd.read_parquet(files[pg])
    assert (stopped["iterations"] < asha.MAX_T).any()  # ASHA cut some trials at a rung
    hyperband = pd.read_parquet(files[hb])
    assert (hyperband["iterations"] < asha.MAX_T).any()  # HyperBand too, resuming paused trials
    history = results.load(tmp_path, "asha", "history")
    assert history.loc[history["method"] == pg, "stopped_early"].sum() > 0
    mtimes = [p.stat().st_mtime_ns for p in files.values()]
    assert run(tasks, tmp_path) == []  # existing files are skipped
    assert [p.stat().st_mtime_ns for p in files.values()] == mtimes

    md, png = tmp_path / "asha.md", tmp_path / "asha.png"
    text = curves_report.summarise(results.load(tmp_path, "asha"), history, md, png, "python -m tiny")
    assert md.read_text() == text and png.stat().st_size > 0
    assert f"| {pg} | 1 |" in text and "| random | 1 |" in text and f"| {hb} | 1 |" in text and "tiny" in text


def test_scheduler_methods_are_registry_entries():
    assert parse_method("pg_asha[batch_size=16]")[1] == {"batch_size": 16}
    assert parse_method("pg_hyperband")[0].scheduler == "hyperband"
    assert parse_method("random_asha")[0].scheduler == "asha" and parse_method("pg")[0].scheduler is None
    assert {parse_method(m)[0].scheduler for m in ("tpe_asha", "hyperopt_asha", "ablation_asha")} == {"asha"}
    assert parse_method("bohb")[0].scheduler == "bohb"
    for bad in ("pg_ashaa", "pg_asha[batch_size=16", "tpe_ashaa"):
        with pytest.raises(ValueError, match="unknown method"):
            parse_method(bad)


def test_real_curves_are_seeded_and_a_strong_penalty_cannot_win():
    """A config's curve is the same in every trial (so the last epoch's loss is its true final loss), and
    the curves tell configs apart."""
    from experiments.bench import curves_real

    config = {"learning_rate": "constant", "eta0": 0.01, "alpha": 1e-4, "l1_ratio": 0.1, "average": False}
    curves = [[curves_real._epoch(model, t) for t in range(1, 6)]
              for model in (curves_real._model("sgd_digits", config) for _ in range(2))]
    assert curves[0] == curves[1] and curves[0][-1] < curves[0][0]
    strong = curves_real._model("sgd_digits", {**config, "alpha": 0.1})
    assert min(curves_real._epoch(strong, t) for t in range(1, 6)) > curves[0][-1]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_rivals_run_real_curves_through_tune(asha_ray, tmp_path):
    """BOHB under HyperBandForBOHB (pausing and resuming the model) and TPE under ASHA on a real model."""
    budget = asha.MAX_T * 4
    tasks = tasks_for("asha", methods=("bohb", "tpe_asha"), problems=("sgd_digits",), seeds=[0], workers=(4,),
                      budget=budget)
    assert run(tasks, tmp_path) == []
    for task in tasks:
        rows = pd.read_parquet(results.run_file(tmp_path, task))
        assert (rows["iterations"] < asha.MAX_T).any() and rows["cum_budget"].max() <= budget
        reached = rows[rows["reached_max_t"]]
        assert len(reached) and np.allclose(reached["loss"], reached["final_loss"])
        assert rows["final_loss"].isna().equals(~rows["reached_max_t"])
