"""Per-parameter policies ("actors"): parameters as data, maths as methods.

An actor is a distribution over one raw variable: a category index for a
categorical, an unbounded real ``z`` for a Gaussian. Every actor exposes its
parameters as one flat array so that the policy can optimise them together.
Pure numpy: this module knows nothing of Ray.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

_LOG_2PI = math.log(2.0 * math.pi)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax of a 1-d array."""
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


class CategoricalActor(NamedTuple):
    """Softmax distribution over ``len(logits)`` category indices."""

    logits: np.ndarray

    @classmethod
    def uniform(cls, num_categories: int) -> CategoricalActor:
        if num_categories < 1:
            raise ValueError(f"a categorical needs at least one category, got {num_categories=}")
        return cls(np.zeros(num_categories))

    @property
    def params(self) -> np.ndarray:
        return self.logits

    def with_params(self, params: np.ndarray) -> CategoricalActor:
        return CategoricalActor(np.asarray(params, dtype=float))

    def probs(self) -> np.ndarray:
        return softmax(self.logits)

    def sample(self, rng: np.random.Generator) -> int:
        # Inverse-CDF draw: an exact categorical sample, cheaper than rng.choice(p=...).
        cdf = np.cumsum(self.probs())
        return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(cdf) - 1))

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        logits = self.logits
        log_norm = logits.max() + np.log(np.exp(logits - logits.max()).sum())
        return logits[np.asarray(x, dtype=int)] - log_norm

    def grad_log_prob(self, x: np.ndarray) -> np.ndarray:
        """d log p(x) / d logits = onehot(x) - softmax(logits), shape (n, k)."""
        x = np.asarray(x, dtype=int)
        grad = np.tile(-self.probs(), (len(x), 1))
        grad[np.arange(len(x)), x] += 1.0
        return grad

    def entropy(self) -> float:
        p = self.probs()
        return float(-(p * np.log(np.maximum(p, 1e-300))).sum())

    def grad_entropy(self) -> np.ndarray:
        """dH/d logits_j = -p_j (log p_j + H)."""
        p = self.probs()
        return -p * (np.log(np.maximum(p, 1e-300)) + self.entropy())


class GaussianActor(NamedTuple):
    """Normal distribution over an unbounded real, parameterised by mean and log sd."""

    mean: float
    log_sd: float

    @property
    def params(self) -> np.ndarray:
        return np.array([self.mean, self.log_sd])

    def with_params(self, params: np.ndarray) -> GaussianActor:
        return GaussianActor(float(params[0]), float(params[1]))

    @property
    def sd(self) -> float:
        return math.exp(self.log_sd)

    def sample(self, rng: np.random.Generator) -> float:
        return self.mean + self.sd * float(rng.standard_normal())

    def log_prob(self, z: np.ndarray) -> np.ndarray:
        standard = (np.asarray(z, dtype=float) - self.mean) / self.sd
        return -0.5 * standard**2 - self.log_sd - 0.5 * _LOG_2PI

    def grad_log_prob(self, z: np.ndarray) -> np.ndarray:
        """Columns d/d mean = (z - m) / sd^2 and d/d log_sd = (z - m)^2 / sd^2 - 1."""
        diff = np.asarray(z, dtype=float) - self.mean
        var = self.sd**2
        return np.stack([diff / var, diff**2 / var - 1.0], axis=1)

    def entropy(self) -> float:
        return self.log_sd + 0.5 * (1.0 + _LOG_2PI)

    def grad_entropy(self) -> np.ndarray:
        return np.array([0.0, 1.0])


Actor = CategoricalActor | GaussianActor
