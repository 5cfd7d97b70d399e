"""SMAC3 2.x (random-forest Bayesian optimisation) as a Ray Tune ``Searcher``.

SMAC has no Ray wrapper; this adapter drives ``HyperparameterOptimizationFacade``
(SMAC's recommended set-up for hyperparameter optimisation: a random forest on
log-scaled costs, expected improvement, a Sobol initial design of
``min(10 * dimension, n_trials / 4)`` configurations, 20% random
configurations) through ``ask()`` and ``tell()``:

- ``suggest`` asks for a trial; trials in flight are asked for before earlier
  ones are told, as SMAC's own parallel runner does (each ask is registered
  as running so it is not proposed again);
- a finished trial is told its metric (negated for ``mode="max"``); a failed
  trial, or one without a finite metric, is told the worst cost seen so far
  with status CRASHED (an infinite cost breaks the forest); failures that
  come before any finite cost wait until one arrives;
- the budget: ``n_trials`` comes from ``set_search_properties``'
  ``num_samples`` (Tune passes it; so does the benchmark runner); it sets the
  initial design's size. Asking past it goes on working.

The space goes through ``encoding`` (categories by index, grids by integer
index, ``randn`` through a uniform and the inverse normal CDF: exactly the
values each domain's ``sample()`` can produce). The scenario is deterministic
(each configuration is evaluated once: Tune cannot hand a trial SMAC's seed),
seeded, and writes its files to a fresh temporary folder (``overwrite=True``,
deleted with the searcher), so runs never resume or clash; tells do not save
the run history (``save=False``): persistence is a checkpoint's job. The
forest runs on one thread (``n_jobs=1``; the facade's default is every core).

No ``save``/``restore``: a benchmark adapter, not a user-facing searcher.
"""

from __future__ import annotations

import logging
import math
import tempfile
from typing import Any

import numpy as np
from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer
from ray.tune.search import Searcher
from smac import HyperparameterOptimizationFacade as Facade
from smac import Scenario
from smac.acquisition.maximizer.local_search import LocalSearch
from smac.model.random_forest import RandomForest
from smac.runhistory import StatusType, TrialValue

from experiments.bench.domains import adopt_objectives
from experiments.bench.encoding import U_EPS, Param, config_from, to_params

DEFAULT_TRIALS = 100  # SMAC's own default n_trials, used when Tune does not pass num_samples


def config_space(params: list[Param], seed: int | None) -> Any:
    """A ConfigSpace ``ConfigurationSpace`` with one hyperparameter per non-constant parameter."""
    space = ConfigurationSpace(seed=seed)
    for p in params:
        if p.kind == "cat":
            space.add(Categorical(p.name, list(range(len(p.values)))))
        elif p.kind == "int":
            space.add(Integer(p.name, (int(p.low), int(p.high)), log=p.log))
        elif p.kind == "float":
            space.add(Float(p.name, (p.low, p.high), log=p.log))
        elif p.kind == "normal":
            space.add(Float(p.name, (U_EPS, 1 - U_EPS)))
    return space


class OrderedLocalSearch(LocalSearch):
    """SMAC's local search with its start points in a fixed order, so a seeded run repeats in any interpreter.

    SMAC 2.4's ``LocalSearch._get_initial_points`` returns ``list(set(configs))``,
    and a ``Configuration`` hashes its ``repr``: the order, and from it the
    suggestions, changed with ``PYTHONHASHSEED``. The same points, sorted by their vector.
    """

    def _get_initial_points(self, *args: Any, **kwargs: Any) -> list:
        points = super()._get_initial_points(*args, **kwargs)
        return sorted(points, key=lambda c: tuple(np.nan_to_num(c.get_array(), nan=-1.0)))


def _order_local_search(maximizer: Any) -> None:
    """Make the facade's maximizer (``LocalAndSortedRandomSearch``) use ``OrderedLocalSearch``.

    Reads SMAC's private ``_local_search`` attribute and refuses anything but a plain ``LocalSearch``.
    """
    local = getattr(maximizer, "_local_search", None)
    if type(local) is not LocalSearch:
        raise RuntimeError(f"SMAC's maximizer changed: {type(maximizer).__name__}._local_search is a "
                           f"{type(local).__name__}, not a LocalSearch; review _order_local_search")
    local.__class__ = OrderedLocalSearch


class SMACSearcher(Searcher):
    """SMAC3's ``HyperparameterOptimizationFacade`` over a Tune space (see the module docstring).

    Args:
        space: Tune search space, or None to receive it through ``set_search_properties``.
        metric, mode: as for any Searcher (one metric).
        seed: the scenario's seed (SMAC's every random stream follows it).
        n_trials: SMAC's budget when Tune does not pass ``num_samples`` (None: 100).
    """

    def __init__(self, space: dict | None = None, *, metric: str | None = None, mode: str | None = None,
                 seed: int = 0, n_trials: int | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        self._seed, self._n_trials = seed, n_trials
        self._smac: Any = None
        self._params: list[Param] = []
        self._live: dict[str, Any] = {}
        self._unscored: list[Any] = []  # failed trials waiting for a first finite cost
        self._worst = -math.inf
        self._folder: tempfile.TemporaryDirectory | None = None
        if space:
            self._setup(space)

    def _setup(self, space: dict) -> None:
        self._params = to_params(space)
        self._folder = tempfile.TemporaryDirectory(prefix="smac_")
        scenario = Scenario(config_space(self._params, self._seed), deterministic=True, seed=self._seed,
                            n_trials=self._n_trials or DEFAULT_TRIALS, output_directory=self._folder.name)
        # The facade's get_model (n_trees=10, log_y, bootstrapping ...), on one thread.
        model = RandomForest(scenario.configspace, log_y=True, n_trees=10, ratio_features=1.0, min_samples_split=2,
                             min_samples_leaf=1, max_depth=2**20, bootstrapping=True, seed=scenario.seed, n_jobs=1)
        maximizer = Facade.get_acquisition_maximizer(scenario)
        _order_local_search(maximizer)
        self._smac = Facade(scenario, target_function=None, model=model, acquisition_maximizer=maximizer,
                            logging_level=logging.WARNING, overwrite=True)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if self._smac is not None:
            return False
        num_samples = spec.get("num_samples")
        if isinstance(num_samples, int) and num_samples > 0:  # Tune's -1 means "until stopped"
            self._n_trials = num_samples
        self._setup(config)
        return adopt_objectives(self, metric, mode)

    def suggest(self, trial_id: str) -> dict | None:
        if self._smac is None:
            raise RuntimeError("SMACSearcher has no search space: pass one or use set_search_properties")
        info = self._smac.ask()
        self._live[trial_id] = info
        return config_from(self._params, dict(info.config))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        info = self._live.pop(trial_id, None)
        if info is None:  # unknown or repeated id
            return
        value = None if error or not result else result.get(self._metric)
        try:
            cost = float(value) * (1.0 if self._mode == "min" else -1.0)
        except (TypeError, ValueError):
            cost = math.nan
        if not math.isfinite(cost):
            self._unscored.append(info)
        else:
            self._worst = max(self._worst, cost)
            self._tell(info, cost, failed=False)
        if self._unscored and math.isfinite(self._worst):
            for failed in self._unscored:
                self._tell(failed, self._worst, failed=True)
            self._unscored = []

    def _tell(self, info: Any, cost: float, failed: bool) -> None:
        status = StatusType.CRASHED if failed else StatusType.SUCCESS
        self._smac.tell(info, TrialValue(cost=cost, status=status), save=False)

