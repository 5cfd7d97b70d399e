"""How Tune really calls a searcher: schedulers, class trainables, wrappers, budgets (real Tune on a local Ray)."""

from __future__ import annotations

import logging

import pytest
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, HyperBandScheduler
from ray.tune.search import ConcurrencyLimiter, Repeater

import trainables
from ray_pg import PGSearcher

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SPACE = {key: value for key, value in trainables.SPACE.items() if key != "epochs"}


@pytest.fixture(scope="module", autouse=True)
def local_ray_for_module():
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    yield
    ray.shutdown()


def fit(trainable, searcher, tmp_path, num_samples: int, param_space=None, **tune_config):
    tune_config.setdefault("metric", "loss")
    tune_config.setdefault("mode", "min")
    return tune.Tuner(trainable, param_space=param_space or {},
                      tune_config=tune.TuneConfig(search_alg=searcher, num_samples=num_samples, reuse_actors=True,
                                                  **tune_config),
                      run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0)).fit()


def test_hyperband_cut_trials_are_ranked_not_dropped(tmp_path):
    searcher = PGSearcher(seed=0, batch_size=3)
    grid = fit(trainables.iterative, searcher, tmp_path, 12, trainables.SPACE,
               scheduler=HyperBandScheduler(max_t=9, reduction_factor=3))
    df = grid.get_dataframe()
    assert not grid.errors and (df["training_iteration"] < 9).any()  # HyperBand cut some trials
    learnt = searcher.history()["trial_ids"].sum() + [entry["trial_id"] for entry in searcher.get_state()["batch"]]
    assert sorted(learnt) == sorted(df["trial_id"])  # every trial that reported reached a batch
    iterations = df.set_index("trial_id")["training_iteration"]
    cut = sum(iterations[tid] < 9 for tid in searcher.history()["trial_ids"].sum())
    assert searcher.history()["stopped_early"].sum() == cut > 0


def test_asha_trials_that_reach_max_t_ran_their_course(tmp_path):
    searcher = PGSearcher(seed=1, batch_size=2)
    grid = fit(trainables.iterative, searcher, tmp_path, 16, trainables.SPACE,
               scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3))
    iterations = grid.get_dataframe().set_index("trial_id")["training_iteration"]
    assert (iterations == 9).any() and (iterations < 9).any()
    history = searcher.history()
    for ids, stopped_early in zip(history["trial_ids"], history["stopped_early"]):
        assert stopped_early == sum(iterations[tid] < 9 for tid in ids)


def test_class_trainable_that_ends_itself_ranks_by_its_metric(tmp_path):
    # The 2-epoch runs score better; Tune withholds a class trainable's done=True result
    # from on_trial_result, but no scheduler cut them: they must rank by the loss. (A time
    # budget adds Tune's TimeoutStopper, which stops all trials or none.)
    searcher = PGSearcher(seed=2, batch_size=4)
    fit(trainables.Epochs, searcher, tmp_path, 16, trainables.EPOCHS_SPACE, max_concurrent_trials=2,
        time_budget_s=600)
    history = searcher.history()
    assert searcher.num_updates == 4 and history["stopped_early"].sum() == 0
    assert history["epochs:p[2]"].iloc[-1] > 0.5


def test_evaluated_rewards_with_metric_and_mode_in_tune_config(tmp_path):
    points = [{"opt": "adam", "lr": 1e-2, "layers": 3, "dropout": 0.1},
              {"opt": "sgd", "lr": 1e-4, "layers": 7, "dropout": 0.5}] * 2
    searcher = PGSearcher(points_to_evaluate=points, evaluated_rewards=[0.1, 2.0, 0.1, 2.0], batch_size=4, seed=3)
    grid = fit(trainables.one_shot, searcher, tmp_path, 4, trainables.SPACE)
    assert not grid.errors and len(grid.get_dataframe()) == 4  # the evaluated points are not run
    assert searcher.num_updates == 2
    assert searcher.history()["trial_ids"].iloc[0] == [f"evaluated_rewards[{i}]" for i in range(4)]


def test_budget_reaches_a_searcher_with_its_own_space(tmp_path, caplog):
    # param_space with constants only: Tune calls set_search_properties, which must keep the budget.
    searcher = PGSearcher(SPACE, metric="loss", mode="min", seed=4)
    fit(trainables.one_shot, searcher, tmp_path, 10, {"epochs": 3})
    assert searcher.get_state()["num_samples"] == 10
    # Under a Repeater the searcher makes num_samples / repeat suggestions.
    repeated = PGSearcher(seed=5)
    fit(trainables.one_shot, Repeater(repeated, repeat=2), tmp_path, 8, trainables.SPACE)
    assert repeated.get_state()["num_samples"] == 4 and repeated.get_state()["num_suggested"] == 4
    # An empty param_space: Tune tells nothing, and the searcher says so.
    caplog.set_level(logging.INFO, logger="ray_pg")
    unknown = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=6)
    fit(trainables.one_shot, unknown, tmp_path, 4)
    assert unknown.get_state()["num_samples"] is None
    assert any("num_samples" in record.getMessage() for record in caplog.records)


def test_concurrency_limiter_with_synchronous_batches(tmp_path):
    searcher = PGSearcher(seed=7)
    fit(trainables.one_shot, ConcurrencyLimiter(searcher, max_concurrent=4, batch=True), tmp_path, 12,
        trainables.SPACE)
    assert searcher.history()["batch_size"].tolist() == [4, 4, 4]


def test_updates_are_logged_and_history_joins_tune_results(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="ray_pg")
    searcher = PGSearcher(seed=8, batch_size=4)
    grid = fit(trainables.one_shot, searcher, tmp_path, 8, trainables.SPACE)
    assert sum("update" in record.getMessage() for record in caplog.records if record.name.startswith("ray_pg")) == 2
    assert sorted(searcher.history()["trial_ids"].sum()) == sorted(grid.get_dataframe()["trial_id"])
