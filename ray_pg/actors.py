"""The actors: all categoricals of a space as one block, all Gaussians as another.

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


class Categoricals(NamedTuple):
    """One softmax distribution per row of ``logits`` (C, K) over category indices.

    Rows have different numbers of categories: ``mask`` marks the real entries;
    padding logits stay at zero and never receive gradient.
    """

    logits: np.ndarray
    mask: np.ndarray

    @classmethod
    def uniform(cls, sizes: Sequence[int]) -> Categoricals:
        if any(size < 1 for size in sizes):
            raise ValueError(f"a categorical needs at least one category, got sizes={list(sizes)}")
        width = max(sizes, default=0)
        mask = np.arange(width)[None, :] < np.asarray(sizes, dtype=int)[:, None]
        return cls(np.zeros((len(sizes), width)), mask)

    @property
    def params(self) -> np.ndarray:
        return self.logits.ravel()

    def with_params(self, params: np.ndarray) -> Categoricals:
        return Categoricals(np.asarray(params, dtype=float).reshape(self.logits.shape), self.mask)

    def log_probs(self) -> np.ndarray:
        """Row-wise log-softmax; 0 on padding (whose probability is 0, see ``probs``)."""
        if self.logits.size == 0:
            return np.zeros(self.logits.shape)
        masked = np.where(self.mask, self.logits, -np.inf)
        top = masked.max(axis=1, keepdims=True)
        log_norm = top + np.log(np.exp(masked - top).sum(axis=1, keepdims=True))
        return np.where(self.mask, self.logits - log_norm, 0.0)

    def probs(self) -> np.ndarray:
        return np.where(self.mask, np.exp(self.log_probs()), 0.0)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One index per row by Gumbel-max: an exact categorical draw."""
        gumbel = -np.log(-np.log(rng.random(self.logits.shape)))
        if self.logits.size == 0:
            return np.zeros(len(self.logits), dtype=int)
        return np.argmax(np.where(self.mask, self.logits + gumbel, -np.inf), axis=1)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """log p of indices ``x`` (n, C), shape (n, C)."""
        x = np.asarray(x, dtype=int)
        return self.log_probs()[np.arange(x.shape[1])[None, :], x]

    def grad_log_prob(self, x: np.ndarray) -> np.ndarray:
        """d log p(x) / d logits = onehot(x) - softmax(logits), shape (n, C, K)."""
        x = np.asarray(x, dtype=int)
        n, rows = x.shape
        grad = np.broadcast_to(-self.probs(), (n, *self.logits.shape)).copy()
        grad[np.arange(n)[:, None], np.arange(rows)[None, :], x] += 1.0
        return grad

    def entropy(self) -> np.ndarray:
        return -(self.probs() * self.log_probs()).sum(axis=1)

    def grad_entropy(self) -> np.ndarray:
        """dH/d logits_j = -p_j (log p_j + H), zero on padding."""
        return -self.probs() * (self.log_probs() + self.entropy()[:, None])


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
