"""How much each parameter's draws explain the ranks of the batches: the evidence behind the updates.

The natural gradient of a parameter sums, over a batch, utility times a feature of each draw: for a
Gaussian coordinate its value (the mean's direction) and its squared distance from the centre (the
spread's; here the batch's centre); for a choice, the one-hot of the category drawn. Where the
metric ignores the parameter, a batch's ranks are a random permutation given its draws, so S = C'u
(C the features centred over the batch, a coordinate's scaled to unit length; u the centred ranks
scaled to variance 1) has mean 0 and, exactly, covariance V = C'C (sampling without replacement):
whatever the batch size, the policy, the rank model's picks or the other parameters. Summed over the
updates, H = S' V^+ S is then chi-square with rank(V) degrees of freedom (a martingale CLT), and a
parameter the ranks depend on makes it grow with every batch. The score is H's normal quantile
(Wilson-Hilferty): about N(0, 1) for a parameter the metric ignores (tests/test_evidence.py). Where
other parameters matter, a little of their effect leaks in through what ties a batch's draws
together (trials drawn under older policies, the rank model's picks, the covariance).

Each update adds only its fresh batch: results the window reuses would count twice. Unlike how far
the policy moved, the score does not grow for a parameter the metric ignores: CMA-ES's one step size
shrinks every coordinate as the relevant ones converge, and the update also settles choices on noise
(issue 21).
"""

from __future__ import annotations

import numpy as np

# Trials of a parameter in a batch below which the batch tells nothing of it: 2 give a single order.
MIN_TRIALS = 3


class Evidence:
    """The running sums S and V of each parameter over the updates so far.

    Each parameter has as many features as the widest (2 for a Gaussian coordinate, its categories for
    a choice), the rest 0, so that each update costs a few vectorised operations, not one per parameter.
    """

    def __init__(self, columns: list):
        """``columns``: ``Policy.columns()``, one per parameter."""
        self.widths = [2 if isinstance(column, tuple) else len(column) for column in columns]
        self._gaussian = np.array([isinstance(column, tuple) for column in columns], dtype=bool)
        self._choices = np.flatnonzero(~self._gaussian)
        width = max([*self.widths, 2])  # every parameter padded to the widest (and a Gaussian's 2): one set of operations
        self.s = np.zeros((len(columns), width))
        self.v = np.zeros((len(columns), width, width))

    def add(self, raw: np.ndarray, scores: np.ndarray, active: np.ndarray) -> None:
        """Add one batch: its raw draws (n, parameters), scores (higher is better, NaN: failed, ranked last)
        and which parameters each trial drew (``Space.active``)."""
        if not self.widths:
            return
        if active.all():  # no branch left out: one set of rows for every parameter
            patterns, pattern_of = active[:, :1], np.zeros(active.shape[1], dtype=int)
        else:
            patterns, pattern_of = np.unique(active, axis=1, return_inverse=True)
        u = np.column_stack([_unit_ranks(scores, rows) for rows in patterns.T])[:, pattern_of]  # (n, params)
        count = np.maximum(active.sum(axis=0), 1)
        x = np.where(active, raw, 0.0)
        gaussian, choices = self._gaussian, self._choices
        features = np.zeros((*raw.shape, self.s.shape[1]))
        features[:, gaussian, 0] = x[:, gaussian]
        # The spread's direction: the squared distance from the batch's centre (where the policy drew it).
        features[:, gaussian, 1] = (x[:, gaussian] - x[:, gaussian].sum(axis=0) / count[gaussian]) ** 2
        features[np.arange(len(raw))[:, None], choices, x[:, choices].astype(int)] = 1.0
        c = _centred(features * active[:, :, None], active, count, gaussian)
        self.s += (u[:, :, None] * c).sum(axis=0)
        # A batch that ranks none of a parameter's trials adds nothing to its S, nor to its V.
        self.v += (c.transpose(1, 2, 0) @ c.transpose(1, 0, 2)) * u.any(axis=0)[:, None, None]

    def chi_square(self) -> tuple[np.ndarray, np.ndarray]:
        """Per parameter, H = S' V^+ S and its degrees of freedom rank(V) (0 before any batch drew it)."""
        values, vectors = np.linalg.eigh(self.v)  # one decomposition gives V^+ and rank(V)
        kept = values > self.s.shape[1] * np.finfo(float).eps * 16 * np.maximum(values[:, -1:], 1e-300)
        projected = np.einsum("pkj,pk->pj", vectors, self.s)
        return np.where(kept, projected**2 / np.where(kept, values, 1.0), 0.0).sum(axis=1), kept.sum(axis=1)

    def scores(self) -> list[float | None]:
        """Per parameter, the normal quantile of its H so far (Wilson-Hilferty); None before any batch drew it."""
        h, df = self.chi_square()
        a = 2.0 / (9 * np.maximum(df, 1))
        z = (np.cbrt(h / np.maximum(df, 1)) - (1 - a)) / np.sqrt(a)
        return [None if dof == 0 else float(value) for value, dof in zip(z, df)]

    def to_json(self) -> list[list]:
        """Per parameter, ``[S, V]`` as lists, without the padding."""
        return [[s[:w].tolist(), v[:w, :w].tolist()] for s, v, w in zip(self.s, self.v, self.widths)]

    def load(self, entries: list[list]) -> None:
        """The sums ``to_json`` wrote, for the same parameters (``state.py`` checks their shapes)."""
        self.s[:], self.v[:] = 0.0, 0.0
        for i, ((s, v), w) in enumerate(zip(entries, self.widths)):
            self.s[i, :w], self.v[i, :w, :w] = s, v


def _unit_ranks(scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Centred ranks of the scores of ``rows`` (a failed trial last, ties averaged), scaled to sum of squares
    n - 1; 0 elsewhere, and everywhere when fewer than ``MIN_TRIALS`` rows or all tie."""
    u = np.zeros(len(scores))
    if rows.sum() < MIN_TRIALS:
        return u
    s = np.where(np.isnan(scores[rows]), -np.inf, scores[rows])
    # Pairwise, not sorted: a batch is small, and four array operations beat a sort's bookkeeping.
    ranks = (s[:, None] > s).sum(axis=1) + 0.5 * (s[:, None] == s).sum(axis=1)
    ranks -= ranks.mean()
    if not ranks.any():
        return u
    u[rows] = ranks * np.sqrt((len(s) - 1) / (ranks @ ranks))
    return u


def _centred(features: np.ndarray, active: np.ndarray, count: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """Features (n, params, k), 0 where not drawn, centred over each parameter's ``count`` active rows; those
    of the ``scaled`` parameters (Gaussian coordinates, whose units shrink with the policy) scaled to unit
    length, 0 where they did not vary. A choice's one-hot stays in counts: scaling its columns apart would
    break the sum-to-zero that makes its V of rank k - 1."""
    centred = (features - features.sum(axis=0) / count[:, None]) * active[:, :, None]
    norms = np.sqrt((centred[:, scaled] ** 2).sum(axis=0))
    big = norms > 1e-9 * np.maximum(norms.max(axis=1, keepdims=True), 1e-300)
    centred[:, scaled] /= np.where(big, norms, np.inf)
    return centred
