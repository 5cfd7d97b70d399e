"""Real scikit-learn tuning problems driven by simulated workers (benchmark ``real``).

Every trial is a real fit; only the clock is simulated (``simulate.simulate``),
so a run is fast and reproducible. A problem (``RealProblem``; the catalogue is
``real_problems.py``) is a dataset that ships with scikit-learn or is
generated with a fixed seed (at most ``ROWS`` rows, so that a trial costs a
few hundredths of a second on one core), a Tune space and a model built
from a config.

Noise as users see it: a trial's observed loss is one 3-fold cross-validation
whose shuffled split (and model seed) is drawn from the run's noise stream,
so one config scores differently on two trials. Its noise-free loss is the
mean over ``REPEATS`` fixed splits and model seeds (0, 1, ...), 15 fits:
computed only for incumbents (``simulate.Incumbent``: the best *observed*
loss so far, the config a user would pick) and cached by config within a
process. ``best_so_far`` is the incumbent's noise-free loss; the optimum is
unknown, so regret is the loss itself (every loss here is >= 0).

A fit that fails or predicts non-finite values scores as the dummy model
(the training prior or mean) on the same split: as bad as knowing nothing.

Rows are ``simulate.COLUMNS`` plus ``fit_s``, the CPU seconds of the trial's
own cross-validation (one thread, so the trial's cost however busy the
machine); ``true_value`` and ``regret`` are filled on the trials that became
the incumbent (NaN elsewhere: their noise-free loss was never computed).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from experiments.bench.domains import invalid_paths
from experiments.bench.methods import make
from experiments.bench.results import Task
from experiments.bench.simulate import COLUMNS, MODE, Incumbent, frames, simulate

METRIC = "loss"
FOLDS = 3
REPEATS = 5
# sklearn scorer and the loss it becomes (lower is better, >= 0)
SCORERS: dict[str, tuple[str, Callable[[float], float]]] = {
    "error": ("accuracy", lambda s: 1.0 - s),
    "log_loss": ("neg_log_loss", lambda s: -s),
    "mae": ("neg_mean_absolute_error", lambda s: -s),
    "mse": ("neg_mean_squared_error", lambda s: -s),
}
ROWS = 300  # rows kept of the bigger datasets


@cache
def dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a bundled or generated dataset; regression targets standardised (losses in units of sd)."""
    from sklearn import datasets

    loaders = {
        "digits": lambda: datasets.load_digits(return_X_y=True),
        "breast_cancer": lambda: datasets.load_breast_cancer(return_X_y=True),
        "wine": lambda: datasets.load_wine(return_X_y=True),
        "diabetes": lambda: datasets.load_diabetes(return_X_y=True),
        "classification": lambda: datasets.make_classification(
            n_samples=ROWS, n_features=20, n_informative=8, n_redundant=4, n_classes=3, flip_y=0.05, random_state=0),
        "friedman1": lambda: datasets.make_friedman1(n_samples=ROWS, n_features=10, noise=1.0, random_state=0),
    }
    x, y = loaders[name]()
    if len(y) > ROWS:
        keep = np.sort(np.random.default_rng(0).permutation(len(y))[:ROWS])
        x, y = x[keep], y[keep]
    if name in ("diabetes", "friedman1"):
        y = (y - y.mean()) / y.std()
    return x.astype(float), y


@dataclass(frozen=True)
class RealProblem:
    """One real tuning problem (minimise ``metric``).

    Attributes:
        name: registry key.
        data: ``dataset`` name.
        space: nested dict of ``ray.tune`` domains.
        build: ``build(config, seed) -> estimator``; ``seed`` seeds the model's own randomness.
        metric: key of ``SCORERS``.
        description: one line: model, data, metric.
    """

    name: str
    data: str
    space: dict[str, Any]
    build: Callable[[dict, int], Any]
    metric: str
    description: str = ""
    _true: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def classification(self) -> bool:
        return self.metric in ("error", "log_loss")

    def cv_loss(self, config: dict, seed: int) -> float:
        """Mean loss of one shuffled ``FOLDS``-fold cross-validation (split and model seeded by ``seed``)."""
        from sklearn.dummy import DummyClassifier, DummyRegressor
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
        from threadpoolctl import threadpool_limits

        x, y = dataset(self.data)
        splits = (StratifiedKFold if self.classification else KFold)(FOLDS, shuffle=True, random_state=seed)
        scorer, to_loss = SCORERS[self.metric]
        model = self.build(config, seed)  # first: it loads the model's OpenMP, which the limit must then see
        # One thread: runs share 2 cores, and idle OpenMP threads spin (HistGradientBoosting ran 100x slower).
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # capped iterations do not converge, failed fits score NaN: both expected
            scores = cross_val_score(model, x, y, cv=splits, scoring=scorer, error_score=np.nan)
            bad = ~np.isfinite(scores)
            if bad.any():
                dummy = DummyClassifier(strategy="prior") if self.classification else DummyRegressor()
                scores[bad] = cross_val_score(dummy, x, y, cv=splits, scoring=scorer)[bad]
        return float(to_loss(scores.mean()))

    def observe(self, config: dict, rng: np.random.Generator) -> float:
        """The loss a trial sees: one cross-validation on a split drawn from ``rng``."""
        return self.cv_loss(config, int(rng.integers(REPEATS, 2**31)))

    def true_loss(self, config: dict) -> float:
        """Noise-free loss: mean over the ``REPEATS`` fixed splits; cached by config."""
        key = json.dumps(config, sort_keys=True, default=lambda v: v.item() if hasattr(v, "item") else str(v))
        if key not in self._true:
            self._true[key] = float(np.mean([self.cv_loss(config, seed) for seed in range(REPEATS)]))
        return self._true[key]


def run_task(task: Task, problem: RealProblem) -> dict[str, pd.DataFrame]:
    """Simulate one run of ``task.method`` on ``problem`` with real fits; return its rows."""
    searcher, space_in_constructor = make(task.method, problem.space, METRIC, MODE, task.seed)
    noise = np.random.default_rng([task.seed, 2])  # as simulate.run_task: the n-th suggestion gets the same split

    def evaluate(config: dict) -> tuple[dict, tuple[dict, float, float]]:
        start = time.process_time()
        loss = problem.observe(config, noise)
        return {METRIC: loss}, (config, loss, time.process_time() - start)

    rows: list[dict[str, Any]] = []
    incumbent = Incumbent()
    for done in simulate(searcher, problem.space, METRIC, MODE, task.workers, task.budget, task.seed, evaluate,
                         hand_space=not space_in_constructor):
        config, observed, seconds = done.outcome
        true = incumbent.score if incumbent.offer(observed, lambda: problem.true_loss(config)) else np.nan
        rows.append({"trial": len(rows) + 1, "suggest_index": done.suggest_index, "sim_time": done.sim_time,
                     "value": observed, "true_value": true, "regret": true, "best_so_far": incumbent.score,
                     "wall_time": done.cpu, "longest_call": done.longest_call,
                     "invalid": len(invalid_paths(problem.space, config)), "fit_s": seconds})
        if task.time_cap_s and done.cpu > task.time_cap_s:
            break
    return frames(rows, task, COLUMNS + ["fit_s"], searcher)
