"""The actors: all categoricals of a space as one flat block, all Gaussians as another.

Parameters are data (NamedTuples of arrays), maths are vectorised methods, so
sampling and scoring cost a fixed number of numpy calls however many parameters
a space has. Each block exposes its parameters as one flat array for the
optimiser. Pure numpy: this module knows nothing of Ray.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

_LOG_2PI = math.log(2.0 * math.pi)


def segment_offsets(sizes: np.ndarray) -> np.ndarray:
    """Where each categorical's values start in a flat vector of all their values."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int) if len(sizes) else np.zeros(0, dtype=int)


def onehot(indices: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """Rows of drawn indices (n, categoricals) -> their flat one-hot (n, width); a NaN (a categorical the
    row did not draw) sets none of its values."""
    out = np.zeros((len(indices), width))
    rows, blocks = np.nonzero(~np.isnan(indices))
    out[rows, offsets[blocks] + indices[rows, blocks].astype(int)] = 1.0
    return out


class Categoricals(NamedTuple):
    """All categorical distributions of a space, their logits concatenated into one flat vector.

    Categorical ``c`` owns ``logits[offsets[c]:offsets[c] + sizes[c]]``. Segment
    reductions (``np.maximum.reduceat``, ``np.add.reduceat``) keep the cost
    proportional to the number of real categories: a choice of 10,000 categories
    beside binary ones costs 10,000 + 2 per binary choice, not a padded square.
    """

    logits: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray

    @classmethod
    def uniform(cls, sizes: Sequence[int]) -> Categoricals:
        sizes = np.asarray(sizes, dtype=int).reshape(-1)
        if (sizes < 1).any():
            raise ValueError(f"a categorical needs at least one category, got sizes={sizes.tolist()}")
        return cls(np.zeros(int(sizes.sum())), segment_offsets(sizes), sizes)

    @property
    def params(self) -> np.ndarray:
        return self.logits

    def with_params(self, params: np.ndarray) -> Categoricals:
        return Categoricals(np.asarray(params, dtype=float).reshape(self.logits.shape), self.offsets, self.sizes)

    def _spread(self, per_row: np.ndarray) -> np.ndarray:
        """One value per categorical -> the same value on each of its logits."""
        return np.repeat(per_row, self.sizes, axis=-1)

    def _segment_max(self, values: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(values, self.offsets) if len(self.offsets) else np.zeros(0)

    def _segment_sum(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.offsets) if len(self.offsets) else np.zeros(0)

    def log_probs(self) -> np.ndarray:
        """Log-softmax within each categorical, flat like ``logits``."""
        shifted = self.logits - self._spread(self._segment_max(self.logits))
        return shifted - self._spread(np.log(self._segment_sum(np.exp(shifted))))

    def probs(self) -> np.ndarray:
        return np.exp(self.log_probs())

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One index per categorical by Gumbel-max: an exact categorical draw."""
        perturbed = self.logits - np.log(-np.log(rng.random(self.logits.shape)))
        at_max = perturbed == self._spread(self._segment_max(perturbed))
        position = np.where(at_max, np.arange(len(perturbed)), len(perturbed))
        first = np.minimum.reduceat(position, self.offsets) if len(self.offsets) else np.zeros(0, dtype=int)
        return first - self.offsets

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """log p of indices ``x`` (n, C), shape (n, C)."""
        return self.log_probs()[self.offsets + np.asarray(x, dtype=int)]

    def grad_log_prob(self, x: np.ndarray) -> np.ndarray:
        """d log p(x) / d logits = onehot(x) - softmax(logits), shape (n, K) for K logits in all."""
        x = np.asarray(x, dtype=int)
        grad = np.tile(-self.probs(), (len(x), 1))
        grad[np.arange(len(x))[:, None], self.offsets + x] += 1.0
        return grad

    def entropy(self) -> np.ndarray:
        """One entropy per categorical."""
        log_probs = self.log_probs()
        return -self._segment_sum(np.exp(log_probs) * log_probs)

    def grad_entropy(self) -> np.ndarray:
        """dH/d logits_j = -p_j (log p_j + H), flat like ``logits``."""
        log_probs = self.log_probs()
        return -np.exp(log_probs) * (log_probs + self._spread(self.entropy()))


class Gaussians(NamedTuple):
    """Independent normal distributions over unbounded reals: vectors of means and log sds."""

    mean: np.ndarray
    log_sd: np.ndarray

    @property
    def params(self) -> np.ndarray:
        return np.concatenate([self.mean, self.log_sd])

    def with_params(self, params: np.ndarray) -> Gaussians:
        params = np.asarray(params, dtype=float)
        return Gaussians(params[: len(self.mean)], params[len(self.mean):])

    @property
    def sd(self) -> np.ndarray:
        return np.exp(self.log_sd)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return self.mean + self.sd * rng.standard_normal(len(self.mean))

    def log_prob(self, z: np.ndarray) -> np.ndarray:
        """log density of ``z`` (n, G), shape (n, G)."""
        standard = (np.asarray(z, dtype=float) - self.mean) / self.sd
        return -0.5 * standard**2 - self.log_sd - 0.5 * _LOG_2PI

    def grad_log_prob(self, z: np.ndarray) -> np.ndarray:
        """[d/d mean, d/d log_sd] = [(z - m) / sd^2, (z - m)^2 / sd^2 - 1], shape (n, 2G)."""
        diff = np.asarray(z, dtype=float) - self.mean
        var = self.sd**2
        return np.concatenate([diff / var, diff**2 / var - 1.0], axis=1)

    def entropy(self) -> np.ndarray:
        return self.log_sd + 0.5 * (1.0 + _LOG_2PI)

    def grad_entropy(self) -> np.ndarray:
        return np.concatenate([np.zeros_like(self.mean), np.ones_like(self.log_sd)])
