"""What PGSearcher learns of the Tune run around it (ray_pg/runtime.py), in real Tune runs and without Tune."""

from __future__ import annotations

import logging
import os
import pickle
import sys
import threading

import cloudpickle
import numpy as np
import pytest
import ray
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import Repeater
from ray.tune.stopper import MaximumIterationStopper

import trainables
from ray_pg import PGSearcher
from ray_pg.results import batch_scores

ENV = "TUNE_MAX_PENDING_TRIALS_PG"


@pytest.fixture(scope="module")
def local_ray_for_module():
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    yield
    ray.shutdown()


class TrialCounter(tune.Callback):
    """Trials created before the first result, and the most trials PENDING at once."""

    def __init__(self) -> None:
        self.before_first_result: int | None = None
        self.most_pending = 0

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info) -> None:
        if self.before_first_result is None:
            self.before_first_result = len(trials)

    def on_step_end(self, iteration: int, trials: list[Trial], **info) -> None:
        self.most_pending = max(self.most_pending, sum(trial.status == Trial.PENDING for trial in trials))


def run(tmp_path, trainable, searcher, **kwargs):
    kwargs = {"metric": "loss", "mode": "min", "reuse_actors": True, "verbose": 0, **kwargs}
    return tune.run(trainable, search_alg=searcher, storage_path=str(tmp_path), **kwargs)


@pytest.mark.slow
def test_a_trial_that_quit_early_never_outranks_one_a_stopper_capped(local_ray_for_module, tmp_path):
    searcher = PGSearcher(seed=0, batch_size=100)  # no update: every trial stays in the batch
    run(tmp_path, trainables.quits_or_runs_on, searcher, config=trainables.SPACE, metric="acc", mode="max",
        num_samples=12, stop=MaximumIterationStopper(5))
    batch = searcher.get_state()["batch"]
    rewards, levels = np.array([e["rewards"] for e in batch]), np.array([np.inf if e["level"] is None else e["level"]
                                                                          for e in batch], dtype=float)
    scores = batch_scores(rewards, levels)
    quit_early, capped = rewards[:, 0] < 0.1, rewards[:, 0] > 0.5
    assert quit_early.any() and capped.any() and quit_early.sum() + capped.sum() == len(batch)
    assert scores[quit_early].max() < scores[capped].min()
    assert np.isinf(levels[capped]).all()  # the cap is the full length


@pytest.mark.slow
def test_two_cpu_trials_on_two_cpus_are_not_drawn_ahead_of_the_first_result(local_ray_for_module, tmp_path):
    counter = TrialCounter()
    searcher = PGSearcher(seed=0)
    run(tmp_path, tune.with_resources(trainables.sleepy, {"cpu": 2}), searcher, config=trainables.SPACE,
        num_samples=6, callbacks=[counter])
    assert counter.before_first_result <= searcher.batch_size


@pytest.mark.slow
def test_a_failed_fit_leaves_tunes_pending_limit_as_it_was(local_ray_for_module, tmp_path):
    searcher = PGSearcher(seed=0)  # the user's, alive after the failed fit
    with pytest.raises(ValueError, match="scheduler"):  # Tune's own check, after set_search_properties
        run(tmp_path, trainables.one_shot, searcher, config=trainables.SPACE, num_samples=4,
            scheduler=ASHAScheduler(metric="loss", mode="min"))
    assert ENV not in os.environ
    counter = TrialCounter()
    analysis = run(tmp_path, trainables.one_shot, None, config=trainables.SPACE, num_samples=200,
                   callbacks=[counter])
    assert len(analysis.trials) == 200
    assert counter.most_pending >= 190, counter.most_pending  # random search keeps up to 200 pending (200 measured)
    assert searcher.metric == "loss"


@pytest.mark.slow
def test_under_asha_the_rule_does_not_depend_on_where_the_space_was_given(local_ray_for_module, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="ray_pg")
    to_tune = PGSearcher(seed=0)
    run(tmp_path, trainables.iterative, to_tune, config=trainables.SPACE, num_samples=3,
        scheduler=ASHAScheduler(max_t=9, grace_period=1))
    given_here = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=0)
    run(tmp_path, trainables.iterative, given_here, metric=None, mode=None, num_samples=3,
        scheduler=ASHAScheduler(metric="loss", mode="min", max_t=9, grace_period=1))
    assert to_tune.update_rule == given_here.update_rule == "natural"  # one rule under every scheduler
    said = [record.getMessage() for record in caplog.records]
    assert sum("AsyncHyperBandScheduler" in line and "iteration >= 9" in line for line in said) == 2
    assert sum("'natural' rule" in line for line in said) == 2


@pytest.mark.slow
def test_repeater_with_several_metrics_is_refused_before_any_trial_runs(local_ray_for_module, tmp_path):
    searcher = PGSearcher(metric=["loss", "latency"], mode=["min", "min"], seed=0)
    with pytest.raises(ValueError, match="Repeater averages one metric"):
        run(tmp_path, trainables.two_objectives, Repeater(searcher, repeat=2), config=trainables.SPACE,
            metric=None, mode=None, num_samples=4)
    assert not list(tmp_path.rglob("result.json"))  # no trial was started


def test_under_a_repeater_the_budget_counts_each_group_of_repeats(local_ray_for_module, tmp_path):
    """10 trials in groups of 3 are 4 suggestions (the last group cut short), not 10 // 3 = 3: past its budget the
    pg update sharpened every suggestion at once."""
    searcher = PGSearcher(seed=0)
    run(tmp_path, trainables.one_shot, Repeater(searcher, repeat=3), config=trainables.SPACE, num_samples=10)
    assert searcher.get_state()["num_samples"] == searcher.get_state()["num_suggested"] == 4


@pytest.mark.slow
def test_a_run_without_a_setting_warns_once_what_to_set(local_ray_for_module, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ray_pg"):
        run(tmp_path, trainables.one_shot, PGSearcher(seed=0), config=trainables.SPACE, num_samples=3)
        run(tmp_path, trainables.one_shot, PGSearcher(seed=0), config=trainables.SPACE, num_samples=3,
            max_concurrent_trials=2)
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and "max_concurrent_trials" in warnings[0]


def test_searchers_driven_without_tune_say_nothing_of_pending_trials(caplog):
    with caplog.at_level(logging.WARNING, logger="ray_pg"):
        for seed in range(40):
            searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=seed)
            for i in range(3):
                searcher.on_trial_complete(str(i), {"loss": trainables.score(searcher.suggest(str(i)))})
    assert not caplog.records
    assert ENV not in os.environ


def test_tune_without_a_mode_is_told_so_at_set_up():
    with pytest.raises(ValueError, match="mode=None"):
        PGSearcher(seed=0).set_search_properties("loss", None, trainables.SPACE, num_samples=10)


@pytest.mark.slow
def test_threads_share_one_searcher_without_losing_a_trial():
    for repetition in range(20):
        searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=repetition)
        errors = []

        def work(thread: int) -> None:
            try:
                for i in range(500):
                    trial_id = f"{thread}-{i}"
                    config = searcher.suggest(trial_id)
                    searcher.on_trial_complete(trial_id, {"loss": trainables.score(config)})
            except Exception as exc:  # noqa: BLE001 - the test reports any error a thread met
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        state = searcher.get_state()
        assert not errors, (repetition, errors)
        assert state["trials_used"] + len(state["batch"]) == 2000 and state["num_suggested"] == 2000
        assert np.isfinite(np.array(state["policy"], dtype=float)).all()


def test_a_searcher_pickled_while_another_thread_completes_trials_unpickles_whole():
    """Pickle reads a searcher's attributes after ``__getstate__`` returns: unless they are copied under the
    lock, a copy catches another thread halfway through suggest or on_trial_complete (an update half done,
    a trial counted but not yet pending) or fails on a dict that changes size while it is read."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often: each pickle overlaps many calls
    try:
        for repetition in range(5):
            searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=repetition)
            done, errors, copies = threading.Event(), [], []

            def work() -> None:
                try:
                    for i in range(300):
                        searcher.on_trial_complete(str(i), {"loss": trainables.score(searcher.suggest(str(i)))})
                except Exception as exc:  # noqa: BLE001 - the test reports any error the thread met
                    errors.append(exc)
                finally:
                    done.set()

            thread = threading.Thread(target=work)
            thread.start()
            try:
                while not done.is_set():
                    copies.append(pickle.loads(cloudpickle.dumps(searcher)))
            finally:
                thread.join()
            assert not errors and copies, (repetition, errors)
            for copy in copies:
                state = copy.get_state()
                assert (state["trials_used"] + len(state["batch"]) + len(state["pending"]) == state["num_suggested"]
                        and state["num_updates"] == len(state["history"])), (repetition, state["num_suggested"])
    finally:
        sys.setswitchinterval(interval)


def test_a_trial_that_ran_its_own_length_ranks_with_known_results_under_a_loose_cap():
    """ASHA's max_t (100) above every trial's own length (10): trials that ended themselves at the longest
    length ran their course, so a known result of loss 5 does not outrank them."""
    searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=0, batch_size=100,
                          scheduler=ASHAScheduler(metric="loss", mode="min", max_t=100))
    searcher.add_evaluated_point({"opt": "adam", "lr": 1e-2, "layers": 3, "dropout": 0.1}, 5.0)
    for k in range(4):
        config = searcher.suggest(str(k))
        for it in range(1, 10):
            searcher.on_trial_result(str(k), {"loss": 1.0, "training_iteration": it})
        searcher.on_trial_result(str(k), {"loss": 0.1 * k, "training_iteration": 10})
        searcher.on_trial_complete(str(k), {"loss": 0.1 * k, "training_iteration": 10})
    batch = searcher.get_state()["batch"]
    levels = np.array([np.inf if e["level"] in (None, "inf") else e["level"] for e in batch], dtype=float)
    scores = batch_scores(np.array([e["rewards"] for e in batch], dtype=float), levels)
    assert np.isinf(levels).all() and scores.argmin() == 0  # the known loss of 5 ranks last


def test_earlier_trials_cut_short_are_known_by_their_length_and_learnt_at_it():
    from types import SimpleNamespace

    from ray.tune.experiment import Trial

    from ray_pg.runtime import earlier_trials

    config = {"opt": "adam", "lr": 1e-2, "layers": 3, "dropout": 0.1, "epochs": 3}
    trials = [SimpleNamespace(trial_id=f"t{i}", config=config, status=Trial.TERMINATED,
                              last_result={"loss": 0.5, "training_iteration": it, "done": True})
              for i, it in enumerate((12, 1, 3, 12))]  # Tune marks every trial it stops done
    assert [cut for *_, cut in earlier_trials(trials, "loss")] == [None, 1, 3, None]
    searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=0)
    searcher.add_evaluated_trials(trials[1:3], "loss")  # two trials cut early: far less than a batch of 5
    assert searcher.num_updates == 0 and len(searcher.get_state()["batch"]) == 2


def test_a_trial_that_failed_to_be_learnt_is_learnt_when_given_again():
    from types import SimpleNamespace

    from ray.tune.experiment import Trial

    trial = SimpleNamespace(trial_id="t0", config={"opt": "adam"}, status=Trial.TERMINATED,
                            last_result={"loss": 0.5, "training_iteration": 1})
    searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=0)
    with pytest.raises(ValueError, match="every parameter"):
        searcher.add_evaluated_trials([trial], "loss")
    trial.config = {"opt": "adam", "lr": 1e-2, "layers": 3, "dropout": 0.1}
    searcher.add_evaluated_trials([trial], "loss")
    assert len(searcher.get_state()["batch"]) == 1


def test_a_searcher_pickled_by_an_older_release_is_refused_by_name():
    import pickle

    from ray_pg.state import CheckpointError

    searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=0)
    assert pickle.loads(pickle.dumps(searcher)).suggest("a") == searcher.suggest("a")  # this release's own
    older = {key: value for key, value in searcher.__getstate__().items() if key != "_learner"}
    with pytest.raises(CheckpointError, match="older ray_pg"):
        PGSearcher.__new__(PGSearcher).__setstate__(older)


def test_a_searcher_pickled_before_the_cached_sizes_and_factors_runs_on_as_this_releases():
    """Pickled on 2026-12-04 morning: no cached sizes on the learner, the policy's cache (cov, L) without L^-1,
    bounded parameters without their range."""
    import pickle

    searcher = PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=0)
    for i in range(12):
        searcher.on_trial_complete(str(i), {"loss": float(searcher.suggest(str(i))["dropout"])})
    same = pickle.loads(pickle.dumps(searcher))
    state = searcher.__getstate__()
    learner = state["_learner"]
    learner.__dict__.pop("_sizes", None)
    learner.policy._chol = (learner.policy.cov, learner.policy.cholesky())
    for param in state["_space"].params:
        param.__dict__.pop("_range", None)
    older = PGSearcher.__new__(PGSearcher)
    older.__setstate__(state)
    for i in range(12, 30):
        assert older.suggest(str(i)) == same.suggest(str(i))
        older.on_trial_complete(str(i), {"loss": float(i % 7)})
        same.on_trial_complete(str(i), {"loss": float(i % 7)})
    assert older.num_updates == same.num_updates > 2
