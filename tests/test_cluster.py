"""PGSearcher on a multi-node Ray cluster: scheduling, lost nodes, a killed driver.

The nodes are separate raylets on this machine (`ray.cluster_utils.Cluster`);
the GPU is declared, not real: Ray schedules and assigns it all the same.
Trainables, callbacks and the fault injectors live in `cluster_helpers.py`.
"""

from __future__ import annotations

import json
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
        tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=10, max_concurrent_trials=3, reuse_actors=True
        ),
        run_config=run_config(tmp_path, "placement"),
    )
    results = tuner.fit()
    df = results.get_dataframe()

    assert results.num_errors == 0 and results.num_terminated == 10 and len(df) == 10
    gpu_trials = df[df["config/device"] == "gpu"]
    cpu_trials = df[df["config/device"] == "cpu"]
    assert len(gpu_trials) >= devices.count("gpu") and len(cpu_trials) >= devices.count("cpu")
    # Every GPU trial ran on the GPU node, holding its one (declared) GPU, id 0.
    assert set(gpu_trials["node_id"]) == {gpu_node.node_id}
    assert set(gpu_trials["gpu_ids"]) == {"0"} and set(gpu_trials["cuda_visible_devices"]) == {"0"}
    # CPU trials got no GPU and ran on several nodes at once.
    assert set(cpu_trials["gpu_ids"]) == {""}
    assert len(set(cpu_trials["node_id"])) >= 2
    assert set(cpu_trials["node_id"]) <= {cluster.head_node.node_id, cpu_node.node_id, gpu_node.node_id}
    assert searcher.num_updates == 10 // 2 and searcher.num_failed == 0


# --- b. a worker node lost mid-experiment ----------------------------------------------


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    "graceful, max_failures",
    [(True, 1), (False, 2), (False, 0)],
    ids=["graceful-retry", "sigkill-retry", "sigkill-no-retry"],
)
def test_node_loss(cluster, tmp_path, graceful, max_failures):
    cluster.add_node(num_cpus=1)
    victim = cluster.add_node(num_cpus=1)
    connect(cluster)
    name = f"loss-{graceful}-{max_failures}"
    helpers.register_cluster(name, cluster)
    num_samples, batch_size = 8, 2
    searcher = PGSearcher(metric=helpers.METRIC, mode=helpers.MODE, batch_size=batch_size, seed=1)
    tuner = tune.Tuner(
        helpers.cpu_trainable(n_iters=4, tick=0.3),
        param_space=helpers.space(),
        tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=num_samples, max_concurrent_trials=3, reuse_actors=True
        ),
        run_config=run_config(
            tmp_path, "loss",
            failure_config=tune.FailureConfig(max_failures=max_failures),
            callbacks=[helpers.RemoveNodeMidRun(name, victim.node_id, graceful=graceful)],
        ),
    )
    try:
        start = time.monotonic()
        results = tuner.fit()
        elapsed = time.monotonic() - start
    finally:
        helpers.forget_cluster(name)
    events = helpers.EVENTS.pop(name)
    df = results.get_dataframe()
    print(f"{name}: fit {elapsed:.1f} s, events {events}, errors {results.num_errors}")

    assert events["removed_at"] is not None and events["trigger"] in events["lost"]
    assert victim not in cluster.worker_nodes
    assert len(results) == num_samples  # the experiment went on to its full budget
    by_id = df.set_index("trial_id")
    # Trials started after the loss ran on the nodes left.
    assert events["started_after"]
    assert victim.node_id not in set(by_id.loc[events["started_after"], "node_id"])
    if max_failures >= 1:
        assert results.num_errors == 0 and results.num_terminated == num_samples
        # Every lost trial was restarted on another node, from its last checkpoint.
        assert set(events["lost"]) <= set(events["recovered"]) <= set(events["running"])
        assert victim.node_id not in set(by_id.loc[events["recovered"], "node_id"])
        trigger = by_id.loc[events["trigger"]]
        assert trigger["resumed_from"] >= 1 and trigger["step"] == 4
        assert searcher.num_failed == 0
        assert searcher.num_updates == num_samples // batch_size
    else:
        errored = set(events["errored"])
        assert events["trigger"] in errored and len(errored) == results.num_errors
        assert errored <= set(events["running"]) and not events["recovered"]
        assert results.num_terminated == num_samples - len(errored)
        # The searcher counted the lost trials as failed and kept learning:
        # failed trials fill batches too (ranked worst), so every completion counts.
        assert searcher.num_failed == len(errored)
        assert searcher.num_updates == num_samples // batch_size
    _, saved = helpers.newest_searcher_state(tmp_path / "loss")
    assert saved["num_updates"] == searcher.num_updates and saved["num_failed"] == searcher.num_failed


# --- c. the driver killed, the experiment restored ----------------------------------------


def _session_processes(sid: int) -> list[int]:
    """Processes still alive in session `sid` (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":  # fields[3]: session id
                pids.append(int(entry))
    return pids


def run_and_kill_driver(root: Path, name: str, num_samples: int, batch_size: int) -> Path:
    """Run tests/resume_driver.py and let it SIGKILL itself part-way: after a third
    of the trials, once Tune has saved a searcher state with 2 policy updates.
    Trials last ~0.8 s, so the other two thirds take several of Tune's 1 s save
    periods: the kill comes before they are all done."""
    kill = {"completed": num_samples // 3, "saved_updates": 2, "experiment_dir": str(root / name)}
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", TUNE_GLOBAL_CHECKPOINT_S="1",
               **{helpers.KILL_AFTER_ENV: json.dumps(kill)})
    cmd = [sys.executable, str(TESTS_DIR / "resume_driver.py"), str(root), name, str(num_samples), str(batch_size)]
    start = time.monotonic()
    driver = subprocess.Popen(cmd, env=env, cwd=root, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = driver.communicate(timeout=120)
    finally:
        # Ray's agents outlive a SIGKILLed driver, in its process group.
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    print(f"driver killed after {time.monotonic() - start:.1f} s")
    assert driver.returncode == -signal.SIGKILL, output[-3000:]
    deadline = time.monotonic() + 10
    while _session_processes(driver.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _session_processes(driver.pid), "processes of the killed driver are left"
    return root / name


@pytest.mark.timeout(200)
@pytest.mark.parametrize("respecify_space", [False, True], ids=["restore", "restore-with-param-space"])
def test_driver_killed_then_restored(tmp_path, monkeypatch, respecify_space):
    """Each variant runs its own driver: restore an experiment where it was
    written (Tune's saved search state holds that path; new trials of a moved
    copy would be written to the old place)."""
    num_samples, batch_size = 14, 2
    experiment = run_and_kill_driver(tmp_path, "resume", num_samples, batch_size)
    record = tmp_path / "record.json"

    # What Tune will restore the searcher from: the newest saved state.
    saved_path, saved = helpers.newest_searcher_state(experiment)
    assert saved["num_updates"] >= 2, "no policy update was saved before the kill"
    trials_before = len(list(experiment.glob("stepping_trainable_*")))
    assert tune.Tuner.can_restore(experiment) and 0 < trials_before < num_samples

    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "1")
    monkeypatch.setenv(helpers.RECORD_ENV, str(record))
    monkeypatch.delenv(helpers.KILL_AFTER_ENV, raising=False)
    extra = {"param_space": helpers.space()} if respecify_space else {}
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    try:
        tuner = tune.Tuner.restore(str(experiment), trainable=helpers.cpu_trainable(n_iters=2, tick=0.4), **extra)
        results = tuner.fit()
    finally:
        ray.shutdown()
    df = results.get_dataframe()
    print(f"saved before kill: {saved_path}: num_updates {saved['num_updates']}, {trials_before} trials; "
          f"after restore: {len(df)} trials, {results.num_errors} errors")

    assert len(results) == num_samples and results.num_terminated == num_samples and results.num_errors == 0
    assert len(df) == num_samples and df["trial_id"].is_unique

    # The restored searcher read that state and suggested from it: same policy,
    # same count of updates, same random generator.
    seen = helpers.read_json(record)
    # (Tune restores from its staging copy of the experiment directory.)
    assert os.path.basename(seen["restored"]["path"]) == os.path.basename(saved_path)
    first = seen["first_suggest"]["state"]
    assert first is not None, "the restored searcher had no search space when it suggested"
    if seen["first_suggest"]["completions_before"] == 0:
        for key in ("policy", "adam", "num_updates", "history", "rng", "batch", "num_failed"):
            assert first[key] == saved[key], key
    else:  # trials restored as pending completed first
        assert first["history"][: len(saved["history"])] == saved["history"]
    # ... and that was a learnt policy, not the initial one.
    fresh = PGSearcher(helpers.space(), metric=helpers.METRIC, mode=helpers.MODE, seed=2)
    assert saved["policy"] != fresh.get_state()["policy"]

    # It went on from there: its history extends the saved one, and the
    # completions it counted are exactly num_samples (none lost, none twice).
    final_path, final = helpers.newest_searcher_state(experiment)
    assert final_path != saved_path
    k = len(saved["history"])
    assert final["history"][:k] == saved["history"]
    assert final["num_updates"] >= saved["num_updates"] and final["num_failed"] == 0
    assert final["num_updates"] == num_samples // batch_size
    assert final["trials_used"] + len(final["batch"]) == num_samples
