"""What PGSearcher knows of the Tune run around it, and how it learns it.

Tune hands a searcher the metric, mode, space, ``num_samples`` and ``stop`` dict
(``set_search_properties``), and a ``ConcurrencyLimiter`` calls
``set_max_concurrency``. Nothing names the scheduler, a ``Stopper`` object, the
limiter's ``batch`` mode or a ``Repeater``, though each changes how a finished
trial should be ranked or counted. In order of preference this module takes
them from: what the user gave ``PGSearcher(scheduler=..., stopper=...)``; the
objects ``tune.run`` (which ``Tuner.fit`` calls too) holds, found once per run
by its function's code up the call stack, then read through their public
attributes (``Experiment.stopper``, each wrapper's ``searcher``, ``repeat``,
``batch``). It logs once what it found and what it assumed. The private
attributes it reads (a cap's value: ``_max_t``, ``_max_t_attr``,
``_time_attr``, ``_max_iter``, ``CombinedStopper._stoppers``) are all read
in ``Runtime.caps`` and ``_parts`` below.

Nothing here sets process-wide state: Tune keeps the pending-trial limit it
chooses (``max_concurrent_trials``, or one pending trial for a custom
searcher), so a suggestion is never drawn long before a trial can start.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from dataclasses import dataclass
from typing import Any

from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, HyperBandScheduler, TrialScheduler
from ray.tune.search import ConcurrencyLimiter, Repeater
from ray.tune.stopper import CombinedStopper, MaximumIterationStopper, NoopStopper, Stopper, TimeoutStopper

from ray_pg.results import TRAINING_ITERATION, finite, level_of

logger = logging.getLogger(__name__)

# How far up the stack tune.run may be from a searcher method (Tuner.fit -> tune.run -> controller step ->
# search generator -> wrappers -> the searcher: about 12 frames in Ray 2.60).
_DEPTH = 40


@dataclass
class Runtime:
    """The scheduler and stopper that may end a trial, and the wrappers' settings.

    ``origin``: "given" (the user's arguments), "tune.run" (found there) or "none" (driven without Tune:
    nothing is known of who ends trials).
    """

    scheduler: TrialScheduler | None = None
    stopper: Stopper | None = None
    repeat: int = 1
    limited: bool = False
    origin: str = "none"

    def cuts_trials(self) -> bool:
        """Whether something can end one trial before it ends itself on its results."""
        return type(self.scheduler) not in (FIFOScheduler, type(None)) or _judges_trials(self.stopper)

    def level(self, result: dict, stopped: bool, stop: dict | None, longest: float) -> float:
        """How far a trial went, if it may have been cut short, else inf (it ran its full length).

        Under a scheduler or stopper that cuts trials, a trial is placed by how far it went unless it
        reached a cap, Tune's stop dict, or (ending itself) ``longest``, the most iterations any trial
        has reached: a trial that ended on its own before the longest ones never outranks them for
        having ended. Without one, every trial ran its course. Outside Tune (nothing known), a trial
        whose last result was withheld from ``on_trial_result`` was stopped there. ``stop``: Tune's
        stop dict (Tune stops at ``result[key] >= value``).
        """
        iteration = level_of(result)  # a checkpoint holds levels > 0 only
        if iteration is None or any(finite(result.get(key)) and result[key] >= value
                                    for key, value in (stop or {}).items()):
            return math.inf
        if self.origin == "none":
            return iteration if stopped else math.inf
        if not self.cuts_trials() or (not stopped and iteration >= longest):
            return math.inf
        if any(finite(result.get(key)) and result[key] >= cap for key, cap in self.caps()):
            return math.inf
        return iteration

    def asha(self) -> bool:
        """Whether the scheduler is ASHA (``AsyncHyperBandScheduler``), which stops most trials at its first
        rungs."""
        return isinstance(self.scheduler, AsyncHyperBandScheduler)

    def caps(self) -> list[tuple[str, float]]:
        """The result keys and values at which the scheduler or a stopper ends every trial: its full length."""
        caps = []
        if isinstance(self.scheduler, (AsyncHyperBandScheduler, HyperBandScheduler)):
            max_t = getattr(self.scheduler, "_max_t", getattr(self.scheduler, "_max_t_attr", None))
            if finite(max_t):
                caps.append((getattr(self.scheduler, "_time_attr", TRAINING_ITERATION), float(max_t)))
        return caps + [(TRAINING_ITERATION, float(part._max_iter)) for part in _parts(self.stopper)
                       if isinstance(part, MaximumIterationStopper) and finite(getattr(part, "_max_iter", None))]

    def describe(self) -> str:
        caps = " or ".join(f"{key} >= {value:g}" for key, value in self.caps()) or "not known"
        return (f"scheduler {type(self.scheduler).__name__}, stopper {type(self.stopper).__name__}, "
                f"full length: {caps}, repeat {self.repeat}")


def discover(searcher: Any, *, scheduler: TrialScheduler | None, stopper: Stopper | None,
             several_metrics: bool) -> Runtime:
    """The runtime of the Tune run calling ``searcher`` now; the user's ``scheduler``/``stopper`` win.

    Raises ValueError for a set-up Tune would only fail on once trials have run.
    """
    run = _tune_run_locals()
    if run is None:
        given = scheduler is not None or stopper is not None
        return Runtime(scheduler, stopper, origin="given" if given else "none")
    wrappers = _wrappers(run.get("search_alg"), searcher)
    repeat = max([w.repeat for w in wrappers if isinstance(w, Repeater)] or [1])
    if repeat > 1 and several_metrics:
        raise ValueError("Ray's Repeater averages one metric (it looks up searcher.metric in each result), and "
                         "this PGSearcher has several: average the repeats inside the trainable and report each "
                         "metric's mean, or use one metric")
    experiments = run.get("experiments") or [None]
    found_scheduler = run.get("scheduler") if isinstance(run.get("scheduler"), TrialScheduler) else None
    runtime = Runtime(scheduler if scheduler is not None else found_scheduler,
                      stopper if stopper is not None else getattr(experiments[0], "stopper", None),
                      repeat, any(isinstance(w, ConcurrencyLimiter) for w in wrappers), "tune.run")
    logger.info("PGSearcher runs under %s (scheduler and stopper %s)", runtime.describe(),
                "as given to PGSearcher" if scheduler is not None or stopper is not None else "found in tune.run")
    if not runtime.limited and "TUNE_MAX_PENDING_TRIALS_PG" not in os.environ:
        logger.warning("Tune keeps one trial pending at a time for a search algorithm without a concurrency "
                       "limit, so it starts PGSearcher's trials one by one (and an autoscaler sees demand for "
                       "one). To start N at once, set TuneConfig(max_concurrent_trials=N) or "
                       "tune.run(max_concurrent_trials=N), N the trials your cluster runs at once.")
    return runtime


def earlier_trials(source: Any, metric: str | list[str]) -> list[tuple[str, dict, Any, bool, int | None]]:
    """(trial id, config, value, errored, iteration it was cut short at or None) of each ended trial of an
    earlier experiment: a ``ResultGrid``, an ``ExperimentAnalysis``, an experiment's folder, a ``Trial``
    or a list of them. ``value``: one per metric when ``metric`` is a list. Unfinished trials are left out;
    a terminated trial that stopped short of the longest one was cut short (by a scheduler or stopper)."""
    from ray.tune import ExperimentAnalysis, ResultGrid
    from ray.tune.experiment import Trial

    if isinstance(source, ResultGrid):
        source = source.experiment_path
    if isinstance(source, (str, os.PathLike)):
        source = ExperimentAnalysis(os.fspath(source))
    trials = getattr(source, "trials", source)
    trials = [trial for trial in ([trials] if isinstance(trials, Trial) else list(trials))
              if trial.status in (Trial.TERMINATED, Trial.ERROR)]
    # Tune marks every trial it stops done=True: one that stopped short of the longest was cut.
    iterations = [(trial.last_result or {}).get(TRAINING_ITERATION) for trial in trials]
    longest = max((i for i in iterations if finite(i)), default=math.inf)
    ended = []
    for trial, iteration in zip(trials, iterations):
        result = trial.last_result or {}
        value = [result.get(key) for key in metric] if isinstance(metric, list) else result.get(metric)
        cut = trial.status == Trial.TERMINATED and finite(iteration) and iteration < longest
        ended.append((trial.trial_id, trial.config, value, trial.status == Trial.ERROR, int(iteration) if cut else None))
    return ended


def limiter_batches() -> bool:
    """Whether the ``ConcurrencyLimiter`` calling ``set_max_concurrency`` now hands results over a generation
    at a time (``batch=True``). Tune passes nothing else that says so."""
    frame = sys._getframe(1)
    for _ in range(_DEPTH):
        if frame is None:
            return False
        limiter = frame.f_locals.get("self") if "self" in frame.f_code.co_varnames else None
        if isinstance(limiter, ConcurrencyLimiter):
            return bool(limiter.batch)
        frame = frame.f_back
    return False


def _tune_run_locals() -> dict | None:
    """The locals of the ``tune.run`` call up the stack (``Tuner.fit`` calls it too), or None."""
    from ray.tune import tune as tune_module

    code = tune_module.run.__code__
    frame = sys._getframe(2)
    for _ in range(_DEPTH):
        if frame is None:
            return None
        if frame.f_code is code:
            return dict(frame.f_locals)
        frame = frame.f_back
    return None


def _wrappers(search_alg: Any, searcher: Any) -> list:
    """The search algorithms Tune wraps around ``searcher``, outermost first (their public ``searcher``)."""
    found = []
    while search_alg is not None and search_alg is not searcher and len(found) < 16:
        found.append(search_alg)
        search_alg = getattr(search_alg, "searcher", None)
    return found if search_alg is searcher else []


def _parts(stopper: Stopper | None) -> list[Stopper]:
    if isinstance(stopper, CombinedStopper):
        return [part for inner in stopper._stoppers for part in _parts(inner)]
    return [] if stopper is None else [stopper]


def _judges_trials(stopper: Stopper | None) -> bool:
    """Whether a Tune stopper can stop one trial on its results (a time budget stops all or none)."""
    return any(not isinstance(part, (NoopStopper, TimeoutStopper)) for part in _parts(stopper))
