"""Results known without a trial of this run: ``evaluated_rewards`` and Ray's warm-start API.

``PGSearcher(points_to_evaluate=..., evaluated_rewards=...)``, ``add_evaluated_point`` and
``add_evaluated_trials`` hand the searcher configs evaluated elsewhere. Each becomes a sample of the
policy as it is now and is learnt from as a finished trial as soon as the searcher has a metric and a
mode; until then it waits in the searcher's ``_unscored`` list (its checkpoint keeps them).

These functions are PGSearcher's own methods kept apart: they take the searcher, run under its lock,
and read and write its ``_space``, ``_learner``, ``_unscored`` and ``_evaluated_ids``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from ray_pg import runtime as rt
from ray_pg import trials
from ray_pg.space import Space

logger = logging.getLogger(__name__)


def check_complete(space: Space, points: list[tuple[np.ndarray, dict]], configs: list) -> None:
    """A point with a known reward must set every parameter it uses."""
    for (raw, _), config in zip(points, configs):
        if np.isnan(raw[space.active(raw)]).any():
            raise ValueError(f"a point with an evaluated reward must set every parameter, got {config}")


def add_evaluated_rewards(searcher: Any, points: list[tuple[np.ndarray, dict]]) -> None:
    """The encoded ``points_to_evaluate`` (``points``), each with its value from ``evaluated_rewards``."""
    for i, ((raw, _), value) in enumerate(zip(points, searcher._evaluated_rewards)):
        add(searcher, f"evaluated_rewards[{i}]", raw, value, math.inf)


def add_point(searcher: Any, parameters: dict, value: float | list[float] | None, error: bool,
              pruned: bool, intermediate_values: list[float] | None) -> None:
    """``PGSearcher.add_evaluated_point``: one config evaluated outside this search."""
    if searcher._space is None:
        raise RuntimeError("PGSearcher has no search space yet: give it one before evaluated points")
    if not isinstance(parameters, dict):
        raise ValueError(f"an evaluated point is a config dict, got {parameters!r}")
    raw = searcher._space.encode(parameters)
    check_complete(searcher._space, [(raw, {})], [parameters])
    level = float(max(1, len(intermediate_values or []))) if pruned else math.inf
    add(searcher, None, raw, None if error else value, level)


def add_trials(searcher: Any, trials_or_analysis: Any, metric: str | list[str]) -> None:
    """``PGSearcher.add_evaluated_trials``: the ended trials of an earlier experiment, each only once."""
    skipped = 0
    for trial_id, config, value, error, pruned_at in rt.earlier_trials(trials_or_analysis, metric):
        skipped += trial_id in searcher._evaluated_ids
        if trial_id not in searcher._evaluated_ids:
            add_point(searcher, config, value, error=error, pruned=pruned_at is not None,
                      intermediate_values=[None] * (pruned_at or 0))
            searcher._evaluated_ids.add(trial_id)
    if skipped:
        logger.warning("PGSearcher skipped %d trials it had already learnt from (add_evaluated_trials)", skipped)


def add(searcher: Any, trial_id: str | None, raw: np.ndarray, value: Any, level: float) -> None:
    """A result known without a trial: scored now, or once the mode is known."""
    raw = np.where(searcher._space.active(raw), raw, np.nan)
    learner = searcher._learner
    if math.isfinite(level):  # a known pruned result counts t / T in a batch, as a trial cut at t
        learner.full_iterations = max(learner.full_iterations, level)
    searcher._unscored.append((trial_id, learner.sample(learner.policy, raw), value, level))
    score_unscored(searcher)


def score_unscored(searcher: Any) -> None:
    """Learn from the known results waiting for a metric and a mode, once the searcher has both."""
    if searcher._mode is None or searcher._metric is None:
        return
    known, searcher._unscored = searcher._unscored, []
    for trial_id, sample, value, level in known:
        trials.learn(searcher, trial_id, sample, value, level)
