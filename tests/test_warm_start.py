"""Warm start through Ray's API: add_evaluated_point and add_evaluated_trials from a real experiment."""

from __future__ import annotations

import numpy as np
import pytest
import ray
from ray import tune

import trainables
from ray_pg import PGSearcher


def test_evaluated_points_move_the_policy():
    rng = np.random.default_rng(0)
    searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=0, batch_size=8)
    for _ in range(64):
        config = {"opt": str(rng.choice(["sgd", "adam", "rmsprop"])), "lr": float(10 ** rng.uniform(-5, -1)),
                  "layers": int(rng.integers(1, 8)), "dropout": float(rng.integers(0, 11) * 0.05), "epochs": 3}
        searcher.add_evaluated_point(config, trainables.score(config))
    history = searcher.history()
    assert searcher.num_updates == 8 and history["trials_used"].iloc[-1] == 64
    assert history["opt:p[adam]"].iloc[-1] > 0.4  # from 1/3: adam scores 0.5 better than the others
    lr_mean = history["lr:mean"].iloc[-1]
    assert abs(np.log10(lr_mean) + 2) < abs(np.log10(history["lr:mean"].iloc[0]) + 2) + 0.5


def test_evaluated_points_outside_the_space_name_the_key():
    searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min")
    good = {"opt": "adam", "lr": 1e-2, "layers": 3, "dropout": 0.1}
    with pytest.raises(ValueError, match="'opt'"):
        searcher.add_evaluated_point({**good, "opt": "lbfgs"}, 1.0)
    with pytest.raises(ValueError, match="'lr'"):
        searcher.add_evaluated_point({**good, "lr": 5.0}, 1.0)
    with pytest.raises(ValueError, match="'width'"):
        searcher.add_evaluated_point({**good, "width": 5}, 1.0)
    with pytest.raises(ValueError, match="every parameter"):
        searcher.add_evaluated_point({"opt": "adam"}, 1.0)
    searcher.add_evaluated_point(good, None, error=True)  # a failed trial counts as failed
    searcher.add_evaluated_point(good, 0.3, pruned=True, intermediate_values=[0.9, 0.5])
    assert searcher.num_failed == 1 and [entry["level"] for entry in searcher.get_state()["batch"]] == ["inf", 2.0]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_warm_start_from_a_result_grid_an_analysis_and_a_path(tmp_path):
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    try:
        grid = tune.Tuner(trainables.one_shot, param_space=trainables.SPACE,
                          tune_config=tune.TuneConfig(metric="loss", mode="min", num_samples=12, reuse_actors=True),
                          run_config=tune.RunConfig(storage_path=str(tmp_path), name="first", verbose=0)).fit()
        for source in (grid, grid._experiment_analysis, str(tmp_path / "first")):
            searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=1, batch_size=4)
            searcher.add_evaluated_trials(source, "loss")
            assert searcher.num_updates == 3 and searcher.history()["trials_used"].iloc[-1] == 12
            best = grid.get_best_result().metrics["loss"]
            assert searcher.history()["best_loss"].min() == pytest.approx(best)
        # The same experiment again teaches nothing new.
        searcher.add_evaluated_trials(grid, "loss")
        assert searcher.num_updates == 3 and searcher.get_state()["batch"] == []
        # Several metrics: one value per metric from each trial.
        two = tune.run(trainables.two_objectives, config=trainables.SPACE, num_samples=6, reuse_actors=True,
                       storage_path=str(tmp_path), verbose=0)
        both = PGSearcher(trainables.SPACE, metric=["loss", "latency"], mode=["min", "min"], seed=2, batch_size=3)
        both.add_evaluated_trials(two, ["loss", "latency"])
        assert both.num_updates == 2 and both.num_failed == 0
        # The warm-started searcher then runs a search of its own.
        tune.run(trainables.one_shot, search_alg=searcher, num_samples=8, reuse_actors=True, storage_path=str(tmp_path), verbose=0)
        assert searcher.num_updates == 5
    finally:
        ray.shutdown()
