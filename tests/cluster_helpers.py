"""Trainables, callbacks and fault injectors for the multi-node and resume tests.

They live in an importable module, not in the test files: Ray pickles a
trainable defined in a test module by reference and its workers cannot import
it, and Tune pickles its callbacks and searcher into ``tuner.pkl`` (a class
defined in ``__main__`` fails there). Used by ``tests/test_cluster.py`` and
``tests/resume_driver.py``.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from typing import Any

import ray
from ray import tune
from ray._private import ray_constants
from ray.tune import PlacementGroupFactory

from ray_pg import PGSearcher

METRIC = "score"
MODE = "max"

# Set in a driver process to make KillDriverAfter SIGKILL it part-way (JSON, see there).
KILL_AFTER_ENV = "RAY_PG_TEST_KILL_AFTER"
# A file where RecordingPGSearcher writes what it restored and suggested from.
RECORD_ENV = "RAY_PG_TEST_RECORD"


def space(*, with_device: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {"x": tune.uniform(-1.0, 1.0), "kind": tune.choice(["a", "b", "c"])}
    if with_device:
        config["device"] = tune.choice(["cpu", "gpu"])
    return config


def objective(config: dict[str, Any]) -> float:
    return -((config["x"] - 0.3) ** 2) + {"a": 0.0, "b": 0.1, "c": 0.2}[config["kind"]]


# --- trainables -------------------------------------------------------------------


def where_am_i() -> dict[str, Any]:
    """What a trial sees of its placement: node, assigned GPU ids, CUDA_VISIBLE_DEVICES."""
    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "gpu_ids": ",".join(str(g) for g in ray.get_gpu_ids()),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"),
    }


def stepping_trainable(config: dict[str, Any], *, n_iters: int = 3, tick: float = 0.2) -> None:
    """Reports the objective `n_iters` times, `tick` seconds apart, checkpointing each step.

    After a restart it resumes from its checkpoint; `resumed_from` reports the
    step it resumed at (0: started afresh).
    """
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt_dir, open(os.path.join(ckpt_dir, "step.json")) as f:
            start = json.load(f)["step"]
    placement = where_am_i()
    for step in range(start, n_iters):
        time.sleep(tick)
        metrics = {METRIC: objective(config), "step": step + 1, "resumed_from": start, **placement}
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "step.json"), "w") as f:
                json.dump({"step": step + 1}, f)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def device_resources(config: dict[str, Any]) -> PlacementGroupFactory:
    """{"cpu": 1, "gpu": 1} for trials with device "gpu", {"cpu": 1} otherwise."""
    bundle = {"CPU": 1, "GPU": 1} if config["device"] == "gpu" else {"CPU": 1}
    return PlacementGroupFactory([bundle])


def probe_trainable(n_iters: int = 3, tick: float = 0.3):
    """A stepping trainable whose resources follow config["device"]."""
    return tune.with_resources(
        tune.with_parameters(stepping_trainable, n_iters=n_iters, tick=tick), device_resources
    )


def cpu_trainable(n_iters: int = 3, tick: float = 0.2):
    return tune.with_resources(tune.with_parameters(stepping_trainable, n_iters=n_iters, tick=tick), {"cpu": 1})


# --- fault injection ---------------------------------------------------------------

# Tune pickles callbacks, and a Cluster (it holds processes) does not pickle:
# callbacks name their target here instead of holding it.
_CLUSTERS: dict[str, Any] = {}
# What callbacks saw, by name, for the test to read after fit().
EVENTS: dict[str, dict[str, Any]] = {}


def _descendants(pid: int) -> list[int]:
    """Every process under `pid` (Linux /proc; no psutil in this install)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # The command name may hold spaces: the ppid follows its closing paren.
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_node_hard(cluster: Any, node: Any) -> None:
    """SIGKILL a node's raylet and every process under it, as if the machine vanished.

    `remove_node(allow_graceful=False)` alone SIGKILLs the raylet and its
    services; the worker processes then live on until they notice, long enough
    for a short trial to finish on a node that is gone.
    """
    raylet_pid = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
    orphans = _descendants(raylet_pid)
    cluster.remove_node(node, allow_graceful=False)
    for pid in orphans:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def register_cluster(name: str, cluster: Any) -> None:
    _CLUSTERS[name] = cluster


def forget_cluster(name: str) -> None:
    _CLUSTERS.pop(name, None)


class RemoveNodeMidRun(tune.Callback):
    """Removes a worker node once a trial on it has reported `at_step` steps
    and `after_completed` trials have finished; records what happened next.

    graceful=True: `cluster.remove_node(node)` (SIGTERM, like a drained node);
    graceful=False: SIGKILL of the node and all its processes (a lost machine).

    Runs in the driver's main thread, inside Tune's event loop.
    """

    def __init__(self, name: str, node_id: str, *, graceful: bool, at_step: int = 2, after_completed: int = 2):
        self.name = name
        self.node_id = node_id
        self.graceful = graceful
        self.at_step = at_step
        self.after_completed = after_completed
        EVENTS[name] = {"removed_at": None, "trigger": None, "lost": [], "running": [], "recovered": [],
                        "errored": [], "started_after": [], "completed": 0}

    def on_trial_start(self, iteration, trials, trial, **info):
        if EVENTS[self.name]["removed_at"] is not None:
            EVENTS[self.name]["started_after"].append(trial.trial_id)

    def on_trial_complete(self, iteration, trials, trial, **info):
        EVENTS[self.name]["completed"] += 1

    def on_trial_result(self, iteration, trials, trial, result, **info):
        events = EVENTS[self.name]
        if (events["removed_at"] is not None or result.get("node_id") != self.node_id
                or result.get("step", 0) < self.at_step or events["completed"] < self.after_completed):
            return
        cluster = _CLUSTERS[self.name]
        (node,) = [n for n in cluster.worker_nodes if n.node_id == self.node_id]
        events["trigger"] = trial.trial_id
        # Running trials that reported from the node are lost for sure; one that
        # started there but has not reported yet may be lost too.
        events["running"] = [t.trial_id for t in trials if t.status == "RUNNING"]
        events["lost"] = [
            t.trial_id for t in trials
            if t.status == "RUNNING" and (t.last_result or {}).get("node_id") == self.node_id
        ]
        if self.graceful:
            cluster.remove_node(node, allow_graceful=True)
        else:
            kill_node_hard(cluster, node)
        events["removed_at"] = time.monotonic()

    def on_trial_recover(self, iteration, trials, trial, **info):
        EVENTS[self.name]["recovered"].append(trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info):
        EVENTS[self.name]["errored"].append(trial.trial_id)


class KillDriverAfter(tune.Callback):
    """SIGKILLs this driver once enough trials completed and enough was saved.

    $RAY_PG_TEST_KILL_AFTER holds JSON: {"completed": N, "saved_updates": U,
    "experiment_dir": D}: kill after N completed trials, as soon as the
    searcher state that Tune saved in D holds at least U policy updates (so
    that the restore has a learnt policy to continue from). Read at call
    time, not at construction: Tune restores callbacks from tuner.pkl, and
    the restored copy must stay harmless.
    """

    def __init__(self):
        self.completed = 0
        self._last_look = 0.0

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.completed += 1

    def on_step_end(self, iteration, trials, **info):
        spec = os.environ.get(KILL_AFTER_ENV)
        now = time.monotonic()
        if not spec or now - self._last_look < 0.1:
            return
        self._last_look = now
        spec = json.loads(spec)
        if self.completed < spec["completed"]:
            return
        try:
            _, saved = newest_searcher_state(spec["experiment_dir"])
        except (OSError, ValueError):  # not there yet, or caught mid-copy
            return
        if saved["num_updates"] >= spec["saved_updates"]:
            # Tune copies the saved files to the storage path in a background
            # thread; holding the event loop a moment lets a copy in flight end,
            # so that what is on disk comes from one save, not from two.
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)


class RecordingPGSearcher(PGSearcher):
    """PGSearcher that writes, to $RAY_PG_TEST_RECORD, the state it restored and
    the state it makes its first suggestion from after a restore.

    Only watches; the algorithm is PGSearcher's. `__init__` is not re-run on
    `Tuner.restore` (the object is unpickled), hence the getattr defaults.
    """

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        self._restored_from = checkpoint_path
        self._write_record("restored", {"path": checkpoint_path, "state": self._state_or_none()})

    def suggest(self, trial_id: str) -> dict | None:
        if getattr(self, "_restored_from", None) and not getattr(self, "_recorded_suggest", False):
            self._recorded_suggest = True
            self._write_record("first_suggest", {
                "trial_id": trial_id,
                "completions_before": getattr(self, "_completions_since_restore", 0),
                "state": self._state_or_none(),
            })
        return super().suggest(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if getattr(self, "_restored_from", None) and not getattr(self, "_recorded_suggest", False):
            self._completions_since_restore = getattr(self, "_completions_since_restore", 0) + 1
        super().on_trial_complete(trial_id, result=result, error=error)

    def _state_or_none(self) -> dict | None:
        try:
            return self.get_state()
        except RuntimeError:  # no search space yet: the state waits in _state_to_restore
            return None

    def _write_record(self, key: str, value: Any) -> None:
        path = os.environ.get(RECORD_ENV)
        if not path:
            return
        record = {}
        if os.path.exists(path):
            with open(path) as f:
                record = json.load(f)
        record[key] = value
        with open(path, "w") as f:
            json.dump(record, f)


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def newest_searcher_state(experiment_dir: str | os.PathLike) -> tuple[str, dict]:
    """(path, state) of the newest searcher-state-*.pkl: the one Tune restores from."""
    names = [n for n in os.listdir(experiment_dir) if n.startswith("searcher-state-") and n.endswith(".pkl")]
    if not names:
        raise FileNotFoundError(f"no searcher-state-*.pkl in {experiment_dir}")
    # Tune picks by name (the session timestamp sorts); mtime breaks no ties here.
    path = os.path.join(experiment_dir, max(names))
    from ray_pg.state import HistoryLog, read_checkpoint

    return path, read_checkpoint(path, HistoryLog())  # with its space and history files read in
