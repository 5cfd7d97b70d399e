"""From Tune's results to scores: objectives, rewards, and the ranking of one batch.

Pure numpy: this module knows nothing of Ray.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, NamedTuple

import numpy as np

from ray_pg.pareto import pareto_scores
from ray_pg.policy import average_ranks, by_level

# The result key that says how far a trial went; Tune adds it to every result.
TRAINING_ITERATION = "training_iteration"


class Sample(NamedTuple):
    """A suggestion in flight or in the batch: its raw vector and log-probability under the drawing policy.

    ``blocks``: per-block log-probabilities (``NaturalPolicy.block_log_prob``), for a natural-gradient searcher.
    """

    raw: np.ndarray
    log_prob: float
    blocks: np.ndarray | None = None


class Finished(NamedTuple):
    """A trial in the batch: ``level`` is how far it went, inf if Tune did not cut it short.

    ``rungs``: (iteration, first reward) at each rung it passed below ``level`` (``rungs.py``), or None.
    """

    trial_id: str | None
    sample: Sample
    rewards: np.ndarray
    level: float
    rungs: np.ndarray | None = None


def finished_arrays(entries: list[Finished]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rewards (n, metrics), levels (n,) and raw samples (n, columns) of finished trials (n > 0)."""
    n = len(entries)  # concatenated: np.array reads each row's type and shape first, at twice the cost
    return (np.concatenate([e.rewards for e in entries]).reshape(n, -1), np.array([e.level for e in entries]),
            np.concatenate([e.sample.raw for e in entries]).reshape(n, -1))


def rewards_of(result: dict | list | Real | None, metrics: list[str], modes: list[str]) -> np.ndarray:
    """Rewards to maximise, one per metric, from a result dict or given values.

    NaN marks a failed trial or a missing/NaN/inf/non-numeric metric.
    """
    if isinstance(result, dict):
        values = [result.get(metric) for metric in metrics]
    else:
        values = as_list(result) if result is not None else [None] * len(metrics)
        if len(values) != len(metrics):
            raise ValueError(f"expected one value per metric {metrics}, got {result!r}")
    rewards = np.full(len(metrics), math.nan)
    for i, (value, mode) in enumerate(zip(values, modes)):
        if finite(value):
            rewards[i] = float(value) if mode == "max" else -float(value)
    return rewards


def batch_scores(rewards: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """A score per trial, higher is better, NaN for failed trials: by level first, then by the metrics.

    With several metrics, the ranks of IBEA's fitness (``pareto_scores``) are
    taken within each level: trials cut at different rungs are not compared on
    their metrics. Ranks, because the fitness spans e^-20 to n e^20: a z-score
    of it would see only the worst trial.
    """
    if rewards.shape[1] == 1:
        # Scaled into [-1, 1]: order and z-scores are unchanged, and huge metrics
        # (1e308) cannot overflow a z-score's mean and sd.
        scores = rewards[:, 0]
        scale = np.max(np.abs(scores[np.isfinite(scores)]), initial=0.0)
        return by_level(levels, scores / scale if scale > 0 else scores)
    scores = np.full(len(rewards), np.nan)
    for level in np.unique(levels):
        group = levels == level
        fitness = pareto_scores(rewards[group])
        ok = ~np.isnan(fitness)
        scores[np.flatnonzero(group)[ok]] = average_ranks(fitness[ok])
    return by_level(levels, scores)


def batch_summary(rewards: np.ndarray, metrics: list[str], modes: list[str]) -> dict[str, float | None]:
    """``mean_<metric>`` and ``best_<metric>`` of a batch's finite rewards (n, metrics), in each metric's
    own sign and units (a reward is the metric, negated for mode "min")."""
    summary: dict[str, float | None] = {}
    for metric, mode, column in zip(metrics, modes, rewards.T):
        sign = 1.0 if mode == "max" else -1.0
        # Each term divided first: huge finite rewards (1e308) cannot overflow the mean.
        summary[f"mean_{metric}"] = sign * float(np.sum(column / len(column))) if len(column) else None
        summary[f"best_{metric}"] = sign * float(column.max()) if len(column) else None
    return summary


def check_evaluated_rewards(rewards: Any, points: list | None, metric: Any) -> list | None:
    """``PGSearcher(evaluated_rewards=...)`` checked against its points and metrics, array rows as lists."""
    if rewards is None:
        return None
    if not isinstance(rewards, (list, tuple, np.ndarray)):
        raise ValueError(f"evaluated_rewards must be a list of metric values, one per point of "
                         f"points_to_evaluate, got {rewards!r}")
    # Array rows as lists: a list holds one value per metric (rewards_of), an array is one value.
    rewards = [v.tolist() if isinstance(v, np.ndarray) else v for v in rewards]
    if len(rewards) != len(points or []):
        raise ValueError(f"evaluated_rewards needs one value per point of points_to_evaluate, got "
                         f"{len(rewards)} for {len(points or [])} points")
    rows = [v if isinstance(v, (list, tuple)) else [v] for v in rewards]
    widths = {len(row) for row in rows} | ({len(as_list(metric))} if metric is not None else set())
    if len(widths) > 1 or not all(v is None or isinstance(v, Real) and not isinstance(v, bool)
                                  for row in rows for v in row):
        raise ValueError(f"evaluated_rewards needs one value per metric ({metric!r}) for each point: a "
                         f"number (None: failed), a list of them with several metrics; got {rewards!r}")
    return rewards


def check_objectives(metric: Any, mode: Any) -> None:
    """One metric and one mode, or lists of equal length (multi-objective)."""
    modes = as_list(mode)
    if any(m not in ("max", "min") for m in modes) or (isinstance(mode, list) and not mode):
        raise ValueError(f"mode must be 'max' or 'min', or a list of them, got {mode=}")
    metrics = as_list(metric)
    if (metric is not None and not all(isinstance(m, str) for m in metrics)) or (
            isinstance(metric, list) and (not metric or len(set(metrics)) != len(metrics))):
        raise ValueError(f"metric must be a result key (str) or a list of distinct keys, got {metric=}")
    if metric is not None and mode is not None and (isinstance(metric, list) != isinstance(mode, list)
                                                   or len(metrics) != len(modes)):
        raise ValueError(f"give one mode per metric (both strings, or lists of equal length), got {metric=}, {mode=}")


def finite(value: Any) -> bool:
    """A number (not a bool) that a float holds, not inf or NaN (an int beyond floats is not: 10**400)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # math.isfinite converts an int to a float first
        return False


def level_of(result: dict) -> float | None:
    """How far the trial of ``result`` went, as a float: its training_iteration if finite and at least 1
    (Tune counts from 1: below, it tells nothing of how far), else None."""
    iteration = result.get(TRAINING_ITERATION)
    return float(iteration) if finite(iteration) and iteration >= 1 else None


def as_list(value: Any) -> list:
    """``None`` -> [], a list, tuple or 1-D array as a list, anything else (a 0-d array's item) -> [value].

    Arrays as a checkpoint writes them: a result waiting in one must be read as it was given.
    """
    if value is None:
        return []
    if isinstance(value, np.ndarray) and value.ndim <= 1:
        return value.tolist() if value.ndim else [value.item()]
    return list(value) if isinstance(value, (list, tuple)) else [value]
