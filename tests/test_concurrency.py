"""With no concurrency setting, Tune keeps as many PGSearcher trials pending as the cluster can start."""

from __future__ import annotations

import gc
import logging
import os
import time

import pytest
import ray
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.search import ConcurrencyLimiter

import trainables
from ray_pg import PGSearcher, concurrency


class PendingCounter(tune.Callback):
    """The most trials PENDING at once, counted after every step of Tune's loop."""

    def __init__(self) -> None:
        self.most_pending = 0

    def on_step_end(self, iteration: int, trials: list[Trial], **info) -> None:
        self.most_pending = max(self.most_pending, sum(trial.status == Trial.PENDING for trial in trials))


def sleepy(config: dict) -> dict:
    time.sleep(0.5)
    return {"loss": trainables.score(config)}


@pytest.fixture
def twelve_cpu_cluster():
    """A head with 2 CPUs and a worker with 10 (logical) CPUs."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    cluster.add_node(num_cpus=10)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    yield
    ray.shutdown()
    cluster.shutdown()


def _run(tmp_path, searcher, *, space=trainables.SPACE, **kwargs) -> PendingCounter:
    counter = PendingCounter()
    analysis = tune.run(sleepy, config=space, search_alg=searcher, metric="loss", mode="min", num_samples=16,
                        reuse_actors=True, storage_path=str(tmp_path), verbose=0, callbacks=[counter], **kwargs)
    assert len(analysis.trials) == 16
    assert all(trial.status == Trial.TERMINATED for trial in analysis.trials)
    return counter


@pytest.mark.slow
def test_no_setting_keeps_as_many_pending_as_the_cluster_has_cpus(twelve_cpu_cluster, tmp_path, caplog):
    assert concurrency.ENV not in os.environ
    assert concurrency.pending_for_cluster() == 12
    with caplog.at_level(logging.WARNING, logger="ray_pg"):
        counter = _run(tmp_path, PGSearcher(seed=0))
    # Tune's rule for custom searchers would have kept one pending.
    assert concurrency.MIN_PENDING < counter.most_pending <= 12
    assert concurrency.ENV not in os.environ  # the environment is as it was
    assert not [record for record in caplog.records if concurrency.ENV in record.getMessage()]


@pytest.mark.slow
def test_space_given_to_the_searcher_only_warns_and_keeps_one_pending(twelve_cpu_cluster, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ray_pg"):
        counter = _run(tmp_path, PGSearcher(trainables.SPACE, metric="loss", mode="min", seed=0), space={})
    assert counter.most_pending == 1
    warnings = [record for record in caplog.records if concurrency.ENV in record.getMessage()]
    assert len(warnings) == 1
    assert "max_concurrent_trials" in warnings[0].getMessage()


def test_a_user_setting_wins(monkeypatch):
    searcher = PGSearcher(seed=0)
    monkeypatch.setenv(concurrency.ENV, "3")
    searcher.set_search_properties("loss", "min", trainables.SPACE)
    assert os.environ[concurrency.ENV] == "3"
    searcher.suggest("a")
    assert os.environ[concurrency.ENV] == "3"


def test_a_concurrency_limiter_wins(caplog):
    searcher = PGSearcher(seed=0)
    limiter = ConcurrencyLimiter(searcher, max_concurrent=4)
    with caplog.at_level(logging.WARNING, logger="ray_pg"):
        limiter.set_search_properties("loss", "min", trainables.SPACE)
        assert concurrency.ENV not in os.environ  # Tune takes the limiter's 4
        limiter.suggest("a")
    assert concurrency.ENV not in os.environ
    assert not caplog.records


def test_the_window_opens_at_set_up_and_closes_at_the_first_suggestion():
    searcher = PGSearcher(seed=0)
    searcher.set_search_properties("loss", "min", trainables.SPACE)
    # Without Ray: no cluster to count, the first batch's worth.
    assert os.environ[concurrency.ENV] == str(concurrency.MIN_PENDING)
    searcher.suggest("a")
    assert concurrency.ENV not in os.environ
    searcher.suggest("b")
    assert concurrency.ENV not in os.environ


def test_a_failed_set_up_opens_nothing_and_a_searcher_never_asked_closes_when_collected():
    with pytest.raises(ValueError):
        PGSearcher(seed=0).set_search_properties("loss", "maximise", trainables.SPACE)
    assert concurrency.ENV not in os.environ
    searcher = PGSearcher(seed=0)
    searcher.set_search_properties("loss", "min", trainables.SPACE)
    assert concurrency.ENV in os.environ
    del searcher
    gc.collect()
    assert concurrency.ENV not in os.environ
