"""Multi-objective helpers: scores for the update, the Pareto front and hypervolume of results.

The searcher turns each batch of multi-objective rewards into one scalar score
per trial (``pareto_scores``) so that the usual rank-based advantage applies
unchanged; ``pareto_front`` and ``hypervolume`` read the outcome of a finished
run from a results dataframe. Internally every objective is MAXIMISED: a "min"
metric is negated on the way in. Pure numpy and pandas: this module knows
nothing of Ray.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

_MODES = ("min", "max")


# IBEA's scaling factor kappa (Zitzler and Kuenzli 2004, their default). Two objectives (ZDT1, 20
# seeds) and three (DTLZ2, 10 seeds), 8 and 64 workers: 0.02 and 0.05 are on a par; 0.2 loses DTLZ2.
_KAPPA = 0.05


def pareto_scores(rewards: np.ndarray) -> np.ndarray:
    """One scalar per trial for a rank-based advantage: IBEA's fitness with the additive eps-indicator.

    Each objective is first scaled to [0, 1] over the valid rows. The indicator
    ``I(y, x) = max_k (x_k - y_k)`` is how far ``y`` must move to weakly dominate
    ``x``; the score of ``x`` is ``-sum_{y != x} exp(-I(y, x) / (c kappa))``, with
    ``c = max |I|`` (Zitzler and Kuenzli, "Indicator-based selection in
    multiobjective search", 2004). A point that another dominates pays more
    than 1 for it; one that nobody comes near pays little. So the score keeps
    dominance, up to floating-point resolution (``x`` dominates ``y``: ``x``
    scores higher; equal points score equally), and also grades the points that non-dominated sorting leaves tied,
    which with three objectives are most of them.

    It replaced Pareto front plus crowding distance (NSGA-II's order), whose
    crowding rewards a point for being far from the others: also a point far
    behind the front, in the objectives where it is worse. Median hypervolume
    ratio, front + crowding against this (20 seeds on ZDT1, 10 on DTLZ2; 8 / 64 workers):
    two objectives 0.971 / 0.949 against 0.985 / 0.978; three 0.654 / 0.688 against
    0.932 / 0.941.

    Args:
        rewards: shape (n, k), every objective to be maximised; a row with any
            NaN or inf is a failed trial.

    Returns:
        float array (n,), higher is better; NaN for failed rows.

    Raises:
        ValueError: ``rewards`` is not 2-D with at least one column.
    """
    rewards = _points(rewards, "rewards")
    ok = np.isfinite(rewards).all(axis=1)
    scores = np.full(len(rewards), np.nan)
    valid = rewards[ok]
    if len(valid) < 2:
        scores[ok] = 0.0
        return scores
    # Divided by the largest magnitude first: the range of huge rewards (1e308) cannot overflow.
    valid = valid / np.maximum(np.abs(valid).max(axis=0), np.finfo(float).tiny)
    low, span = valid.min(axis=0), np.ptp(valid, axis=0)
    # Over distinct rows, each counted as often as it occurs: equal rows get bit-equal sums.
    distinct, inverse, counts = np.unique((valid - low) / np.where(span > 0, span, 1.0), axis=0,
                                          return_inverse=True, return_counts=True)
    indicator = (distinct[None, :, :] - distinct[:, None, :]).max(axis=2)  # [y, x]: I(y, x)
    c = np.abs(indicator).max()
    if c == 0:  # every valid row equal
        scores[ok] = 0.0
        return scores
    penalty = counts[:, None] * np.exp(-indicator / (c * _KAPPA))
    np.fill_diagonal(penalty, counts - 1.0)  # a row's copies, not itself: I = 0 gives exp(0) = 1 each
    scores[ok] = -penalty.sum(axis=0)[inverse.ravel()]
    return scores


def pareto_front(results: pd.DataFrame, metric: list[str], mode: list[str]) -> pd.DataFrame:
    """The non-dominated rows of a results dataframe.

    For example Ray Tune's ``result_grid.get_dataframe()`` or
    ``analysis.results_df``. With one metric the front is the best row(s).
    Equal rows on the front are all kept.

    Args:
        results: one row per trial.
        metric: the objective columns.
        mode: ``"min"`` or ``"max"`` for each metric.

    Returns:
        The non-dominated rows, with their original index and all columns,
        sorted by the first metric ascending (then the next ones, for ties).
        Rows with a NaN, missing or infinite value in any metric are ignored.

    Raises:
        ValueError: metric and mode differ in length or are empty, a mode is
            neither "min" nor "max", a metric is not a column or not numeric.
    """
    values = _objectives(results, metric, mode)
    ok = np.flatnonzero(np.isfinite(values).all(axis=1))
    front = ok[_non_dominated(values[ok])]
    return results.iloc[front].sort_values(list(metric), kind="stable")


def hypervolume(results: pd.DataFrame | np.ndarray, metric: list[str] | None = None,
                mode: list[str] | None = None, reference: Sequence[float] | None = None) -> float:
    """The volume dominated by the points and bounded by a reference point, in metric units.

    Exact for any number of objectives: one objective is a difference, two a
    sort-and-sweep, three or more slice along the last objective and recurse
    (HSO) on the non-dominated points only. Cost grows quickly with the
    number of objectives and of front points (about m^(k-1) log m for m front
    points); fine for the fronts of tuning runs.

    Args:
        results: a dataframe (give ``metric`` and ``mode``) or an array (n, k)
            whose columns are to be MINIMISED unless ``mode`` says otherwise.
        metric: the objective columns of a dataframe; not used with an array.
        mode: ``"min"`` or ``"max"`` for each objective.
        reference: one value per objective, in the objective's own units: an
            upper bound for a "min" objective, a lower bound for a "max" one.
            Points not strictly better than it in every objective add nothing.
            None takes the worst observed value of each objective: boundary
            points then add nothing, and the reference moves with the data, so
            compare runs (or iterations of one run) only at a fixed reference.

    Returns:
        The hypervolume; 0.0 when no valid point beats the reference. Rows
        with a NaN or inf are ignored.

    Raises:
        ValueError: inconsistent metric, mode or reference (see
            ``pareto_front``), ``metric`` given with an array, or an array that
            is not 2-D.
    """
    if isinstance(results, pd.DataFrame):
        if metric is None or mode is None:
            raise ValueError(f"a dataframe needs metric and mode, got {metric=}, {mode=}")
        values = _objectives(results, metric, mode)
        signs = _signs(mode, values.shape[1])
    else:
        if metric is not None:
            raise ValueError(f"metric names dataframe columns; with an array give only mode, got {metric=}")
        array = _points(results, "results")
        # An array is to be minimised unless told otherwise.
        signs = _signs(["min"] * array.shape[1] if mode is None else mode, array.shape[1])
        values = array * signs
    values = values[np.isfinite(values).all(axis=1)]
    if reference is None:
        if not len(values):
            return 0.0
        bound = values.min(axis=0)  # the worst observed value, maximised form
    else:
        bound = np.asarray(reference, dtype=float)
        if bound.shape != signs.shape or not np.isfinite(bound).all():
            raise ValueError(f"reference must be {len(signs)} finite values, one per objective, got {reference=}")
        bound = bound * signs
    # Boxes from the reference (now the origin) to each point strictly beyond it.
    gains = values - bound
    gains = gains[(gains > 0).all(axis=1)]
    return float(_union_volume(gains)) if len(gains) else 0.0


def _union_volume(gains: np.ndarray) -> float:
    """Volume of the union of the boxes [0, g] over rows g (all > 0), by slicing (HSO)."""
    num_objectives = gains.shape[1]
    if num_objectives == 1:
        return gains.max()
    if num_objectives == 2:
        # Sweep x from high to low; the height over (x_{i+1}, x_i] is the best y so far.
        order = np.argsort(-gains[:, 0], kind="stable")
        x = gains[order, 0]
        height = np.maximum.accumulate(gains[order, 1])
        return np.dot(x - np.append(x[1:], 0.0), height)
    gains = gains[_non_dominated(gains)]
    gains = gains[np.argsort(-gains[:, -1], kind="stable")]
    depth = gains[:, -1]
    thickness = depth - np.append(depth[1:], 0.0)
    # The slice under point i (in the last objective) is covered by points 0..i.
    return sum(thickness[i] * _union_volume(gains[:i + 1, :-1]) for i in range(len(gains)) if thickness[i] > 0)


def _non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows (maximised, finite), equal rows all kept.

    The first front of non-dominated sorting, in O(n) memory and about O(n m k)
    time for m front points: each surviving point in turn removes the rows it
    dominates.
    """
    kept = np.arange(len(points))
    i = 0
    while i < len(kept):
        point = points[kept[i]]
        rest = points[kept]
        survives = (rest > point).any(axis=1) | (rest == point).all(axis=1)
        kept = kept[survives]
        i = survives[:i].sum() + 1  # `point` survives itself
    mask = np.zeros(len(points), dtype=bool)
    mask[kept] = True
    return mask


def _objectives(results: pd.DataFrame, metric: list[str], mode: list[str]) -> np.ndarray:
    """The metric columns as a float array (n, k) to maximise; NaN where missing."""
    if isinstance(metric, str) or not len(metric):
        raise ValueError(f"metric must be a non-empty list of column names, got {metric=}")
    metric = list(metric)
    missing = [name for name in metric if name not in results.columns]
    if missing:
        raise ValueError(f"metric {missing} not among the results' columns {list(results.columns)}")
    signs = _signs(mode, len(metric))
    try:
        values = results[metric].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as error:
        raise ValueError(f"metric columns must be numeric, got dtypes {results[metric].dtypes.to_dict()}") from error
    return values * signs


def _signs(mode: list[str], num_objectives: int) -> np.ndarray:
    """+1 for each "max" objective, -1 for each "min": multiplying gives the maximised form."""
    if isinstance(mode, str) or len(mode) != num_objectives or any(m not in _MODES for m in mode):
        raise ValueError(f"mode must list 'min' or 'max' for each of the {num_objectives} objectives, got {mode=}")
    return np.where(np.asarray(mode) == "max", 1.0, -1.0)


def _points(points: np.ndarray, name: str) -> np.ndarray:
    """``points`` as a float array (n, k) with k >= 1."""
    array = np.asarray(points, dtype=float)
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array (n, k) with k >= 1 objectives, got shape={array.shape}")
    return array
