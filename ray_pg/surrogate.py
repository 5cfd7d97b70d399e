"""Surrogate-assisted sampling: a linear-quadratic model of the ranks picks the best of a few policy samples.

After lq-CMA-ES (Hansen 2019; pycma's ``fitness_models.LQModel``, whose
constants these are): the model is linear, then diagonal-quadratic, then full
quadratic in the standardised numeric columns, the most complex whose
coefficients number at most the fitted results / 1.1; the categoricals enter
by their one-hot (reference coding). It is fitted by weighted least squares to
the ranks of the best 3/4 of the recent results (worse ones lie far from the
optimum a local quadratic describes), the weights falling linearly from 20 to
1 down the ranks. As in rank-lq-CMA-ES, ranks rather than metric values: the
model is invariant to monotone transformations of the metric. Ours: a ridge
lets the linear model start from half as many results, the tau is taken
leave-one-out in closed form, the full quadratic stops at 10 numerics, and no
model has more than 256 coefficients (its fit would hold Tune up).

lq-CMA-ES ranks a whole generation with the model and evaluates only its best;
a Tune searcher hands out one config at a time, so here the model pre-selects
(as metamodel-assisted ES do, Emmerich et al. 2002): ``suggest`` draws a few
candidates from the policy and returns the one the model ranks best. The
model is trusted only while its leave-one-out Kendall tau is significantly
above 0 (lq-CMA-ES gates on the same statistic; a model of noise must not
pass); the natural-gradient update underneath is unchanged. Pure numpy.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from ray_pg.actors import onehot, segment_offsets
from ray_pg.policy import advantages

_TRUNCATION = 0.75  # the share of the results, best first, that the model is fitted to
_MIN_RELATIVE_SIZE = 1.1  # fitted results per coefficient before a model type is used
# ... except the linear model: from half as many results as coefficients, with a ridge of this times
# the mean regression weight until it has 1.1x, so that the model helps from the first updates.
# bbob-mixint, 8 workers, mean rank at 25 / 50 trials: 3.46 / 3.34 without, 3.39 / 3.23 with (of 6).
_MIN_LINEAR_SIZE, _RIDGE = 0.5, 0.1
_MAX_WEIGHT = 20.0  # the best result's regression weight; the worst fitted one's is 1
# Beyond this many numeric columns the full quadratic (d^2 / 2 coefficients) costs more than it
# can be fitted from at the budgets of a tuning run; the diagonal one is used instead.
_MAX_FULL_DIM = 10
# The most coefficients a model may have: a fit to the 2p results it keeps costs O(p^3), 16 ms at 256
# (24 ms at 321, 64 ms at 500 on our 2-core machine), and Tune waits on it. Beyond, no model: the
# linear one needs too many results to help within the budgets of such spaces anyway.
_MAX_COEFFICIENTS = 256
# A model is used only when its leave-one-out Kendall tau is this many of tau's sds under no signal above
# 0: a model of noise is rarely trusted (leave-one-out taus of noise sit below 0). The gate tau >= 0
# trusted models of pure noise in 35% of updates (tests/test_invariance.py); 2 sds switched real models
# off too (our suite, 8 workers, 5 seeds: +0.5 mean rank), as a fixed tau >= 0.3 did (natural_ablation.md).
MIN_TAU_Z = 1.0


class Layout(NamedTuple):
    """Where a policy's numerics and categoricals sit in a raw sample, and the numerics' standardisation."""

    numeric: np.ndarray  # raw columns of the numerics
    categorical: np.ndarray  # raw columns of the categoricals
    sizes: np.ndarray  # categories of each categorical
    offsets: np.ndarray  # where each categorical's values start in their one-hot
    center: np.ndarray  # the numerics' current means ...
    scale: np.ndarray  # ... and sds

    @classmethod
    def of(cls, columns: list) -> Layout:
        """From a policy's ``columns()``: probabilities per categorical, (mean, sd) per numeric."""
        numeric = [j for j, c in enumerate(columns) if isinstance(c, tuple)]
        categorical = [j for j, c in enumerate(columns) if not isinstance(c, tuple)]
        sizes = np.array([len(columns[j]) for j in categorical], dtype=int)
        return cls(np.array(numeric, dtype=int), np.array(categorical, dtype=int), sizes, segment_offsets(sizes),
                   np.array([columns[j][0] for j in numeric], dtype=float),
                   np.array([columns[j][1] for j in numeric], dtype=float))

    @property
    def dim(self) -> int:
        return len(self.numeric)

    @property
    def num_onehot(self) -> int:
        """One-hot columns the model keeps: all but each categorical's last (implied by the intercept)."""
        return int(np.maximum(self.sizes - 1, 0).sum())


class RankModel(NamedTuple):
    """A fitted model: its type, coefficients, the layout it reads, its leave-one-out tau and results fitted."""

    kind: str
    coef: np.ndarray
    layout: Layout
    tau: float
    fitted: int

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """The predicted rank of each row of ``raw`` (higher is better)."""
        return features(self.layout, raw, self.kind) @ self.coef

    def trusted(self, min_tau_z: float = MIN_TAU_Z) -> bool:
        """Whether its tau is ``min_tau_z`` null sds above 0: it orders results it was not fitted to."""
        return self.fitted >= 2 and self.tau >= min_tau_z * tau_null_sd(self.fitted)


def tau_null_sd(n: int) -> float:
    """The sd of Kendall's tau between two independent orders of n >= 2 items (Kendall 1938)."""
    return math.sqrt(2.0 * (2 * n + 5) / (9.0 * n * (n - 1)))


def num_coefficients(kind: str, dim: int, num_onehot: int) -> int:
    quadratic = {"linear": 0, "diagonal": dim, "full": dim * (dim + 1) // 2}[kind]
    return 1 + dim + quadratic + num_onehot


def model_sizes(layout: Layout) -> dict[str, int]:
    """The model types this layout affords, the most complex first (none: too many coefficients), with
    their coefficients."""
    kinds = ("full", "diagonal", "linear") if layout.dim <= _MAX_FULL_DIM else ("diagonal", "linear")
    onehot = layout.num_onehot
    sizes = {k: num_coefficients(k, layout.dim, onehot) for k in kinds}
    return {k: size for k, size in sizes.items() if size <= _MAX_COEFFICIENTS}


def largest_size(layout: Layout) -> int:
    """The coefficients of the most complex model type for this layout's numerics, over the cap too."""
    return num_coefficients("full" if layout.dim <= _MAX_FULL_DIM else "diagonal", layout.dim, layout.num_onehot)


def memory_size(layout: Layout) -> int:
    """How many recent results the largest model type for this layout needs (2x its coefficients)."""
    sizes = model_sizes(layout)
    return 2 * next(iter(sizes.values())) if sizes else 0


def features(layout: Layout, raw: np.ndarray, kind: str) -> np.ndarray:
    """The model's inputs per row: 1, the standardised numerics (0 where not drawn), their squares or
    pairwise products, and the one-hot of each categorical but its last value (all 0 where not drawn)."""
    raw = np.atleast_2d(raw)
    z = (raw[:, layout.numeric] - layout.center) / layout.scale
    z[np.isnan(z)] = 0.0
    parts = [np.ones((len(raw), 1)), z]
    if kind == "diagonal":
        parts.append(z**2)
    elif kind == "full":
        upper = _upper(z.shape[1], 0)
        parts.append(z[:, upper[0]] * z[:, upper[1]])
    if len(layout.sizes):
        coded = onehot(raw[:, layout.categorical], layout.offsets, int(layout.sizes.sum()))
        parts.append(coded[:, _all_but_last(tuple(layout.sizes.tolist()))])  # the last is implied by 1
    return np.hstack(parts)


def fit(layout: Layout, raw: np.ndarray, scores: np.ndarray) -> RankModel | None:
    """The most complex model the results support; None when there are too few for even the linear one, or
    when even it has more than ``_MAX_COEFFICIENTS``.

    Args:
        layout: The policy's layout, standardised by its current distribution.
        raw: Recent results' raw samples (n, num_columns), NaN where an actor was not drawn.
        scores: Their scores, higher is better, NaN for failed trials (ranked last).
    """
    size = model_sizes(layout)
    if not size:
        return None
    ranks = advantages(np.asarray(scores, dtype=float), "rank")  # in [-0.5, 0.5], failures last
    order = np.argsort(-ranks, kind="stable")
    kept = order[:int(_TRUNCATION * len(raw))]
    usable = [k for k in size if len(kept) >= _MIN_RELATIVE_SIZE * size[k]]
    if not usable and len(kept) < _MIN_LINEAR_SIZE * size["linear"]:
        return None
    kind = usable[0] if usable else "linear"
    y = ranks[kept]
    coef, loo = weighted_least_squares(features(layout, raw[kept], kind), y, _regression_weights(len(kept)),
                                       0.0 if usable else _RIDGE)
    return RankModel(kind, coef, layout, kendall_tau(loo, y), len(kept))


def weighted_least_squares(x: np.ndarray, y: np.ndarray, weights: np.ndarray,
                           ridge: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients minimising ``sum_i w_i (y_i - x_i b)^2 + ridge * mean(w) * |b|^2`` and each row's
    leave-one-out prediction: the fit's prediction for that row had the fit been made without it.

    Solved by the normal equations' Cholesky factor, several times cheaper than an SVD for the tall
    systems here (267 x 181 on 70 parameters: 4 ms against 17). Where columns are collinear (a
    category never drawn) a jitter of 1e-9 of the mean diagonal keeps them solvable.
    """
    root_w = np.sqrt(weights)
    xw, b = x * root_w[:, None], y * root_w
    gram = xw.T @ xw
    if ridge:
        gram[np.diag_indices_from(gram)] += ridge * float(np.mean(weights))
    try:
        if not np.diagonal(gram).all():  # a column of zeros (a category not drawn): Cholesky would fail
            raise np.linalg.LinAlgError  # (and fail slowly: it did in 380 of 399 fits on 10 parameters)
        chol = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        chol = np.linalg.cholesky(gram + np.eye(len(gram)) * (1e-9 * float(np.trace(gram)) / len(gram)))
    inverse = np.linalg.inv(chol)  # one call where two solves (by LU: numpy has no triangular solve) took two
    half = inverse @ xw.T  # L^-1 X_w^T: its squared columns sum to the leverages
    coef = inverse.T @ (half @ b)
    # Leave one out in closed form: the residual divided by one minus the row's leverage.
    leverage = np.minimum(np.sum(half**2, axis=0), 1.0 - 1e-9)
    return coef, y - (b - xw @ coef) / root_w / (1.0 - leverage)


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-a of two sequences (0 when they have fewer than two elements)."""
    if len(a) < 2:
        return 0.0
    first, second = _upper(len(a), 1)  # each pair once
    return float((np.sign(a[first] - a[second]) * np.sign(b[first] - b[second])).mean())


@functools.lru_cache(maxsize=64)
def _all_but_last(sizes: tuple[int, ...]) -> np.ndarray:
    """The one-hot columns of categoricals of these sizes but each one's last (cached, read only: np.delete
    cost more than the indexing)."""
    kept = np.flatnonzero(~np.isin(np.arange(sum(sizes)), np.cumsum(sizes) - 1))
    kept.flags.writeable = False
    return kept


@functools.lru_cache(maxsize=64)
def _regression_weights(n: int) -> np.ndarray:
    """The weights of ``n`` fitted results, best first: from ``_MAX_WEIGHT`` down to 1 (cached, read only)."""
    weights = np.linspace(_MAX_WEIGHT, 1.0, n)
    weights.flags.writeable = False
    return weights


@functools.lru_cache(maxsize=64)
def _upper(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(n, k)``, cached: it builds an n x n mask on every call, which cost more than the
    products it indexes (0.03 ms per trial on 10 parameters; ``experiments.bench.cost``). Read only."""
    rows, columns = np.triu_indices(n, k)
    rows.flags.writeable = columns.flags.writeable = False
    return rows, columns
