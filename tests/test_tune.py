"""PGSearcher inside real Tune runs on a local Ray."""

from __future__ import annotations

import pytest
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter

import trainables
from ray_pg import PGSearcher
from ray_pg.pareto import hypervolume, pareto_front
from spaces import assert_valid

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module", autouse=True)
def local_ray_for_module():
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    yield
    ray.shutdown()


def configs_of(df) -> list[dict]:
    """Rebuild each trial's config from the results dataframe's config/ columns."""
    columns = [c for c in df.columns if c.startswith("config/")]
    return [{c[len("config/"):]: row[c] for c in columns} for _, row in df.iterrows()]


def check_dataframe(df, num_trials: int) -> None:
    assert len(df) == num_trials
    for config in configs_of(df):
        config = {**config, "lr": float(config["lr"]), "dropout": float(config["dropout"]),
                  "layers": int(config["layers"]), "epochs": int(config["epochs"])}
        assert_valid(trainables.SPACE, config)


def test_tune_run(tmp_path):
    searcher = PGSearcher(seed=0)
    analysis = tune.run(trainables.one_shot, config=trainables.SPACE, search_alg=searcher, metric="loss", mode="min",
                        num_samples=24, reuse_actors=True, storage_path=str(tmp_path), verbose=0)
    check_dataframe(analysis.results_df, 24)
    assert searcher.num_updates == 4 and searcher.metric == "loss"  # the automatic batch: 5 results
    assert len(searcher.history()) == 4 and searcher.history()["stopped_early"].sum() == 0
    # The experiment's folder gives the run's history back, as after a Tuner.restore.
    loaded = PGSearcher.from_experiment(analysis.experiment_path)
    columns = ["update", "best_loss", "opt:p[adam]", "lr:mean"]
    assert loaded.history()[columns].equals(searcher.history()[columns]) and loaded.update_rule == "natural"


def test_tuner_with_concurrency_limiter(tmp_path):
    searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=1)
    tuner = tune.Tuner(trainables.one_shot,
                       tune_config=tune.TuneConfig(search_alg=ConcurrencyLimiter(searcher, max_concurrent=2),
                                                   num_samples=24, reuse_actors=True),
                       run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
    grid = tuner.fit()
    assert not grid.errors
    df = grid.get_dataframe()
    check_dataframe(df, 24)
    assert searcher.batch_size == 5 and searcher.num_updates == 4
    best = grid.get_best_result(metric="loss", mode="min")
    assert best.metrics["loss"] == df["loss"].min()


def test_tuner_with_asha_and_failing_trials(tmp_path):
    searcher = PGSearcher(seed=2, batch_size=4)
    tuner = tune.Tuner(
        trainables.iterative,
        param_space=trainables.SPACE,
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=ASHAScheduler(max_t=9, grace_period=1),
                                    metric="loss", mode="min", num_samples=24, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
    df = tuner.fit().get_dataframe()
    check_dataframe(df, 24)
    assert (df["training_iteration"] < 9).any()  # ASHA stopped some trials early
    # ASHA stops trials at rungs (cut short: ranked by how far they went) and at max_t (full
    # length); a batch counts trials by the training they got, so 24 trials make fewer than 24 / 4 updates.
    history = searcher.history()
    # (A first batch can hold 4 trials that all ran to max_t before ASHA had rivals to cut them.)
    assert 1 <= searcher.num_updates < 6 and (history["batch_size"] >= 4).all() and (history["batch_size"] > 4).any()
    assert 0 < history["stopped_early"].sum() < history["trials_used"].iloc[-1]
    assert searcher.get_state()["update"] == "natural"  # one rule under every scheduler
    fifo = PGSearcher(seed=2, batch_size=6)
    tune.run(trainables.iterative, config=trainables.SPACE, search_alg=fifo, metric="loss", mode="min",
             num_samples=12, reuse_actors=True, storage_path=str(tmp_path), verbose=0)
    assert fifo.num_updates == 2 and fifo.history()["stopped_early"].sum() == 0  # all ran their course
    assert fifo.get_state()["update"] == "natural"

    failing = PGSearcher(seed=3, batch_size=4)
    grid = tune.Tuner(trainables.sometimes_fails, param_space=trainables.SPACE,
                      tune_config=tune.TuneConfig(search_alg=failing, metric="loss", mode="min", num_samples=12,
                                                  reuse_actors=True),
                      run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0)).fit()
    assert len(grid.errors) == failing.num_failed > 0
    assert failing.num_updates == 3  # errored trials still count, ranked worst


def test_asha_snippet_of_the_guide_learns_from_its_60_trials(tmp_path):
    """docs/guide/schedulers.md's snippet: under ASHA most trials stop at the first rung, so batches of 5 full
    trials' training made 2-5 updates in its 60 trials (random search, in effect); at least 6 now."""
    def train_fn(config):
        for epoch in range(1, 10):
            tune.report({"loss": abs(config["lr"] - 1e-2) + 1 / epoch})

    searcher = PGSearcher(seed=0)
    tune.Tuner(train_fn, param_space={"lr": tune.loguniform(1e-4, 1e-1)},
               tune_config=tune.TuneConfig(search_alg=searcher, metric="loss", mode="min", num_samples=60,
                                           scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3),
                                           max_concurrent_trials=2, reuse_actors=True),
               run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0)).fit()
    assert searcher.batch_size == 2 and searcher.num_updates >= 6, searcher.num_updates


def test_conditional_space_through_tune_run(tmp_path):
    searcher = PGSearcher(seed=4, batch_size=6)
    analysis = tune.run(trainables.conditional, config=trainables.CONDITIONAL_SPACE, search_alg=searcher,
                        metric="loss", mode="min", num_samples=18, reuse_actors=True, storage_path=str(tmp_path),
                        verbose=0, raise_on_failed_trial=False)
    df = analysis.results_df
    assert len(df) == 18 and df["loss"].notna().all()  # no trial failed its branch check
    assert searcher.num_updates == 3 and searcher.num_failed == 0
    assert {"opt=sgd/momentum:mean", "opt=adam/beta1:mean"} <= set(searcher.history().columns)


def test_multi_objective_tuner_and_pareto_helpers(tmp_path):
    searcher = PGSearcher(metric=["loss", "latency"], mode=["min", "min"], seed=5, batch_size=6)
    grid = tune.Tuner(trainables.two_objectives, param_space=trainables.SPACE,
                      tune_config=tune.TuneConfig(search_alg=searcher, num_samples=18, reuse_actors=True),
                      run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0)).fit()
    assert not grid.errors and searcher.num_updates == 3
    df = grid.get_dataframe()
    front = pareto_front(df, ["loss", "latency"], ["min", "min"])
    assert 1 <= len(front) < len(df)
    reference = [df["loss"].max() + 1, df["latency"].max() + 1]
    volume = hypervolume(df, ["loss", "latency"], ["min", "min"], reference)
    assert volume > 0 and hypervolume(front, ["loss", "latency"], ["min", "min"], reference) == pytest.approx(volume)
