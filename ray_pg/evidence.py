"""How much each parameter's draws explain the ranks of the batches: the evidence behind the updates.

The natural gradient of a parameter sums, over a batch, utility times a feature of each draw: for a
Gaussian coordinate its value (the mean's direction) and its squared distance from the centre (the
spread's; here the batch's centre); for a choice, the one-hot of the category drawn. Where the
metric ignores the parameter, a batch's ranks are a random permutation given its draws, so S = C'u
(C the features centred over the batch, a coordinate's scaled to unit length; u the centred ranks
scaled to variance 1) has mean 0 and, exactly, covariance V = C'C (sampling without replacement),
whatever the batch size or the policy, as long as the ranks do not depend on this parameter's draws:
on pure noise, exactly. Summed over the
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

from dataclasses import dataclass

import numpy as np

from ray_pg.policy import advantages

# Trials of a parameter in a batch below which the batch adds nothing for it: with 2, one pair decides.
MIN_TRIALS = 3
# Choices with more categories get no evidence: V is k x k, and its decomposition at every update would
# cost O(k^3) (64 categories: 0.1 ms).
MAX_CATEGORIES = 64
# Where every parameter padded to the widest needs at most this many entries of V, one group holds them
# all: each group costs a dozen numpy calls per update, more than the padding's arithmetic (10 parameters:
# a batch's add and scores took 0.18-0.21 ms in 2 groups, 0.13 in one).
ONE_GROUP_ENTRIES = 4096


@dataclass
class _Group:
    """Parameters whose features share one width: a power of two (Gaussian coordinates have 2), the rest of
    each parameter's features 0; one set of array operations per group, not one per parameter (one group
    for all in small spaces, ``ONE_GROUP_ENTRIES``)."""

    params: np.ndarray  # their indices among all parameters
    gaussian: np.ndarray  # which of them are Gaussian coordinates
    s: np.ndarray  # (params, width)
    v: np.ndarray  # (params, width, width)


class Evidence:
    """The running sums S and V of each parameter over the updates so far."""

    def __init__(self, columns: list):
        """``columns``: ``Policy.columns()``, one per parameter."""
        # A parameter's features; 0 for a choice of more than MAX_CATEGORIES, which is not measured.
        self.widths = [2 if isinstance(c, tuple) else len(c) if len(c) <= MAX_CATEGORIES else 0 for c in columns]
        gaussian = np.array([isinstance(column, tuple) for column in columns], dtype=bool)
        padded = np.array([1 << max(width - 1, 1).bit_length() if width else 0 for width in self.widths], dtype=int)
        if (padded > 0).sum() * padded.max(initial=0) ** 2 <= ONE_GROUP_ENTRIES:
            padded[padded > 0] = padded.max(initial=0)
        self._groups = [_Group(params, gaussian[params], np.zeros((len(params), width)),
                               np.zeros((len(params), width, width)))
                        for width in np.unique(padded[padded > 0]).tolist()
                        for params in [np.flatnonzero(padded == width)]]

    def add(self, raw: np.ndarray, scores: np.ndarray, active: np.ndarray) -> None:
        """Add one batch: its raw draws (n, parameters), scores (higher is better, NaN: failed, ranked last)
        and which parameters each trial drew (``Space.active``)."""
        if not self._groups:
            return
        if active.all():  # no branch left out: one set of rows for every parameter
            patterns, pattern_of = active[:, :1], np.zeros(active.shape[1], dtype=int)
        else:  # ravel: numpy 2.0.0 returned the inverse with the axis kept
            patterns, pattern_of = np.unique(active, axis=1, return_inverse=True)
            pattern_of = pattern_of.ravel()
        ranks = np.column_stack([_unit_ranks(scores, rows) for rows in patterns.T])  # (n, patterns)
        counts = np.maximum(active.sum(axis=0), 1)
        values = np.where(active, raw, 0.0)
        rows = np.arange(len(raw))[:, None]
        for group in self._groups:
            drawn, x, count, gauss = active[:, group.params], values[:, group.params], counts[group.params], group.gaussian
            features = np.zeros((len(raw), len(group.params), group.s.shape[1]))
            features[:, gauss, 0] = x[:, gauss]
            # The spread's direction: the squared distance from the batch's centre (where the policy drew it).
            features[:, gauss, 1] = (x[:, gauss] - x[:, gauss].sum(axis=0) / count[gauss]) ** 2
            choices = np.flatnonzero(~gauss)
            features[rows, choices[None, :], x[:, choices].astype(int)] = 1.0
            c = _centred(features * drawn[:, :, None], drawn, count, gauss)
            u = ranks[:, pattern_of[group.params]]  # (n, params): 0 outside each parameter's rows
            group.s += (u[:, :, None] * c).sum(axis=0)
            # A batch that ranks none of a parameter's trials adds nothing to its S, nor to its V.
            group.v += (c.transpose(1, 2, 0) @ c.transpose(1, 0, 2)) * u.any(axis=0)[:, None, None]

    def chi_square(self) -> tuple[np.ndarray, np.ndarray]:
        """Per parameter, H = S' V^+ S and its degrees of freedom rank(V) (0 before any batch drew it)."""
        h, df = np.zeros(len(self.widths)), np.zeros(len(self.widths), dtype=int)
        for group in self._groups:
            values, vectors = np.linalg.eigh(group.v)  # one decomposition gives V^+ and rank(V)
            kept = values > group.s.shape[1] * np.finfo(float).eps * 16 * np.maximum(values[:, -1:], 1e-300)
            projected = np.einsum("pkj,pk->pj", vectors, group.s)
            h[group.params] = np.where(kept, projected**2 / np.where(kept, values, 1.0), 0.0).sum(axis=1)
            df[group.params] = kept.sum(axis=1)
        return h, df

    def scores(self) -> list[float | None]:
        """Per parameter, the normal quantile of its H so far (Wilson-Hilferty); None before any batch drew it."""
        h, df = self.chi_square()
        a = 2.0 / (9 * np.maximum(df, 1))
        z = (np.cbrt(h / np.maximum(df, 1)) - (1 - a)) / np.sqrt(a)
        return [None if dof == 0 else float(value) for value, dof in zip(z, df)]

    def to_json(self) -> list[list]:
        """Per parameter, ``[S, V]`` as lists, without the padding (empty for one not measured)."""
        entries: list[list] = [[[], []] for _ in self.widths]
        for group in self._groups:
            for param, s, v in zip(group.params, group.s, group.v):
                width = self.widths[param]
                entries[param] = [s[:width].tolist(), v[:width, :width].tolist()]
        return entries

    def load(self, entries: list[list]) -> None:
        """The sums ``to_json`` wrote, for the same parameters (``state.py`` checks their shapes)."""
        for group in self._groups:
            group.s[:], group.v[:] = 0.0, 0.0
            for i, param in enumerate(group.params):
                width = self.widths[param]
                group.s[i, :width], group.v[i, :width, :width] = entries[param]


def _unit_ranks(scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Centred ranks of the scores of ``rows`` (``advantages(..., "rank")``: a failed trial last, ties
    shared), scaled to sum of squares n - 1; 0 elsewhere, and everywhere when fewer than ``MIN_TRIALS``
    rows or all tie."""
    u = np.zeros(len(scores))
    if rows.sum() < MIN_TRIALS:
        return u
    ranks = advantages(scores[rows], "rank")
    if ranks.any():
        u[rows] = ranks * np.sqrt((len(ranks) - 1) / (ranks @ ranks))
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
