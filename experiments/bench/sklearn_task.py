"""A real scikit-learn tuning task run as Ray Tune trials (benchmark ``sklearn``).

The task picks a model type (SVC, logistic regression, MLP, k-NN), a feature
scaling and each model's own hyperparameters (a nested, mixed space), and
scores 1 - 3-fold cross-validated accuracy on scikit-learn's bundled
``load_digits`` (no download). Trials run through ``tune.Tuner`` on the local
Ray the runner starts (``num_cpus=2``), ``reuse_actors=True``, with at most
``workers`` trials in flight.

Rows are the simulated suites' tidy rows (``experiments.bench.simulate.COLUMNS``). The true optimum is unknown, so ``regret`` is
the error itself (optimum 0), ``true_value`` equals ``value`` and ``sim_time``
is real seconds since the Tuner started. ``wall_time`` is the CPU time of the
driver thread spent inside the searcher (``time.thread_time``: Tune calls
searchers from its controller thread; other driver threads are not counted), and
``longest_call`` its longest single call since the previous completion.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from ray import tune
from ray.tune.search import ConcurrencyLimiter

from experiments.bench.domains import invalid_paths
from experiments.bench.methods import make
from experiments.bench.results import Task, tidy
from experiments.bench.simulate import COLUMNS, CallTimer

PROBLEM = "sklearn_digits"
METRIC = "loss"
OPTIMUM = 0.0  # error rates are >= 0; the real optimum is unknown

SPACE: dict[str, Any] = {
    "model": tune.choice(["svc", "logreg", "mlp", "knn"]),
    "scaler": tune.choice(["standard", "minmax", "none"]),
    "svc": {
        "C": tune.loguniform(1e-2, 1e3),
        "gamma": tune.loguniform(1e-5, 1.0),
        "kernel": tune.choice(["rbf", "poly", "sigmoid"]),
    },
    "logreg": {"C": tune.loguniform(1e-4, 1e2)},
    "mlp": {
        "layers": tune.randint(1, 4),
        "width": tune.qlograndint(16, 256, 16),
        "alpha": tune.loguniform(1e-6, 1e-1),
        "lr": tune.loguniform(1e-4, 3e-2),
        "activation": tune.choice(["relu", "tanh"]),
    },
    "knn": {
        "n_neighbors": tune.lograndint(1, 50),
        "weights": tune.choice(["uniform", "distance"]),
        "p": tune.choice([1, 2]),
    },
}


def build_model(config: dict) -> Any:
    """The scikit-learn pipeline a config describes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.svm import SVC

    kind = config["model"]
    if kind == "svc":
        c = config["svc"]
        model = SVC(C=c["C"], gamma=c["gamma"], kernel=c["kernel"], max_iter=20_000)
    elif kind == "logreg":
        model = LogisticRegression(C=config["logreg"]["C"], max_iter=300)
    elif kind == "mlp":
        c = config["mlp"]
        model = MLPClassifier(
            hidden_layer_sizes=(int(c["width"]),) * int(c["layers"]),
            alpha=c["alpha"],
            learning_rate_init=c["lr"],
            activation=c["activation"],
            max_iter=100,
            random_state=0,
        )
    elif kind == "knn":
        c = config["knn"]
        model = KNeighborsClassifier(n_neighbors=int(c["n_neighbors"]), weights=c["weights"], p=c["p"])
    else:
        raise ValueError(f"unknown model {kind!r}")
    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler, "none": None}[config["scaler"]]
    return make_pipeline(scaler(), model) if scaler else make_pipeline(model)


def cv_error(config: dict) -> float:
    """1 - mean 3-fold cross-validated accuracy on load_digits."""
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_val_score

    x, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        accuracy = cross_val_score(build_model(config), x, y, cv=3, n_jobs=1).mean()
    return float(1.0 - accuracy)


def trainable(config: dict) -> None:
    """Function trainable: one report with the CV error."""
    tune.report({METRIC: cv_error(config)})


class TimedLimiter(ConcurrencyLimiter):
    """Tune's ConcurrencyLimiter that also times the searcher and logs completions."""

    def __init__(self, searcher: Any, max_concurrent: int) -> None:
        self.timed = CallTimer(time.thread_time)
        self.records: list[dict[str, Any]] = []
        self._suggested: dict[str, tuple[int, int]] = {}
        self._start = time.perf_counter()
        self.timed(super().__init__, searcher, max_concurrent=max_concurrent)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.timed(super().set_search_properties, metric, mode, config, **spec)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.timed(super().on_trial_result, trial_id, result)

    def suggest(self, trial_id: str) -> dict | None:
        config = self.timed(super().suggest, trial_id)
        if isinstance(config, dict):
            self._suggested[trial_id] = (len(self._suggested) + 1, len(invalid_paths(SPACE, config)))
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.timed(super().on_trial_complete, trial_id, result=result, error=error)
        value = np.nan if not result or METRIC not in result else float(result[METRIC])
        order, bad = self._suggested.get(trial_id, (0, 0))
        self.records.append(
            {
                "suggest_index": order,
                "sim_time": time.perf_counter() - self._start,
                "value": value,
                "wall_time": self.timed.total,
                "longest_call": self.timed.since_completion(),
                "invalid": bad,
            }
        )


def run_task(task: Task) -> dict[str, pd.DataFrame]:
    """One Tune experiment of ``task.method`` on the task, on a running Ray; returns its rows."""
    if task.problem != PROBLEM:
        raise ValueError(f"the scikit-learn benchmark has one problem, {PROBLEM!r}; got {task.problem!r}")
    searcher, space_in_constructor = make(task.method, SPACE, METRIC, "min", task.seed)
    limiter = TimedLimiter(searcher, max_concurrent=task.workers)
    with tempfile.TemporaryDirectory(prefix="sklearn_tune_") as storage:
        tune.Tuner(
            trainable,
            param_space={} if space_in_constructor else SPACE,
            tune_config=tune.TuneConfig(metric=METRIC, mode="min", search_alg=limiter, num_samples=task.budget,
                                        reuse_actors=True),
            run_config=tune.RunConfig(name="run", storage_path=storage, verbose=0),
        ).fit()
    frame = pd.DataFrame(limiter.records, columns=["suggest_index", "sim_time", "value", "wall_time", "longest_call",
                                                  "invalid"])
    frame["trial"] = np.arange(1, len(frame) + 1)
    frame["true_value"] = frame["value"]
    frame["regret"] = frame["value"] - OPTIMUM
    frame["best_so_far"] = frame["regret"].cummin()
    return {"trials": tidy(frame[COLUMNS].to_dict("records"), task, COLUMNS)}
