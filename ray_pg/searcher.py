"""PGSearcher: the Tune adapter between Ray Tune's searcher calls and the ``Learner``.

It takes Tune's calls, checks them and hands each job to its module: Tune's space
becomes a ``Space`` (space.py); a trial's suggestion, results and end go through
trials.py to the learner (learner.py); results known without a trial through
known.py; its state into versioned JSON and back through state.py and
persistence.py. What it knows of the Tune run around it (scheduler, stopper,
wrappers) comes from runtime.py. One lock guards the state, pickling included:
Tune calls from one thread, users driving a searcher themselves may call from
several.

Over 300 lines: Tune's Searcher interface is a dozen methods, each with the checks
and messages a user meets, and the constructor documents twenty arguments.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher
from ray.tune.stopper import Stopper

from ray_pg import known, persistence, trials
from ray_pg import runtime as rt
from ray_pg import state as st
from ray_pg.learner import MAX_SD, Learner, Options, auto_batch_size
from ray_pg.policy import UpdateSettings
from ray_pg.results import Sample, as_list, batch_scores, check_evaluated_rewards, check_objectives, finite
from ray_pg.space import Space
from ray_pg.state import CheckpointError

__all__ = ["CheckpointError", "PGSearcher", "batch_scores"]

logger = logging.getLogger(__name__)


def _locked(method: Callable) -> Callable:
    """``method`` run under the searcher's lock."""
    @functools.wraps(method)
    def locked(self: PGSearcher, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)
    return locked


class PGSearcher(Searcher):
    """Suggests configs from a policy over the search space, improved by natural policy gradients.

    Each ``tune.choice`` is a categorical and the numeric domains share one Gaussian (each branch of a
    conditional choice has its own). Each full batch of finished trials, ranked with the batches before
    it, takes one natural-gradient step as CatCMA with margin does, with truncated importance weights for
    samples drawn under older policies; while a rank model of the recent results orders them, each
    suggestion is the best of 16 policy samples by it (``learner.py``, ``natural.py``, ``surrogate.py``).
    ``update="pg"`` is REINFORCE with PPO-clipped Adam steps (``policy.py``).
    Trials rank by the metric (several metrics: IBEA's fitness, ``pareto.py``), below every trial that
    went further when a scheduler or stopper may have cut them short (``runtime.py``).

    Args:
        space: Tune search space. None: Tune's ``param_space``/``config``.
        metric: Result key to optimise, or a list of keys (multi-objective). None: Tune's. One given
            here wins over Tune's (which may serve a scheduler only); a warning says when they differ.
        mode: "max" or "min", or a list of them, one per metric. None: Tune's, when its metric is this one.
        points_to_evaluate: Configs (possibly partial) to try first; missing parameters are drawn from
            the policy. A conditional choice is named by the values of its branch.
        evaluated_rewards: Metric values already known for ``points_to_evaluate`` (one list per point
            with several metrics): those points are learnt from instead of suggested.
        batch_size: Finished trials per update. None: ``max(5, in flight / 8)``, or ``max(2, in flight / 8)``
            under ASHA (``update="pg"``: ``max(8, in flight / 4)``), or a generation under
            ``ConcurrencyLimiter(batch=True)``. A trial cut short at iteration t counts t / T, T the most
            iterations any trial reached.
        learning_rate: ``update="pg"`` only: Adam's step size.
        passes: ``update="pg"`` only: Adam steps per batch.
        clip: ``update="pg"`` only: PPO's clip range.
        entropy_coef: ``update="pg"`` only: the weight of the entropy bonus.
        min_sd: Floor on each Gaussian's sd, in units of its raw variable.
        advantage: "nes" (log-rank utilities), "rank" (centred ranks) or "zscore".
        failed_trials: "worst": errored trials and NaN/inf/missing metrics rank last; "ignore": dropped.
        exploit_from: Fraction of Tune's ``num_samples`` after which suggestions come from a sharpened
            policy (1: never). None: 1, or 0.7 for ``update="pg"`` with one metric (docs/api.md).
        exploit_temperature: Temperature reached at the end of the budget: logits divided by it, sds
            multiplied by it.
        seed: Seed of the searcher's own random generator (no global RNG is used).
        update: "natural", "pg" or None: "natural" under every scheduler (``docs/benchmarks.md``,
            early stopping). A checkpoint keeps the rule it was saved with; None takes the checkpoint's.
        truncation: ``update="natural"`` only: the bound ``c`` of each importance ratio ``min(ratio, c)``.
        scheduler: The run's trial scheduler, if you would rather name it than have it found in
            ``tune.run`` (``runtime.py``): it tells which trials were cut short.
        stopper: The run's ``Stopper``, likewise.
    """

    def __init__(
        self,
        space: dict | None = None,
        *,
        metric: str | list[str] | None = None,
        mode: str | list[str] | None = None,
        points_to_evaluate: list[dict] | None = None,
        evaluated_rewards: list | None = None,
        batch_size: int | None = None,
        learning_rate: float = 0.1,
        passes: int = 8,
        clip: float = 0.2,
        entropy_coef: float = 0.0,
        min_sd: float = 0.05,
        advantage: str = "nes",
        failed_trials: str = "worst",
        exploit_from: float | None = None,
        exploit_temperature: float = 0.5,
        seed: int | None = None,
        update: str | None = None,
        truncation: float = 1.0,
        scheduler: TrialScheduler | None = None,
        stopper: Stopper | None = None,
    ):
        check_objectives(metric, mode)
        self._options = Options(batch_size, UpdateSettings(learning_rate, passes, clip, entropy_coef, min_sd, MAX_SD),
                                advantage, failed_trials, exploit_from, exploit_temperature, truncation)
        if points_to_evaluate is not None and not isinstance(points_to_evaluate, (list, tuple)):
            raise ValueError(f"points_to_evaluate must be a list of configs (dicts), got {points_to_evaluate!r}")
        self._evaluated_rewards = check_evaluated_rewards(evaluated_rewards, points_to_evaluate, metric)
        if update not in (None, "pg", "natural"):
            raise ValueError(f"update must be None, 'pg' or 'natural', got {update=}")
        super().__init__(metric=metric, mode=mode)
        self._update_choice = update
        self._update_rule = update or "natural"
        self._given_runtime = (scheduler, stopper)
        # Found once per run, when Tune first calls (set_search_properties or suggest).
        self._runtime: rt.Runtime | None = None
        self._lock = threading.RLock()
        self._points_to_evaluate = list(points_to_evaluate or [])
        self._rng = np.random.default_rng(seed)
        # Names this run's history file; kept across restores.
        self._run = uuid.uuid4().hex[:12]
        self._history_log = st.HistoryLog()
        self._space: Space | None = None
        self._learner: Learner | None = None
        self._space_from_checkpoint = False
        self._max_concurrent: int | None = None
        # ConcurrencyLimiter(batch=True): results come a generation at a time.
        self._synchronous = False
        self._num_samples: int | None = None
        self._told_budget_unknown = False
        # Tune's `stop={key: value}`: a trial stopped by it ended on its own terms.
        self._stop: dict | None = None
        self._num_suggested = 0
        self._pending: dict[str, Sample] = {}
        # Each pending trial's last result seen in on_trial_result, cut to the keys
        # used here: HyperBand stops paused trials without a result.
        self._last: dict[str, dict] = {}
        # Under a scheduler that cuts trials, for a learner that weighs rungs (rungs.py): each pending
        # trial's first reward by iteration, at the rungs known and its latest.
        self._curves: dict[str, dict[float, float]] = {}
        # Known results waiting for a metric and mode: (trial id, sample, value, level).
        self._unscored: list[tuple[str, Sample, Any, float]] = []
        # Trials learnt from through add_evaluated_trials: each only once.
        self._evaluated_ids: set[str] = set()
        self._queue: list[tuple[np.ndarray, dict]] = []
        self._peak_in_flight = 0
        if space is not None:
            self._setup(space)

    def __getstate__(self) -> dict:  # Tune pickles the searcher (tuner.pkl)
        return persistence.pickled(self)

    def __setstate__(self, state: dict) -> None:
        persistence.unpickled(self, state)

    # ----------------------------------------------------------------- set-up

    def _new_learner(self, space: Space, rule: str, metric: Any = None) -> Learner:
        """A learner of ``space`` under ``rule``, its prior set by the number of metrics (``metric``: the
        searcher's when None)."""
        several = len(as_list(self._metric if metric is None else metric)) > 1
        return Learner(space, rule, self._options, self._rng, several_metrics=several)

    def _setup(self, config: dict) -> None:
        space = Space(config)
        points = [(space.encode(point), space.given_values(point)) for point in self._points_to_evaluate]
        if self._evaluated_rewards is not None:
            known.check_complete(space, points, self._points_to_evaluate)
        self._space = space
        self._space_json = space.to_json()
        self._space_digest = st.digest(self._space_json)
        self._learner = self._new_learner(space, self._update_rule)
        if self._evaluated_rewards is None:
            self._queue = points
        else:
            self._queue = []
            known.add_evaluated_rewards(self, points)

    @_locked
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        # Recorded whoever owns the space: a space given to the constructor still
        # needs Tune's budget and stop dict.
        stop = spec.get("stop")
        if isinstance(stop, dict):
            self._stop = {str(key): float(value) for key, value in stop.items()
                          if finite(value)}
        self._adopt_objectives(metric, mode)
        if spec:  # Tune is calling: its run is up the stack
            if self._metric is None or self._mode is None:  # fail before any trial runs
                raise ValueError(f"PGSearcher needs a metric and a mode; Tune passed {metric=} and {mode=}: set both "
                                 "in TuneConfig / tune.run (metric=..., mode='min' or 'max') or in PGSearcher(...)")
            self._start_run()
        num_samples = spec.get("num_samples")
        if isinstance(num_samples, int) and not isinstance(num_samples, bool) and num_samples > 0:
            # Under a Repeater each suggestion runs `repeat` times: ceil(num_samples / repeat) suggestions.
            self._num_samples = max(1, -(-num_samples // (self._runtime.repeat if self._runtime else 1)))
        accepted = self._space is None or self._space_from_checkpoint
        if accepted:
            # Restored before Tune handed its space over: keep the state, use Tune's space.
            restored = self.get_state() if self._space_from_checkpoint else None
            before = {key: copy.copy(value) if isinstance(value, (list, dict, set)) else value
                      for key, value in self.__dict__.items()}
            try:
                self._setup(config)
                if restored is not None:
                    self.set_state(restored)  # CheckpointError if Tune's space is another one
                    self._space_from_checkpoint = False
            except Exception:
                self.__dict__.update(before)  # the restored state stays, for a call with the right space
                raise
        known.score_unscored(self)
        return accepted

    def _start_run(self) -> rt.Runtime:
        """Learn the run around the searcher (``runtime.discover``)."""
        scheduler, stopper = self._given_runtime
        self._runtime = rt.discover(self, scheduler=scheduler, stopper=stopper, several_metrics=len(as_list(self._metric)) > 1)
        logger.info("PGSearcher learns by the %r rule in this run", self._update_rule)
        return self._runtime

    @property
    def update_rule(self) -> str:
        """The update rule in use: "natural" or "pg" (a restored checkpoint keeps its own)."""
        return self._update_rule

    def _adopt_objectives(self, metric: Any, mode: Any) -> None:
        """Take Tune's metric and mode where the searcher has none (its own win)."""
        if metric is not None and self._metric is not None and metric not in as_list(self._metric):
            if self._mode is None:  # Tune's mode is its metric's: it says nothing of ours
                raise ValueError(f"PGSearcher(metric={self._metric!r}) has no mode, and Tune's mode={mode!r} is for "
                                 f"its metric {metric!r}: pass PGSearcher(mode='min' or 'max')")
            logger.warning("PGSearcher optimises its own metric %r, not Tune's %r (which then serves the "
                           "scheduler only)", self._metric, metric)
        new_metric = self._metric if self._metric is not None else metric
        new_mode = self._mode if self._mode is not None else mode
        check_objectives(new_metric, new_mode)
        self._metric, self._mode = new_metric, new_mode

    @_locked
    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self._max_concurrent = max_concurrent
        # A limiter asked for synchronous batches keeps its own logic (we return
        # False): it hands over each generation's results together, and one
        # update follows each generation. Otherwise it hands the limit to us.
        self._synchronous = rt.limiter_batches()
        return not self._synchronous

    # ------------------------------------------------------- suggest / complete

    @_locked
    def suggest(self, trial_id: str) -> dict | None:
        if self._space is None:
            raise RuntimeError("PGSearcher has no search space: pass one to PGSearcher(space=...) or as a "
                               "non-empty Tuner(param_space=...) / tune.run(config=...) (Tune passes no empty one)")
        if self._metric is None or self._mode is None:
            raise RuntimeError("PGSearcher needs a metric and a mode: Tune passes TuneConfig's / tune.run's only "
                               "along with a non-empty param_space, so with the space given to PGSearcher pass "
                               "metric= and mode= to PGSearcher too")
        if not self._synchronous and self._max_concurrent is not None and len(self._pending) >= self._max_concurrent:
            return None
        if self._runtime is None:
            self._start_run()
        if self._num_samples is None and not self._told_budget_unknown:
            self._told_budget_unknown = True
            logger.info("PGSearcher got no num_samples from Tune (Tune passes it only with a non-empty "
                        "param_space): the sharpened sampling at the end of the budget is off")
        return trials.start(self, trial_id)

    @_locked
    def on_trial_result(self, trial_id: str, result: dict) -> None:
        # Tune passes on every result except the one on which it stops a trial.
        trials.report(self, trial_id, result)

    @_locked
    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Record a finished, early-stopped or failed trial; update on a full batch.

        Unknown and repeated ids (after a restore) are ignored. A trial stopped
        before it reported anything (no result, no error) tells nothing and is
        dropped; one stopped while paused (HyperBand) ranks by its last result.
        """
        trials.end(self, trial_id, result, error)

    @property
    def batch_size(self) -> int:
        """Completed trials per update (fixed, or following the trials in flight)."""
        if self._options.batch_size is not None:
            return self._options.batch_size
        if self._synchronous and self._max_concurrent:
            return max(2, self._max_concurrent)
        asha = self._runtime is not None and self._runtime.asha()
        return auto_batch_size(self._update_rule, self._max_concurrent or self._peak_in_flight, asha)

    @property
    def num_updates(self) -> int:
        """Policy updates made so far."""
        return self._learner.num_updates if self._learner else 0

    @property
    def num_failed(self) -> int:
        """Trials that errored or reported no finite metric."""
        return self._learner.num_failed if self._learner else 0

    @classmethod
    def from_experiment(cls, path: str | Path) -> PGSearcher:
        """The searcher of a Tune experiment as its newest checkpoint left it, to read ``history()``
        (the policy after each update) and ``update_rule`` after a run or a ``Tuner.restore``.

        Args:
            path: The experiment's folder (``ResultGrid.experiment_path``,
                ``ExperimentAnalysis.experiment_path``).
        """
        searcher = cls()
        searcher.restore(persistence.newest_checkpoint(path))
        return searcher

    @_locked
    def history(self) -> pd.DataFrame:
        """One row per policy update: its batch (``trial_ids`` joins Tune's results) and the policy it left."""
        frame = pd.DataFrame(self._learner.history if self._learner else [])
        if "trial_ids" in frame:
            frame["trial_ids"] = frame["trial_ids"].map(lambda ids: list(ids) if isinstance(ids, tuple) else ids)
        return frame

    # --------------------------------------------------------- known results

    @_locked
    def add_evaluated_point(self, parameters: dict, value: float | list[float] | None, error: bool = False,
                            pruned: bool = False, intermediate_values: list[float] | None = None) -> None:
        """Learn from a config evaluated outside this search (Ray's warm-start API).

        Args:
            parameters: The config, as a trial saw it (constants of the space may be included).
            value: Its metric value (with several metrics, one value per metric).
            error: The trial failed: it ranks as a failed trial.
            pruned: A scheduler stopped it early: it ranks below trials that ran their course,
                at the level of ``len(intermediate_values)`` iterations (1 if not given).
            intermediate_values: Its metric values per iteration (only their number is used).
        """
        known.add_point(self, parameters, value, error, pruned, intermediate_values)

    @_locked
    def add_evaluated_trials(self, trials_or_analysis: Any, metric: str | list[str]) -> None:
        """Learn from the trials of an earlier experiment; a trial given again is skipped (by its id).

        Terminated trials count (one that stopped short of the experiment's longest was cut short: it
        ranks by how far it went), errored ones count as failed, unfinished ones are skipped.

        Args:
            trials_or_analysis: A ``ResultGrid``, an ``ExperimentAnalysis``, a path to
                an experiment's folder, a ``Trial`` or a list of them.
            metric: The result key whose values the trials reported; with several metrics, their
                keys in this searcher's order.
        """
        known.add_trials(self, trials_or_analysis, metric)

    # ------------------------------------------------------------------ state

    @_locked
    def get_state(self) -> dict:
        """The searcher's whole state as a versioned, JSON-safe dict."""
        return {**st.encode(self), "history": st.to_json(self._learner.history if self._learner else [])}

    @_locked
    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state`'s dict; it must come from the same search space.

        The whole state is checked before any of it is assigned (``state.decode``): a state that
        cannot be restored raises ``CheckpointError`` and leaves the searcher as it was. A searcher
        without a space takes the checkpoint's (`Tuner.restore(path, trainable)` hands it none).
        """
        persistence.assign(self, state)

    @_locked
    def save(self, checkpoint_path: str) -> None:
        """Write the state (atomically), the space once, and the new history rows beside it."""
        st.write_checkpoint(checkpoint_path, st.encode(self), self._space_json, self._space_digest,
                            self._history_log, self._learner.history)

    @_locked
    def restore(self, checkpoint_path: str) -> None:
        self.set_state(st.read_checkpoint(checkpoint_path, self._history_log))

