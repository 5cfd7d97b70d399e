"""PGSearcher on a multi-node Ray cluster: scheduling, lost nodes, a killed driver.

The nodes are separate raylets on this machine (`ray.cluster_utils.Cluster`);
the GPU is declared, not real: Ray schedules and assigns it all the same.
Trainables, callbacks and the fault injectors live in `cluster_helpers.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray import tune
from ray.cluster_utils import Cluster

import cluster_helpers as helpers
from ray_pg import PGSearcher

pytestmark = pytest.mark.slow

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A head node and no workers yet; the test adds its own. Shut down after the test."""
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def connect(cluster: Cluster) -> None:
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, configure_logging=False)


def run_config(tmp_path: Path, name: str, **kwargs) -> tune.RunConfig:
    return tune.RunConfig(name=name, storage_path=str(tmp_path), verbose=0, **kwargs)


# --- a. scheduling --------------------------------------------------------------------


@pytest.mark.timeout(150)
def test_gpu_trials_land_on_gpu_node_and_cpu_trials_spread(cluster, tmp_path):
    cpu_node = cluster.add_node(num_cpus=1)
    gpu_node = cluster.add_node(num_cpus=1, num_gpus=1)
    connect(cluster)
    assert ray.cluster_resources().get("GPU") == 1

    devices = ["gpu", "cpu", "cpu", "cpu", "gpu", "cpu", "gpu", "cpu"]
    searcher = PGSearcher(
        metric=helpers.METRIC, mode=helpers.MODE, batch_size=2, seed=0,
        points_to_evaluate=[{"device": d} for d in devices],
    )
    tuner = tune.Tuner(
        helpers.probe_trainable(n_iters=3, tick=0.4),
        param_space=helpers.space(with_device=True),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=10, reuse_actors=True),
        run_config=run_config(tmp_path, "placement"),
    )
    results = tuner.fit()
    df = results.get_dataframe()

    assert results.num_errors == 0 and results.num_terminated == 10 and len(df) == 10
    gpu_trials = df[df["config/device"] == "gpu"]
    cpu_trials = df[df["config/device"] == "cpu"]
    assert len(gpu_trials) >= devices.count("gpu") and len(cpu_trials) >= devices.count("cpu")
    # Every GPU trial ran on the GPU node, holding its one (declared) GPU, id 0.
    assert set(gpu_trials["node_id"]) == {gpu_node.unique_id}
    assert set(gpu_trials["gpu_ids"]) == {"0"} and set(gpu_trials["cuda_visible_devices"]) == {"0"}
    # CPU trials got no GPU and ran on several nodes at once.
    assert set(cpu_trials["gpu_ids"]) == {""}
    assert len(set(cpu_trials["node_id"])) >= 2
    assert set(cpu_trials["node_id"]) <= {cluster.head_node.unique_id, cpu_node.unique_id, gpu_node.unique_id}
    assert searcher.num_updates == 10 // 2 and searcher.num_failed == 0
