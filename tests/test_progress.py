"""ProgressBar: counts what Tune reports on a real run, unwraps searchers, survives pickling."""

from __future__ import annotations

import io
import pickle

import pytest
from ray import tune
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.repeater import Repeater

import trainables
from ray_pg import PGSearcher, ProgressBar


def test_counts_what_tune_reports(local_ray, tmp_path):
    searcher = PGSearcher(batch_size=4, seed=0)
    stream = io.StringIO()
    bar = ProgressBar(searcher, file=stream)
    grid = tune.Tuner(trainables.sometimes_fails, param_space=trainables.SPACE,
                      tune_config=tune.TuneConfig(search_alg=searcher, metric="loss", mode="min", num_samples=16,
                                                  reuse_actors=True),
                      run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0, callbacks=[bar])).fit()
    df = grid.get_dataframe()
    assert bar.total == 16
    assert bar.done == len(grid) == 16
    assert bar.errors == len(grid.errors) > 0  # rmsprop trials fail
    assert bar.running == 0
    assert bar.best == pytest.approx(df["loss"].min())
    assert searcher.num_updates > 0
    last_line = stream.getvalue().rsplit("\r", 1)[-1]
    assert "16/16" in last_line
    assert f"best loss={bar.best:.4g}" in last_line
    assert f"errors={bar.errors}" in last_line
    assert f"updates={searcher.num_updates}" in last_line


def test_takes_metric_mode_and_updates_from_a_wrapped_searcher():
    searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min")
    bar = ProgressBar(ConcurrencyLimiter(Repeater(searcher, repeat=2), max_concurrent=4), file=io.StringIO())
    for value in (3.0, 1.0, float("nan"), 2.0, "n/a"):
        bar.on_trial_result(iteration=0, trials=[], trial=None, result={"loss": value})
    assert bar.best == 1.0
    assert "best loss=1" in bar._postfix() and "updates=0" in bar._postfix()


def test_first_metric_of_a_multi_objective_searcher_and_explicit_metric():
    searcher = PGSearcher(metric=["loss", "latency"], mode=["min", "max"])
    by_searcher = ProgressBar(searcher)
    explicit = ProgressBar(searcher, metric="latency", mode="max")
    for result in ({"loss": 2.0, "latency": 5.0}, {"loss": 1.0, "latency": 9.0}):
        by_searcher.on_trial_result(iteration=0, trials=[], trial=None, result=result)
        explicit.on_trial_result(iteration=0, trials=[], trial=None, result=result)
    assert by_searcher.best == 1.0
    assert explicit.best == 9.0


def test_without_a_searcher_or_metric_shows_no_best():
    bar = ProgressBar()
    bar.on_trial_result(iteration=0, trials=[], trial=None, result={"loss": 1.0})
    assert bar.best is None
    assert bar._postfix() == "running=0"


def test_pickles_after_setup_without_its_stream():
    bar = ProgressBar(file=io.StringIO())
    bar.setup(total_num_samples=5)
    copy = pickle.loads(pickle.dumps(bar))
    assert copy.total == 5 and copy._bar is None
    bar.on_experiment_end(trials=[])


@pytest.mark.parametrize("kwargs", [{"mode": "maximise"}, {"refresh_s": -1.0}])
def test_bad_arguments_show_the_value(kwargs):
    with pytest.raises(ValueError, match=str(next(iter(kwargs.values())))):
        ProgressBar(**kwargs)
