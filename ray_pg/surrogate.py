"""Surrogate-assisted sampling: a linear-quadratic model of the ranks picks the best of a few policy samples.

After lq-CMA-ES (Hansen 2019; pycma's ``fitness_models.LQModel``, whose
constants these are): the model is linear, then diagonal-quadratic, then full
quadratic in the standardised numeric columns, the most complex whose
coefficients number at most the fitted results / 1.1; the categoricals enter
by their one-hot (reference coding). It is fitted by weighted least squares to
the ranks of the best 3/4 of the recent results (worse ones lie far from the
optimum a local quadratic describes), the weights falling linearly from 20 to
1 down the ranks. Our one addition: a ridge lets the linear model start from
half as many results. As in rank-lq-CMA-ES, ranks rather than metric values: the
model is invariant to monotone transformations of the metric.

lq-CMA-ES ranks a whole generation with the model and evaluates only its best;
a Tune searcher hands out one config at a time, so here the model pre-selects
(as metamodel-assisted ES do, Emmerich et al. 2002): ``suggest`` draws a few
candidates from the policy and returns the one the model ranks best. The
model is trusted only while its leave-one-out Kendall tau shows that it orders
results it was not fitted to (lq-CMA-ES gates on the same statistic); the
natural-gradient update underneath is unchanged. Pure numpy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ray_pg.natural import NaturalPolicy
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
# A model is used only when its leave-one-out Kendall tau reaches this.
MIN_TAU = 0.0


class RankModel(NamedTuple):
    """A fitted model: its type, coefficients, the standardisation of its inputs and its leave-one-out tau."""

    kind: str
    coef: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    tau: float

    def predict(self, policy: NaturalPolicy, raw: np.ndarray) -> np.ndarray:
        """The predicted rank of each row of ``raw`` (higher is better)."""
        return features(policy, raw, self.center, self.scale, self.kind) @ self.coef


def num_coefficients(kind: str, dim: int, num_onehot: int) -> int:
    quadratic = {"linear": 0, "diagonal": dim, "full": dim * (dim + 1) // 2}[kind]
    return 1 + dim + quadratic + num_onehot


def memory_size(policy: NaturalPolicy) -> int:
    """How many recent results the largest model type this policy can use needs (2x its coefficients)."""
    kind = "full" if policy.dim <= _MAX_FULL_DIM else "diagonal"
    return 2 * num_coefficients(kind, policy.dim, _num_onehot(policy))


def features(policy: NaturalPolicy, raw: np.ndarray, center: np.ndarray, scale: np.ndarray,
             kind: str) -> np.ndarray:
    """The model's inputs per row: 1, the standardised numerics (0 where not drawn), their squares or
    pairwise products, and the one-hot of each categorical but its last value (all 0 where not drawn)."""
    raw = np.atleast_2d(raw)
    z = np.nan_to_num((raw[:, policy.numeric_columns] - center) / scale)
    parts = [np.ones((len(raw), 1)), z]
    if kind == "diagonal":
        parts.append(z**2)
    elif kind == "full":
        upper = np.triu_indices(z.shape[1])
        parts.append(z[:, upper[0]] * z[:, upper[1]])
    if len(policy.sizes):
        cats = raw[:, policy.categorical_columns]
        drawn = ~np.isnan(cats)
        onehot = np.zeros((len(raw), int(policy.sizes.sum())))
        rows, blocks = np.nonzero(drawn)
        onehot[rows, policy.offsets[blocks] + cats[rows, blocks].astype(int)] = 1.0
        parts.append(onehot[:, _reference_coded(policy)])
    return np.hstack(parts)


def fit(policy: NaturalPolicy, raw: np.ndarray, scores: np.ndarray) -> RankModel | None:
    """The most complex model the results support, standardised by the policy's current distribution;
    None when there are too few results for even the linear one.

    Args:
        policy: Gives the column layout and the standardisation (its mean and marginal sds).
        raw: Recent results' raw samples (n, num_columns), NaN where an actor was not drawn.
        scores: Their scores, higher is better, NaN for failed trials (ranked last).
    """
    ranks = advantages(np.asarray(scores, dtype=float), "rank")  # in [-0.5, 0.5], failures last
    order = np.argsort(-ranks, kind="stable")
    kept = order[:int(_TRUNCATION * len(raw))]
    kinds = ("full", "diagonal", "linear") if policy.dim <= _MAX_FULL_DIM else ("diagonal", "linear")
    size = {k: num_coefficients(k, policy.dim, _num_onehot(policy)) for k in kinds}
    usable = [k for k in kinds if len(kept) >= _MIN_RELATIVE_SIZE * size[k]]
    if not usable and len(kept) < _MIN_LINEAR_SIZE * size["linear"]:
        return None
    kind = usable[0] if usable else "linear"
    center = policy.mean
    scale = np.sqrt(np.diag(policy.sampling_cov()))
    y = ranks[kept]
    coef, loo = weighted_least_squares(features(policy, raw[kept], center, scale, kind), y,
                                       np.linspace(_MAX_WEIGHT, 1.0, len(kept)), 0.0 if usable else _RIDGE)
    return RankModel(kind, coef, center.copy(), scale, kendall_tau(loo, y))


def weighted_least_squares(x: np.ndarray, y: np.ndarray, weights: np.ndarray,
                           ridge: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients minimising ``sum_i w_i (y_i - x_i b)^2 + ridge * mean(w) * |b|^2`` (minimum-norm
    where columns are collinear, e.g. a category never drawn) and each row's leave-one-out prediction:
    the fit's prediction for that row had the fit been made without it."""
    root_w = np.sqrt(weights)
    u, s, vt = np.linalg.svd(x * root_w[:, None], full_matrices=False)
    keep = s > s[0] * 1e-10
    u, s, vt = u[:, keep], s[keep], vt[keep]
    shrink = s**2 / (s**2 + ridge * float(np.mean(weights)))
    b = y * root_w
    projected = (u.T @ b) * shrink
    coef = vt.T @ (projected / s)
    # Leave one out in closed form: the residual divided by one minus the row's leverage.
    leverage = np.minimum(np.sum(u**2 * shrink, axis=1), 1.0 - 1e-9)
    return coef, y - (b - u @ projected) / root_w / (1.0 - leverage)


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-a of two sequences (0 when they have fewer than two elements)."""
    if len(a) < 2:
        return 0.0
    upper = np.triu_indices(len(a), 1)
    concordance = np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :])
    return float(concordance[upper].mean())


def _num_onehot(policy: NaturalPolicy) -> int:
    return int(np.maximum(policy.sizes - 1, 0).sum())


def _reference_coded(policy: NaturalPolicy) -> np.ndarray:
    """Which one-hot columns the model keeps: all but each categorical's last (implied by the intercept)."""
    keep = np.ones(int(policy.sizes.sum()), dtype=bool)
    keep[policy.offsets + policy.sizes - 1] = False
    return keep
