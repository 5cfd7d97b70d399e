"""The policy over a whole search space and its batched policy-gradient update.

A sample is a raw vector with one entry per actor (a category index stored as a
float, or a Gaussian's ``z``, or NaN for an actor that was not drawn: a branch
of a conditional space that was not chosen); its log-probability is the sum
over the drawn actors, so only they receive gradient. The
update maximises the PPO-clipped surrogate

    L = mean_i min(r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i) + c * H(pi),
    r_i = pi(a_i) / pi_old(a_i),

with Adam, over several passes of one batch. The importance ratio ``r_i``
corrects for samples drawn under an older policy (asynchronous trials); the
clip keeps a pass from moving too far. A bad outcome lowers its action's
probability through a negative advantage ``A_i``: the learning rate is never
negated. Pure numpy: this module knows nothing of Ray.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from ray_pg.actors import Categoricals, Gaussians


class Policy:
    """Independent actors over the raw variables of one space, with flat parameters.

    ``columns`` describes the raw vector: an int is a categorical over that many
    categories, a ``(mean, log_sd)`` pair is a Gaussian starting there.
    """

    def __init__(self, columns: Sequence[int | tuple[float, float]]):
        self._cat_cols = np.array([j for j, c in enumerate(columns) if isinstance(c, int)], dtype=int)
        self._gauss_cols = np.array([j for j, c in enumerate(columns) if not isinstance(c, int)], dtype=int)
        self.categoricals = Categoricals.uniform([columns[j] for j in self._cat_cols])
        self.gaussians = Gaussians(np.array([columns[j][0] for j in self._gauss_cols], dtype=float),
                                   np.array([columns[j][1] for j in self._gauss_cols], dtype=float))
        self._width = len(columns)

    @property
    def params(self) -> np.ndarray:
        return np.concatenate([self.categoricals.params, self.gaussians.params])

    @params.setter
    def params(self, flat: np.ndarray) -> None:
        split = self.categoricals.logits.size
        self.categoricals = self.categoricals.with_params(flat[:split])
        self.gaussians = self.gaussians.with_params(flat[split:])

    def tempered(self, temperature: float) -> Policy:
        """A sharper copy (temperature < 1): logits / T, every sd * T."""
        sharp = copy.copy(self)
        sharp.categoricals = self.categoricals.with_params(self.categoricals.params / temperature)
        sharp.gaussians = Gaussians(self.gaussians.mean, self.gaussians.log_sd + np.log(temperature))
        return sharp

    def clamp_sd(self, min_sd: float, max_sd: float) -> None:
        log_sd = np.clip(self.gaussians.log_sd, np.log(min_sd), np.log(max_sd))
        self.gaussians = Gaussians(self.gaussians.mean, log_sd)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        raw = np.empty(self._width)
        raw[self._cat_cols] = self.categoricals.sample(rng)
        raw[self._gauss_cols] = self.gaussians.sample(rng)
        return raw

    def log_prob(self, raw: np.ndarray) -> np.ndarray:
        """Joint log-probability of the drawn actors of each row of ``raw`` (n, num_columns)."""
        raw, drawn = _drawn(raw)
        cat = self.categoricals.log_prob(raw[:, self._cat_cols])
        gauss = self.gaussians.log_prob(raw[:, self._gauss_cols])
        if drawn is not None:
            cat, gauss = cat * drawn[:, self._cat_cols], gauss * drawn[:, self._gauss_cols]
        return cat.sum(axis=1) + gauss.sum(axis=1)

    def grad_log_prob(self, raw: np.ndarray) -> np.ndarray:
        """d log pi(row) / d params for each row, shape (n, num_params); 0 for actors not drawn."""
        raw, drawn = _drawn(raw)
        cat = self.categoricals.grad_log_prob(raw[:, self._cat_cols])
        gauss = self.gaussians.grad_log_prob(raw[:, self._gauss_cols])
        if drawn is not None:
            cat = cat * np.repeat(drawn[:, self._cat_cols], self.categoricals.sizes, axis=1)
            gauss = gauss * np.tile(drawn[:, self._gauss_cols], 2)
        return np.concatenate([cat, gauss], axis=1)

    def entropy(self) -> float:
        return float(self.categoricals.entropy().sum() + self.gaussians.entropy().sum())

    def grad_entropy(self) -> np.ndarray:
        return np.concatenate([self.categoricals.grad_entropy(), self.gaussians.grad_entropy()])

    def columns(self) -> list[np.ndarray | tuple[float, float]]:
        """Per raw column: its category probabilities, or its Gaussian's (mean, sd)."""
        views: list = [None] * self._width
        probs, cats = self.categoricals.probs(), self.categoricals
        for row, j in enumerate(self._cat_cols):
            views[j] = probs[cats.offsets[row]:cats.offsets[row] + cats.sizes[row]]
        for i, j in enumerate(self._gauss_cols):
            views[j] = (float(self.gaussians.mean[i]), float(self.gaussians.sd[i]))
        return views


def _drawn(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``raw`` as 2-D with NaN (actor not drawn) replaced by 0, and the drawn mask (None: all drawn)."""
    raw = np.atleast_2d(raw)
    missing = np.isnan(raw)
    if not missing.any():
        return raw, None
    return np.where(missing, 0.0, raw), ~missing


def advantages(rewards: np.ndarray, method: str = "nes") -> np.ndarray:
    """Turn one batch of rewards into advantages; NaN marks a failed trial.

    ``"nes"``: the rank-based utilities of natural evolution strategies,
    ``max(0, log(n/2 + 1) - log(position)) / sum - 1/n``: the better half gets
    positive weights that grow towards the best, the rest share one small
    negative weight. ``"rank"``: centred ranks in [-0.5, 0.5]. ``"zscore"``:
    (r - mean) / sd. Ranks make the first two robust to the metric's scale and
    to outliers; ties share their mean rank. A failed trial ranks below every
    finite reward.
    """
    rewards = np.asarray(rewards, dtype=float)
    n = len(rewards)
    failed = ~np.isfinite(rewards)
    if n < 2:
        return np.zeros(n)
    if method in ("nes", "rank"):
        ranks = average_ranks(np.where(failed, -np.inf, rewards))  # 0 = worst
        if method == "rank":
            return ranks / (n - 1) - 0.5
        utility = np.maximum(0.0, np.log(n / 2 + 1) - np.log(n - ranks))  # n - ranks: 1 = best
        return utility / utility.sum() - 1.0 / n
    if method == "zscore":
        finite = rewards[~failed]
        sd = finite.std() if len(finite) > 1 else 0.0
        z = np.zeros(n) if sd == 0 else (rewards - finite.mean()) / sd
        worst = z[~failed].min() if (~failed).any() else 0.0
        # One sd below the worst finite reward: failures rank last.
        return np.where(failed, worst - 1.0, z)
    raise ValueError(f"advantage must be 'nes', 'rank' or 'zscore', got {method!r}")


def by_level(levels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Scores that order trials by level first (how far each went), then by score.

    All levels equal: the scores themselves. Otherwise ranks of the pair
    (level, score): a trial stopped at a lower level ranks below every trial
    that went further, whatever its score. NaN scores (failed trials) stay NaN.
    """
    failed = np.isnan(scores)
    reached = levels[~failed]
    if not len(reached) or reached.min() == reached.max():
        return scores
    level_rank = np.unique(levels, return_inverse=True)[1]
    score_rank = average_ranks(np.where(failed, -np.inf, scores))  # in [0, n)
    return np.where(failed, np.nan, level_rank * len(scores) + score_rank)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """0-based ranks, ties given their average rank (like scipy's rankdata - 1)."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    first = np.empty(len(values), dtype=bool)  # where each run of ties starts
    first[:1] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=first[1:])
    ranks = np.empty(len(values))
    if first.all():  # no ties, the usual case: the arithmetic below costs as much again
        ranks[order] = np.arange(len(values))
        return ranks
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], len(values))
    ranks[order] = ((starts + ends - 1) / 2.0)[np.cumsum(first) - 1]
    return ranks


def ppo_objective(
    policy: Policy, raw: np.ndarray, old_log_prob: np.ndarray, adv: np.ndarray, clip: float, entropy_coef: float
) -> float:
    """The clipped surrogate L (see the module docstring) at the policy's parameters."""
    ratio = np.exp(policy.log_prob(raw) - old_log_prob)
    surrogate = np.minimum(ratio * adv, np.clip(ratio, 1.0 - clip, 1.0 + clip) * adv)
    return float(surrogate.mean() + entropy_coef * policy.entropy())


def ppo_gradient(
    policy: Policy, raw: np.ndarray, old_log_prob: np.ndarray, adv: np.ndarray, clip: float, entropy_coef: float
) -> np.ndarray:
    """dL/d params: A_i r_i d log pi(a_i) where the clip is inactive, 0 where it binds."""
    ratio = np.exp(policy.log_prob(raw) - old_log_prob)
    clipped = ((adv > 0) & (ratio > 1.0 + clip)) | ((adv < 0) & (ratio < 1.0 - clip))
    weights = np.where(clipped, 0.0, adv * ratio) / len(adv)
    return weights @ policy.grad_log_prob(raw) + entropy_coef * policy.grad_entropy()


class Adam(NamedTuple):
    """Adam moments for gradient *ascent* on the flat policy parameters."""

    m: np.ndarray
    v: np.ndarray
    t: int

    @classmethod
    def zeros(cls, size: int) -> Adam:
        return cls(np.zeros(size), np.zeros(size), 0)

    def step(self, grad: np.ndarray, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999) -> tuple[np.ndarray, Adam]:
        """Return (parameter change, new moments)."""
        t = self.t + 1
        m = beta1 * self.m + (1 - beta1) * grad
        v = beta2 * self.v + (1 - beta2) * grad**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        return learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8), Adam(m, v, t)


# Bound on each gradient entry: Adam divides by the root of its running square,
# so the size only has to keep that square finite.
_GRAD_LIMIT = 1e100


@dataclass(frozen=True)
class UpdateSettings:
    """Knobs of one batched update (see PGSearcher for their meaning)."""

    learning_rate: float
    passes: int
    clip: float
    entropy_coef: float
    min_sd: float
    max_sd: float


def update(
    policy: Policy, adam: Adam, raw: np.ndarray, old_log_prob: np.ndarray, adv: np.ndarray, settings: UpdateSettings
) -> Adam:
    """Run ``settings.passes`` Adam steps on one batch, in place on ``policy``.

    The policy stays finite whatever the batch holds: gradient entries that are
    not finite (an overflowing importance ratio, a far-out sample) are ignored,
    the others are bounded by ``_GRAD_LIMIT`` so that Adam's second moment stays
    finite, and a parameter whose step would not be finite keeps its value.
    """
    for _ in range(settings.passes):
        with np.errstate(over="ignore", invalid="ignore"):
            grad = ppo_gradient(policy, raw, old_log_prob, adv, settings.clip, settings.entropy_coef)
        grad = np.clip(np.where(np.isfinite(grad), grad, 0.0), -_GRAD_LIMIT, _GRAD_LIMIT)
        delta, adam = adam.step(grad, settings.learning_rate)
        params = policy.params
        stepped = params + delta
        policy.params = np.where(np.isfinite(stepped), stepped, params)
        policy.clamp_sd(settings.min_sd, settings.max_sd)
    return adam
