"""PGSearcher's trials in flight: how each is drawn, what it reported, and how its end is learnt.

A trial starts from the next queued point of ``points_to_evaluate`` (its missing parameters drawn from
the policy) or from the policy's next sample. Tune then reports its results through ``on_trial_result``,
except the one on which it stops the trial, and its end through ``on_trial_complete`` in one of three
forms (as Ray 2.60 calls a searcher): finished or stopped with its last result, stopped while pending
or paused with none, failed with ``error=True``. So each pending trial's last result is kept (``_last``, cut to the keys
read here) and, for a learner that weighs rungs (``rungs.py``), its results at the rungs (``_curves``);
its end becomes a ``Finished`` entry of the learner's batch: rewards, and how far it went (``runtime.py``).

These functions are PGSearcher's own methods kept apart: they take the searcher, run under its lock,
and read and write its ``_queue``, ``_pending``, ``_last``, ``_curves``, ``_num_suggested``,
``_peak_in_flight`` and ``_learner`` (and starts its ``_runtime`` where none has begun).
"""

from __future__ import annotations

import logging
import math
from numbers import Real
from typing import Any

import numpy as np

from ray_pg import rungs
from ray_pg.results import TRAINING_ITERATION, Finished, Sample, as_list, finite, level_of, rewards_of

logger = logging.getLogger(__name__)


def start(searcher: Any, trial_id: str) -> dict:
    """A new pending trial: its sample drawn, its config returned."""
    learner = searcher._learner
    num_samples = searcher._num_samples
    policy = learner.sampling_policy(searcher._num_suggested / num_samples if num_samples else None,
                                     len(as_list(searcher._metric)) > 1)
    given: dict = {}
    if searcher._queue:
        point, given = searcher._queue.pop(0)
        sample = learner.sample(policy, searcher._space.mask_inactive(
            np.where(np.isnan(point), policy.sample(searcher._rng), point)))
    else:
        sample = learner.next_sample(policy)
    searcher._num_suggested += 1
    searcher._pending[trial_id] = sample
    searcher._peak_in_flight = max(searcher._peak_in_flight, len(searcher._pending))
    return searcher._space.decode(sample.raw, given)


def report(searcher: Any, trial_id: str, result: dict) -> None:
    """Keep what a pending trial's result tells: its last values, and its curve at the rungs."""
    if trial_id in searcher._pending and isinstance(result, dict):
        keys = [*as_list(searcher._metric), TRAINING_ITERATION, *(searcher._stop or {})]  # the keys read here
        # As floats, as a checkpoint restores them.
        searcher._last[trial_id] = {key: float(result[key]) for key in keys if key in result and finite(result[key])}
        level = level_of(result)
        if level is not None and records_rungs(searcher):
            curve = searcher._curves.setdefault(trial_id, {})
            curve[level] = float(rewards(searcher, result)[0])
            searcher._curves[trial_id] = rungs.kept(curve, searcher._learner.rung_levels)


def records_rungs(searcher: Any) -> bool:
    """Whether pending trials' results at the rungs are kept: a learner that weighs rungs by their trust
    (an ablation, ``rungs.py``), one metric, and a scheduler or stopper that cuts trials."""
    return (searcher._learner.rung_prior is not None and len(as_list(searcher._metric)) == 1
            and searcher._runtime is not None and searcher._runtime.cuts_trials())


def end(searcher: Any, trial_id: str, result: dict | None, error: bool) -> None:
    """``PGSearcher.on_trial_complete``: a trial's end, in any of Tune's three forms, learnt from."""
    sample = searcher._pending.pop(trial_id, None)
    last = searcher._last.pop(trial_id, None)
    curve = searcher._curves.pop(trial_id, {})
    if sample is None:
        logger.debug("PGSearcher ignores trial %s: not suggested here, or already complete", trial_id)
        return
    if error:
        learn(searcher, trial_id, sample, None, math.inf)
    elif result is None and last is None:
        logger.debug("PGSearcher drops trial %s: stopped before it reported a result", trial_id)
    elif result is None:  # stopped while paused: Tune judged its last result
        learn(searcher, trial_id, sample, last, how_far(searcher, last, stopped=True), curve)
    else:
        # Its last result never reached on_trial_result: Tune stopped the trial there. (``last`` holds
        # floats: 2**53 + 1 as an int is not its float.)
        iteration = result.get(TRAINING_ITERATION)
        stopped = last is None or last.get(TRAINING_ITERATION) != (float(iteration) if finite(iteration) else None)
        learn(searcher, trial_id, sample, result, how_far(searcher, result, stopped), curve)


def how_far(searcher: Any, result: dict, stopped: bool) -> float:
    """How far a trial went if Tune cut it short, else inf (it ran its course)."""
    learner = searcher._learner
    level = level_of(result)
    if level is not None:
        learner.full_iterations = max(learner.full_iterations, level)
    return (searcher._runtime or searcher._start_run()).level(result, stopped, searcher._stop, learner.full_iterations)


def learn(searcher: Any, trial_id: str | None, sample: Sample, result: dict | list | Real | None,
          level: float, curve: dict[float, float] | None = None) -> None:
    """Hand a finished trial to the learner: its rewards from ``result`` (a result, known values, or None:
    it failed), with its results at the rungs below ``level`` (``curve``)."""
    learner = searcher._learner
    passed = [(t, v) for t, v in curve.items() if t < level and t in learner.rung_levels] if curve else []
    entry = Finished(trial_id, sample, rewards(searcher, result), level, np.array(passed) if passed else None)
    learner.add(entry, searcher.batch_size, as_list(searcher._metric), as_list(searcher._mode))


def rewards(searcher: Any, result: dict | list | Real | None) -> np.ndarray:
    """Rewards to maximise, one per metric (``results.rewards_of``)."""
    return rewards_of(result, as_list(searcher._metric), as_list(searcher._mode))
