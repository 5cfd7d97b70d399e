"""A natural-gradient policy: CatCMA with margin, plus truncated importance weights.

The policy over a space is one joint Gaussian with full covariance over every
numeric raw variable (the ``z`` of bounded numerics, the value of ``randn``)
and one categorical distribution per ``tune.choice``. A separable policy keeps
only the covariance's diagonal, with sep-CMA-ES's faster covariance rates (Ros
and Hansen 2008): every sample and update then costs O(d), not O(d^2) and
O(d^3). Its update is the natural gradient of the expected rank utility, as in
CatCMA with margin (Hamano et al. 2025, the ``cmaes`` package's ``CatCMAwM``):

- Gaussian: CMA-ES's weighted recombination of the mean, rank-one and rank-mu
  covariance updates and cumulative step-size adaptation (CSA), with the CMA-ES
  default learning rates for the dimension and the batch's weights;
- categoricals: the ASNG update ``q += eps * sum_i w_i (onehot_i - q)`` with
  ``eps`` normalised in the Fisher metric and adapted by its signal-to-noise
  ratio, then a margin: every probability stays >= ``alpha / (K - 1)`` times
  ``_CATEGORY_MARGIN``;
- integers: a margin on the Gaussian's marginal sd so that the neighbouring
  integer of the mean's bin keeps probability >= ``alpha / 2`` (in the first or
  last bin of a range of three values or more, the mean moved back towards its
  neighbour instead).

What CatCMA lacks and a Tune searcher needs: results drawn under an older
distribution (asynchronous trials) count with a truncated importance weight
``min(pi_now / pi_drew, truncation)`` per block (the Gaussian, each
categorical), as V-trace does; an actor that a sample did not draw (NaN: a
branch not chosen) is not moved by it. Pure numpy: this module knows nothing
of Ray.

Over 300 lines: the Gaussian, categorical and margin updates are the three
halves of one natural-gradient step and share its weights and ratios.
"""

from __future__ import annotations

import copy
import math
from statistics import NormalDist
from typing import Collection, Mapping, Sequence

import numpy as np

from ray_pg.actors import onehot, segment_offsets
from ray_pg.policy import average_ranks

_LOG_2PI = math.log(2.0 * math.pi)
_EPS = 1e-8
# A ridge of the largest variance divided by this keeps the covariance positive definite.
_MAX_CONDITION = 1e14
# Bounds kept on the step size.
_SIGMA_RANGE = (1e-12, 1e12)
# Bounded numerics start with their column's sd times 0.4 (z: 1.7 -> 0.7, about a tenth of the range
# in x), so the first samples lean towards the middle of each range, as CMA-ES starts (CatCMAwM: a
# sixth of the half-width). With 1 the first batches are uniform random search and lose 25-100 trials
# to it; 0.6 and 0.3 rank worse at 8 workers on our suite and bbob-mixint (natural_ablation.md).
# randn columns keep their prior.
_BOUNDED_INITIAL_SCALE = 0.4
# The categoricals' floors are CatCMAwM's times this: its margin keeps 27% of a lone choice's samples
# on its other values, too many for budgets of a few hundred trials. Our suite, mean rank of 4 variants
# at 8 workers / 200 trials: 2.73 with 1, 2.13 with 0.25, 2.40 with 0 (natural_ablation.md).
_CATEGORY_MARGIN = 0.25
# ASNG's first Delta is at least this: a step of Fisher length 1 / 2.5 moves a two-way choice's
# probability by at most 0.2 (from 0.5: 0.5 x 0.4), so one batch leans and does not decide (with 1 the
# first batch of 5 set it to 0.036 or 0.964: tests/test_invariance.py). Against 1, mean rank of 2 at 16
# / 25 / 50 / 100 trials on the real tasks (12 problems, 3 seeds): 1.46 / 1.49 / 1.42 / 1.47; our suite
# and the noisy suite at 8 workers even, the suite at 64 a little behind, within noise (natural_ablation.md,
# section 8).
_FIRST_CAT_TRUST = 2.5
# The parts of ``NaturalPolicy.params``, in order.
_PARAM_NAMES = ("q", "mean", "sigma", "cov", "path_sigma", "path_c", "margin", "generation", "cat_path", "cat_gamma",
                "cat_trust")


def _margin_alpha(num_discrete: int) -> float:
    """CatCMAwM's margin: the total probability kept on the other values of a discrete variable."""
    return 1.0 - 0.73 ** (1.0 / max(1, num_discrete))


def rank_weights(adv: np.ndarray) -> np.ndarray:
    """CMA-ES's positive recombination weights from the order of ``adv`` (higher is better), summing to 1.

    ``w(rank) = max(0, log((n + 1) / 2) - log(rank))`` with rank 1 the best; tied
    advantages share the weight of their mean rank. Only the order of ``adv``
    is used, so any of ``policy.advantages``' methods gives the same weights.
    """
    adv = np.asarray(adv, dtype=float)
    n = len(adv)
    if n == 0:
        return np.zeros(0)
    rank = average_ranks(-adv) + 1.0  # 1 = the best; ties: the mean of their ranks
    raw = np.maximum(0.0, math.log((n + 1) / 2.0) - np.log(rank))
    total = raw.sum()
    return raw / total if total > 0 else np.zeros(n)


class NaturalPolicy:
    """A joint Gaussian over the numeric columns and independent categoricals, with margins.

    Args:
        columns: As for ``Policy``: an int is a categorical over that many
            categories, a ``(mean, log_sd)`` pair a numeric column whose
            Gaussian starts there (the covariance starts diagonal).
        integers: For the numeric columns that decode to integers, by raw
            column index, ``(low, high, log, first, last)`` of their
            ``BoundedParam``: ``x = low + sigmoid(z) * (high - low)`` (in log
            space when ``log``), the value's index is ``floor(x)`` clipped to
            ``[first, last]``. Their margin keeps the neighbouring integers reachable.
        bounded: The raw columns of bounded numerics (a squashed ``z``): their
            initial sd is scaled by ``initial_scale``.
        initial_scale: None: ``_BOUNDED_INITIAL_SCALE``; 1: the column's own sd.
        separable: Keep the covariance diagonal (``cov`` holds the variances, a vector).
    """

    def __init__(self, columns: Sequence[int | tuple[float, float]],
                 integers: Mapping[int, tuple[float, float, bool, float, float]] | None = None,
                 bounded: Collection[int] = (), initial_scale: float | None = None, separable: bool = False):
        self._width = len(columns)
        self._cat_cols = np.array([j for j, c in enumerate(columns) if isinstance(c, int)], dtype=int)
        self._gauss_cols = np.array([j for j, c in enumerate(columns) if not isinstance(c, int)], dtype=int)
        sizes = np.array([columns[j] for j in self._cat_cols], dtype=int)
        if (sizes < 1).any():
            raise ValueError(f"a categorical needs at least one category, got sizes={sizes.tolist()}")
        self.sizes = sizes
        self.offsets = segment_offsets(sizes)
        d = len(self._gauss_cols)
        integers = dict(integers or {})
        where = {int(j): i for i, j in enumerate(self._gauss_cols)}
        unknown = [j for j in integers if j not in where]
        if unknown:
            raise ValueError(f"integer columns must be numeric columns, got {unknown}")
        self._int_pos = np.array([where[j] for j in sorted(integers)], dtype=int)
        self._int_spec = np.array([[float(v) for v in integers[j]] for j in sorted(integers)]).reshape(-1, 5)
        alpha = _margin_alpha(len(self._int_pos) + int((sizes >= 2).sum()))
        # Constants of the integer margin: the normal quantile it keeps, each range's ends in t (log for log).
        self._int_quantile = NormalDist().inv_cdf(1.0 - alpha / 2.0)
        low, high, log = self._int_spec[:, 0], self._int_spec[:, 1], self._int_spec[:, 2] > 0
        self._int_t_range = (np.where(log, np.log(np.where(log, low, 1.0)), low),
                             np.where(log, np.log(np.where(log, high, 1.0)), high))
        floor = np.where(sizes >= 2, _CATEGORY_MARGIN * alpha / np.maximum(sizes - 1, 1), 0.0)
        self._q_min = np.repeat(floor, sizes)
        # Parameters (see ``params`` for their flat layout).
        self.q = np.repeat(1.0 / np.maximum(sizes, 1), sizes)
        self.mean = np.array([columns[j][0] for j in self._gauss_cols], dtype=float)
        self.sigma = 1.0
        initial_scale = _BOUNDED_INITIAL_SCALE if initial_scale is None else initial_scale
        scale = np.array([initial_scale if j in bounded else 1.0 for j in self._gauss_cols])
        variances = (scale * np.exp(np.array([columns[j][1] for j in self._gauss_cols], dtype=float))) ** 2
        self.separable = separable
        self.cov = variances if separable else np.diag(variances)
        self.path_sigma = np.zeros(d)
        self.path_c = np.zeros(d)
        self.margin = np.ones(d)  # CatCMAwM's A: per-coordinate scale of the sampled deviation
        self.generation = 0.0
        num_free = int(np.maximum(sizes - 1, 0).sum())
        self.cat_path = np.zeros(num_free)  # ASNG's accumulated normalised gradient s
        self.cat_gamma = 0.0
        # ASNG's Delta: each step has length delta = 1 / Delta in the Fisher norm. ASNG starts at 1; here
        # at least _FIRST_CAT_TRUST, and sqrt(free parameters), so that one choice among 100 is not settled
        # by the first noisy batch (needle100: median regret 0.32 at 200 trials with 1, 0.016 with this start).
        self.cat_trust = max(_FIRST_CAT_TRUST, math.sqrt(num_free))
        # (cov it was taken of, its Cholesky factor L, L^-1)
        self._chol: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._held: np.ndarray | None = None  # pinned(), once known

    # ------------------------------------------------------------ parameters

    @property
    def dim(self) -> int:
        return len(self._gauss_cols)

    @property
    def params(self) -> np.ndarray:
        """Everything the policy holds, flat: q, mean, sigma, cov, paths, margin, generation, ASNG state."""
        return np.concatenate([self.q, self.mean, [self.sigma], self.cov.ravel(), self.path_sigma, self.path_c,
                               self.margin, [self.generation], self.cat_path, [self.cat_gamma, self.cat_trust]])

    @params.setter
    def params(self, flat: np.ndarray) -> None:
        """Set every parameter at once; ValueError naming the first that no update could produce."""
        flat = np.asarray(flat, dtype=float)
        if flat.shape != self.params.shape:
            raise ValueError(f"expected {self.params.size} parameters, got shape {flat.shape}")
        d, k, f = self.dim, len(self.q), len(self.cat_path)
        parts = [p.copy() for p in np.split(flat, np.cumsum([k, d, 1, self.cov.size, d, d, d, 1, f, 1]))]
        q, sigma, cov, margin, trust = parts[0], parts[2][0], parts[3].reshape(self.cov.shape), parts[6], parts[10][0]
        integer = np.zeros(d, dtype=bool)
        integer[self._int_pos] = True
        sums = np.add.reduceat(q, self.offsets) if k else np.zeros(0)
        checks = [(name, np.isfinite(part).all(), "finite numbers") for name, part in zip(_PARAM_NAMES, parts)] + [
            # The margin keeps every probability at its floor or above (up to rounding).
            ("q", (q >= self._q_min - 1e-12).all() and np.allclose(sums, 1.0, rtol=0.0, atol=1e-9),
             "a distribution per categorical, each probability at or above its margin"),
            ("sigma", _SIGMA_RANGE[0] <= sigma <= _SIGMA_RANGE[1], f"a step size within {_SIGMA_RANGE}"),
            ("cov", (cov > 0).all() if self.separable else d == 0 or np.isfinite(cov).all()
             and np.allclose(cov, cov.T, rtol=1e-12, atol=0.0) and np.linalg.eigvalsh(cov)[0] > 0,
             "positive variances" if self.separable else "a symmetric positive definite matrix"),
            ("margin", (margin >= 1).all() and (margin[~integer] == 1).all(),
             ">= 1 on integer columns, 1 on the others"),
            ("cat_trust", trust >= 1, ">= 1"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"natural policy parameter {name!r}: expected {expected}")
        (self.q, self.mean, _, _, self.path_sigma, self.path_c, self.margin, generation, self.cat_path,
         gamma, _) = parts
        self.sigma, self.generation, self.cov = float(sigma), float(generation[0]), cov
        self.cat_gamma, self.cat_trust = float(gamma[0]), float(trust)
        self._chol = None
        self._held = None

    def cholesky(self) -> np.ndarray:
        """L with cov = L L^T, of the current covariance (cached). A Cholesky factor rather than
        CMA-ES's eigendecomposition: several times cheaper, and what sampling and CSA need."""
        return self._factors()[0]

    def cholesky_inverse(self) -> np.ndarray:
        """L^-1 (cached): whitening and densities by a product, where a solve (numpy's are by LU) costs more."""
        return self._factors()[1]

    def _factors(self) -> tuple[np.ndarray, np.ndarray]:
        if self._chol is None or self._chol[0] is not self.cov or len(self._chol) < 3:  # older pickles: (cov, L)
            chol = _cholesky(self.cov)
            self._chol = (self.cov, chol, np.linalg.inv(chol))
        return self._chol[1], self._chol[2]

    def sampling_cov(self) -> np.ndarray:
        """The covariance samples are drawn with: sigma^2 A C A (a full policy's; a separable one has
        ``marginal_sd``)."""
        return self.sigma**2 * self.cov * np.outer(self.margin, self.margin)

    def variances(self) -> np.ndarray:
        """The diagonal of C."""
        return self.cov if self.separable else np.diag(self.cov)

    def marginal_sd(self) -> np.ndarray:
        """Each numeric column's sd as sampled: sigma A sqrt(C_jj)."""
        return self.sigma * self.margin * np.sqrt(self.cov) if self.separable else np.sqrt(np.diag(self.sampling_cov()))

    # -------------------------------------------------------------- policy API

    def tempered(self, temperature: float) -> NaturalPolicy:
        """A sharper copy (temperature < 1): probabilities ``q^(1/T)`` renormalised, sigma * T."""
        sharp = copy.copy(self)
        sharp.sigma = self.sigma * temperature
        if len(self.q):
            log_q = np.log(np.maximum(self.q, 1e-300)) / temperature
            log_q -= np.repeat(np.maximum.reduceat(log_q, self.offsets), self.sizes)
            q = np.exp(log_q)
            sharp.q = q / np.repeat(np.add.reduceat(q, self.offsets), self.sizes)
        return sharp

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
        """One raw sample (num_columns,), or ``size`` of them (size, num_columns)."""
        rows = 1 if size is None else size
        raw = np.empty((rows, self._width))
        if len(self.sizes):
            u = rng.random((rows, len(self.sizes)))
            cum = _segment_cumsum(self.q, self.offsets, self.sizes)
            total = cum[self.offsets + self.sizes - 1]
            below = cum <= np.repeat(u * total, self.sizes, axis=1)
            raw[:, self._cat_cols] = np.minimum(np.add.reduceat(below, self.offsets, axis=1), self.sizes - 1)
        if self.dim:
            normal = rng.standard_normal((rows, self.dim))
            deviation = normal * np.sqrt(self.cov) if self.separable else normal @ self.cholesky().T
            raw[:, self._gauss_cols] = self.mean + self.sigma * self.margin * deviation
        return raw[0] if size is None else raw

    def block_log_prob(self, raw: np.ndarray) -> np.ndarray:
        """Log-probability of each block of each row, (n, 1 + categoricals): the Gaussian's (marginal over
        the numeric columns drawn), then each categorical's; NaN for a block the row did not draw."""
        raw = np.atleast_2d(np.asarray(raw, dtype=float))
        out = np.full((len(raw), 1 + len(self.sizes)), np.nan)
        if len(self.sizes):
            cats = raw[:, self._cat_cols]
            drawn = ~np.isnan(cats)
            index = self.offsets + np.where(drawn, cats, 0).astype(int)
            out[:, 1:] = np.where(drawn, np.log(np.maximum(self.q[index], 1e-300)), np.nan)
        if self.dim:
            z = raw[:, self._gauss_cols]
            drawn = ~np.isnan(z)
            if self.separable:  # independent columns: the marginal of the drawn ones is their densities' product
                sd = self.marginal_sd()
                density = -0.5 * ((z - self.mean) / sd) ** 2 - np.log(sd) - 0.5 * _LOG_2PI
                out[:, 0] = np.where(drawn.any(axis=1), np.nansum(density, axis=1), np.nan)
                return out
            scale = self.sigma * self.margin
            full = scale[:, None] * self.cholesky()  # the factor of sampling_cov() ...
            full_inverse = self.cholesky_inverse() / scale  # ... and its inverse
            if drawn.all():  # the common case (no branch left out): one density, no grouping
                out[:, 0] = _gauss_log_density(z, self.mean, full, full_inverse)
                return out
            cov = self.sampling_cov()
            for mask in np.unique(drawn, axis=0):
                if not mask.any():
                    continue
                rows = (drawn == mask).all(axis=1)
                if mask.all():
                    out[rows, 0] = _gauss_log_density(z[rows], self.mean, full, full_inverse)
                else:
                    out[rows, 0] = _gauss_log_density(z[np.ix_(rows, mask)], self.mean[mask],
                                                      _cholesky(cov[np.ix_(mask, mask)]))
        return out

    def log_prob(self, raw: np.ndarray) -> np.ndarray:
        """Joint log-probability of the drawn actors of each row of ``raw`` (n, num_columns)."""
        return np.nansum(self.block_log_prob(raw), axis=1)

    def entropy(self) -> float:
        cat = -float(np.sum(self.q * np.log(np.maximum(self.q, 1e-300))))
        if not self.dim:
            return cat
        if self.separable:
            return cat + 0.5 * self.dim * (1.0 + _LOG_2PI) + float(np.log(self.marginal_sd()).sum())
        # log det(sigma^2 A C A) from C's cached Cholesky factor, no decomposition of its own
        logdet = 2.0 * (self.dim * math.log(self.sigma) + float(np.log(self.margin).sum())
                        + float(np.log(np.diag(self.cholesky())).sum()))
        return cat + 0.5 * (self.dim * (1.0 + _LOG_2PI) + logdet)

    def columns(self) -> list[np.ndarray | tuple[float, float]]:
        """Per raw column: its category probabilities, or its Gaussian marginal's (mean, sd)."""
        views: list = [None] * self._width
        for row, j in enumerate(self._cat_cols):
            views[j] = self.q[self.offsets[row]:self.offsets[row] + self.sizes[row]].copy()
        for j, mean, sd in zip(self._gauss_cols.tolist(), self.mean.tolist(), self.marginal_sd().tolist()):
            views[j] = (mean, sd)
        return views

    # ---------------------------------------------------------------- margins

    def integer_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """For each integer column, the z-interval of the bin that holds its mean (+-inf at the range's ends)."""
        _, _, log, first, last = self._int_spec.T
        lo_t, hi_t = self._int_t_range
        z = self.mean[self._int_pos]
        u = 0.5 * (1.0 + np.tanh(0.5 * z))
        t = lo_t + u * (hi_t - lo_t)
        x = np.where(log > 0, np.exp(t), t)
        k = np.clip(np.floor(x), first, last)

        def z_of(edge: np.ndarray) -> np.ndarray:
            t_edge = np.where(log > 0, np.log(np.where(log > 0, np.maximum(edge, 1e-300), 1.0)), edge)
            uu = (t_edge - lo_t) / (hi_t - lo_t)
            return np.log(uu) - np.log1p(-uu)

        with np.errstate(divide="ignore", invalid="ignore"):  # once: it costs what the arithmetic does
            lower, upper = z_of(np.stack([k, k + 1]))  # both edges in one pass
        return np.where(k <= first, -np.inf, lower), np.where(k >= last, np.inf, upper)

    def _integer_pins(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per integer column: its mean's bin's edges (``integer_edges``), its sd before the margin, and in
        the range's first or last bin the furthest the mean may be from its neighbour (NaN in others): as far
        from the inner edge as leaves alpha / 2 beyond it."""
        lower, upper = self.integer_edges()
        sd = self.sigma * np.sqrt(self.variances())[self._int_pos]
        reach = self._int_quantile * sd
        # Two values have no far end: there the margin widens the sd, as in a bin between two others (held
        # as the others are, binaries lost on bbob-mixint: natural_ablation.md section 13).
        ends = self._int_spec[:, 4] - self._int_spec[:, 3] >= 2
        last, first = ends & np.isinf(upper) & np.isfinite(lower), ends & np.isinf(lower) & np.isfinite(upper)
        return lower, upper, sd, np.where(last, lower + reach, np.where(first, upper - reach, np.nan))

    def pinned(self) -> np.ndarray:
        """Which numeric columns are integers whose mean the margin holds at their range's end
        (``apply_integer_margin``): their reward is flat beyond the edge, so their steps say nothing of
        the step size. Kept from the last margin (computed, 40 us of each update on 10 parameters)."""
        if self.__dict__.get("_held") is None:  # set from a state, or pickled before it was kept
            _, _, sd, pin = self._integer_pins()
            self._held = self._held_at(pin, sd)
        return self._held

    def _held_at(self, pin: np.ndarray, sd: np.ndarray) -> np.ndarray:
        """``pinned`` for the integer columns' pins and sds of ``_integer_pins`` (NaN, no pin: never held)."""
        held = np.zeros(self.dim, dtype=bool)
        held[self._int_pos] = np.abs(self.mean[self._int_pos] - pin) <= 1e-9 * np.maximum(sd, 1e-300)
        return held

    def apply_integer_margin(self) -> None:
        """Keep the nearer neighbouring bin of each integer column's mean at probability >= alpha / 2, as
        CatCMAwM does: a mean in the first or last bin of a range of three values or more is moved back
        towards its neighbour; elsewhere the column's sampled sd is widened (its margin A)."""
        if not len(self._int_pos):
            return
        self.margin = np.ones(self.dim)
        lower, upper, sd, pin = self._integer_pins()
        # An end bin is unbounded outwards, and its reward is flat there, so selection pushes the mean out
        # without end; widened instead of moved, the sd then grew with it and the sigmoid put the mass
        # beyond the edge on the range's far end, not on the neighbour (tests/test_natural.py).
        z = self.mean[self._int_pos]
        z = np.where(np.isnan(pin), z, np.where(np.isinf(upper), np.minimum(z, pin), np.maximum(z, pin)))
        self.mean[self._int_pos] = z
        self._held = self._held_at(pin, sd)
        distance = np.minimum(z - lower, upper - z)
        distance = np.where(np.isfinite(distance), np.maximum(distance, 0.0), 0.0)
        self.margin[self._int_pos] = np.maximum(1.0, distance / self._int_quantile / np.maximum(sd, 1e-300))

    def apply_category_margin(self) -> None:
        """CatCMAwM's projection: every probability >= q_min, each categorical still summing to 1."""
        if not len(self.q):
            return
        q = np.maximum(self.q, self._q_min)
        total = np.repeat(np.add.reduceat(q, self.offsets), self.sizes)
        spare = total - np.repeat(np.add.reduceat(self._q_min, self.offsets), self.sizes)
        with np.errstate(invalid="ignore", divide="ignore"):
            q = np.where(spare > 0, q - (total - 1.0) * (q - self._q_min) / spare, q)
        self.q = q / np.repeat(np.add.reduceat(q, self.offsets), self.sizes)


def _segment_cumsum(values: np.ndarray, offsets: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    cum = np.cumsum(values)
    before = np.repeat(cum[offsets] - values[offsets], sizes)
    return cum - before


def _cholesky(cov: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of a positive definite ``cov`` (a tiny jitter if rounding made it singular)."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return np.linalg.cholesky(cov + np.eye(len(cov)) * (1e-12 * float(np.max(np.diag(cov)))))


def _gauss_log_density(x: np.ndarray, mean: np.ndarray, chol: np.ndarray,
                       inverse: np.ndarray | None = None) -> np.ndarray:
    """log N(x; mean, L L^T) per row, from the Cholesky factor L (and L^-1, if known)."""
    solved = (np.linalg.inv(chol) if inverse is None else inverse) @ (x - mean).T
    return -0.5 * np.sum(solved**2, axis=0) - np.log(np.diag(chol)).sum() - 0.5 * len(mean) * _LOG_2PI


def cma_rates(dim: int, mu_eff: float, separable: bool = False) -> dict[str, float]:
    """CMA-ES's default learning rates (Hansen 2016) for dimension ``dim`` and the weights' ``mu_eff``;
    ``separable``: sep-CMA-ES's, the covariance rates times (dim + 2) / 3 (Ros and Hansen 2008: a
    diagonal has dim parameters to learn, not dim^2 / 2)."""
    speed = (dim + 2.0) / 3.0 if separable else 1.0
    c1 = min(1.0, speed * 2.0 / ((dim + 1.3) ** 2 + mu_eff))
    cmu = min(1.0 - c1, speed * 2.0 * (mu_eff - 2.0 + 1.0 / mu_eff) / ((dim + 2.0) ** 2 + mu_eff))
    cs = (mu_eff + 2.0) / (dim + mu_eff + 5.0)
    ds = 1.0 + 2.0 * max(0.0, math.sqrt((mu_eff - 1.0) / (dim + 1.0)) - 1.0) + cs
    cc = (4.0 + mu_eff / dim) / (dim + 4.0 + 2.0 * mu_eff / dim)
    chi_n = math.sqrt(dim) * (1.0 - 1.0 / (4.0 * dim) + 1.0 / (21.0 * dim**2))
    return {"c1": c1, "cmu": max(0.0, cmu), "cm": 1.0, "cs": cs, "ds": ds, "cc": cc, "chi_n": chi_n}


def truncated_ratios(new: np.ndarray, old: np.ndarray, truncation: float) -> np.ndarray:
    """``min(exp(new - old), truncation)`` per block; 1 where the drawing policy's value is unknown."""
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = np.exp(new - np.where(np.isnan(old), new, old))
    return np.minimum(np.where(np.isfinite(ratio) | (ratio > 0), ratio, 0.0), truncation)


def natural_update(policy: NaturalPolicy, raw: np.ndarray, old_blocks: np.ndarray | None, adv: np.ndarray, *,
                   truncation: float = 1.0, min_sd: float = 0.0, max_sd: float = math.inf,
                   fresh: float = 1.0, trust: np.ndarray | None = None,
                   rng: np.random.Generator | None = None) -> dict[str, float]:
    """One natural-gradient step on one batch, in place; returns diagnostics.

    Args:
        policy: The policy to update.
        raw: The batch's raw samples (n, num_columns); NaN for actors not drawn.
        old_blocks: ``block_log_prob`` of each sample under the policy that drew it
            (n, 1 + categoricals), or None when every sample was drawn by ``policy``.
        adv: One advantage per sample, higher is better; only their order is used.
        truncation: Upper bound ``c`` of each importance ratio ``min(pi_now / pi_drew, c)``.
        min_sd, max_sd: Bounds on each numeric column's marginal sd (before its margin).
        rng: Draws the coordinates of the branches a sample did not take, and of integers held at their
            range's end (``_update_gaussian``); needed only where there are such coordinates.
        fresh: The share of ``raw`` not learnt from before, its last rows (a window of W batches: 1 / W).
            A separable policy's step-size path learns from those rows alone. The covariance rates
            c1 and c_mu are scaled by it, so that a result ranked in W updates moves the covariance
            as much in all as one generation of CMA-ES does (unscaled, it converged early: Hartmann-6).
        trust: A weight in [0, 1] per sample, multiplying its importance ratio: how far its rank is
            believed (``rungs.trust``); None: 1 for every sample.

    Returns:
        ``gaussian_share`` and ``categorical_share``: the recombination weight that
        the truncated ratios kept (1: every sample counted fully); ``ess``: the
        effective number of samples of the Gaussian's weights; ``csa_step``: the
        length of the step-size path's increment over its expectation under random
        selection (1 on average when nothing is learnt: tests/test_invariance.py).
    """
    raw = np.atleast_2d(np.asarray(raw, dtype=float))
    weights = rank_weights(adv)
    new_blocks = policy.block_log_prob(raw)
    ratios = np.ones_like(new_blocks) if old_blocks is None else truncated_ratios(
        new_blocks, np.asarray(old_blocks, dtype=float), truncation)
    if trust is not None:
        ratios = ratios * np.asarray(trust, dtype=float)[:, None]
    info = {"gaussian_share": math.nan, "categorical_share": math.nan, "ess": math.nan, "csa_step": math.nan}
    if weights.sum() <= 0:
        return info
    policy.generation += 1
    if policy.dim:
        drawn = ~np.isnan(new_blocks[:, 0])
        info.update(_update_gaussian(policy, raw, np.where(drawn, weights * ratios[:, 0], 0.0),
                                     weights * drawn, min_sd, max_sd, fresh, rng))
    if len(policy.sizes):
        info["categorical_share"] = _update_categorical(policy, raw, weights, ratios[:, 1:])
    return info


def _update_gaussian(policy: NaturalPolicy, raw: np.ndarray, w: np.ndarray, nominal: np.ndarray,
                     min_sd: float, max_sd: float, fresh: float,
                     rng: np.random.Generator | None) -> dict[str, float]:
    """CMA-ES's mean, rank-one, rank-mu and CSA updates with importance-weighted recombination weights ``w``.

    A numeric column a sample did not draw does not pull the mean. For the
    paths and the covariance it is filled with a draw from the policy's
    Gaussian conditional on the columns the sample did draw: what a full draw
    would have held where the reward does not look, so CSA sees a full draw's
    statistics (zeros there shrank sigma: normalised step 0.73 on a flat
    objective). A column that no sample drew keeps its marginal (mean and sd).
    """
    dim = policy.dim
    share = float(w.sum() / nominal.sum()) if nominal.sum() > 0 else 0.0
    result = {"gaussian_share": share, "ess": 0.0, "csa_step": math.nan}
    if w.sum() <= 0:
        return result
    w_nominal = nominal / nominal.sum()
    mu_eff = 1.0 / float(np.sum(w_nominal**2))
    separable = policy.separable
    rates = cma_rates(dim, mu_eff, separable)
    z = raw[:, policy._gauss_cols]
    y = (z - policy.mean) / (policy.sigma * policy.margin)
    # An integer held at its range's end moves the mean, but the paths and the covariance take its
    # coordinates as undrawn: else the steps the margin undoes each update pile up in the step-size path
    # and sigma grows (bbob-mixint sphere, natural_ablation.md section 13).
    pinned = policy.pinned()
    y_full = _fill_undrawn(np.where(pinned, np.nan, y) if pinned.any() else y, policy.cov, rng)
    undrawn = np.isnan(z).all(axis=0)
    old_sd = policy.sigma * np.sqrt(policy.variances())
    w = w / nominal.sum()  # the nominal weights sum to 1; truncation only lowers them
    y_w = w @ np.where(np.isnan(y), 0.0, y)  # (nan_to_num: 4x slower)
    mu_eff_is = float(w.sum() ** 2 / np.sum(w**2))
    result["ess"] = mu_eff_is
    step = (w @ y_full) / w.sum()  # the self-normalised step: distributed as N(0, C / mu_eff_is) under random selection
    cs, ds, cc, chi_n = rates["cs"], rates["ds"], rates["cc"], rates["chi_n"]
    policy.mean = policy.mean + rates["cm"] * policy.sigma * policy.margin * y_w
    # The step-size path of a separable policy learns from each result once: from the window's fresh rows
    # (its last). Results ranked again made successive steps alike, so the path grew on them and sigma
    # with it (bbob-mixint d160, sphere: sigma 1 -> 10 in 190 updates; natural_ablation.md, section 7).
    path_step, path_mu_eff, learnt = step, mu_eff_is, True
    if separable:
        fresh_w = w[-max(1, round(fresh * len(w))):]
        # No fresh result selected (all below the window's older ones): nothing new for the path, which
        # waits with sigma. The older rows leave the window within its length: a few updates at most.
        learnt = fresh_w.sum() > 0
        if learnt:
            path_step = (fresh_w @ y_full[-len(fresh_w):]) / fresh_w.sum()
            path_mu_eff = float(fresh_w.sum() ** 2 / np.sum(fresh_w**2))
    if learnt:
        whitened = path_step / np.sqrt(policy.cov) if separable else policy.cholesky_inverse() @ path_step
        result["csa_step"] = math.sqrt(path_mu_eff) * float(np.linalg.norm(whitened)) / chi_n
        policy.path_sigma = (1 - cs) * policy.path_sigma + math.sqrt(cs * (2 - cs) * path_mu_eff) * whitened
    norm = float(np.linalg.norm(policy.path_sigma))
    h_sigma = norm / math.sqrt(1 - (1 - cs) ** (2 * max(1.0, policy.generation))) < (1.4 + 2 / (dim + 1)) * chi_n
    policy.path_c = (1 - cc) * policy.path_c + h_sigma * math.sqrt(cc * (2 - cc) * mu_eff_is) * step
    rank_mu = w @ y_full**2 if separable else (y_full * w[:, None]).T @ y_full
    rank_one = policy.path_c**2 if separable else np.outer(policy.path_c, policy.path_c)
    c1, cmu = fresh * rates["c1"], fresh * rates["cmu"]
    delta_h = (1 - h_sigma) * cc * (2 - cc)
    cov = (1 + c1 * delta_h - c1 - cmu * w.sum()) * policy.cov + c1 * rank_one + cmu * rank_mu
    # CSA, its growth capped at e per update (a window of stale results must not blow sigma up).
    if learnt:
        policy.sigma = float(np.clip(policy.sigma * math.exp(min(1.0, (cs / ds) * (norm / chi_n - 1))),
                                     *_SIGMA_RANGE))
    cov = _bounded(cov, policy.sigma, min_sd, max_sd)
    if undrawn.any():  # back to the marginal sd it had, whatever sigma did
        keep = np.where(undrawn, old_sd / (policy.sigma * np.sqrt(cov if separable else np.diag(cov))), 1.0)
        cov = cov * (keep**2 if separable else np.outer(keep, keep))
    policy.cov = cov
    policy.apply_integer_margin()
    return result


def _fill_undrawn(y: np.ndarray, cov: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """``y`` with each row's NaN coordinates drawn from N(0, cov) conditional on its drawn ones (``cov``
    a vector: the variances of independent coordinates)."""
    missing = np.isnan(y)
    if not missing.any():
        return y
    if rng is None:
        raise ValueError("natural_update needs rng= for samples that did not draw every numeric column, and "
                         "for integers the margin holds at their range's end")
    full = y.copy()
    if cov.ndim == 1:
        full[missing] = (rng.standard_normal(y.shape) * np.sqrt(cov))[missing]
        return full
    for mask in np.unique(missing[missing.any(axis=1)], axis=0):
        rows = (missing == mask).all(axis=1)
        drawn = ~mask
        # C_MD C_DD^-1: the regression of the missing coordinates on the drawn ones
        gain = np.linalg.solve(cov[np.ix_(drawn, drawn)], cov[np.ix_(drawn, mask)]).T if drawn.any() else None
        cond = cov[np.ix_(mask, mask)] - (0.0 if gain is None else gain @ cov[np.ix_(drawn, mask)])
        mean = np.zeros((int(rows.sum()), int(mask.sum()))) if gain is None else y[np.ix_(rows, drawn)] @ gain.T
        full[np.ix_(rows, mask)] = mean + rng.standard_normal(mean.shape) @ _cholesky((cond + cond.T) / 2).T
    return full


def _bounded(cov: np.ndarray, sigma: float, min_sd: float, max_sd: float) -> np.ndarray:
    """``cov`` symmetric, its condition bounded, each marginal sd ``sigma * sqrt(C_jj)`` within [min_sd, max_sd]
    (``cov`` a vector: the variances of a separable policy).

    The update adds positive semi-definite terms to a positive multiple of the
    old covariance, so it stays positive definite; a ridge of 1/_MAX_CONDITION
    of the largest variance keeps it so under rounding.
    """
    if cov.ndim == 1:
        cov = cov + float(np.max(cov)) / _MAX_CONDITION
        sd = sigma * np.sqrt(cov)
        return cov * (np.clip(sd, min_sd, max_sd) / sd) ** 2
    cov = (cov + cov.T) / 2
    cov = cov + np.eye(len(cov)) * (float(np.max(np.diag(cov))) / _MAX_CONDITION)
    sd = sigma * np.sqrt(np.diag(cov))
    scale = np.clip(sd, min_sd, max_sd) / sd
    return cov * np.outer(scale, scale)


def _update_categorical(policy: NaturalPolicy, raw: np.ndarray, weights: np.ndarray, ratios: np.ndarray) -> float:
    """The ASNG step of CatCMA on every categorical, then the margin; returns the weight share kept."""
    sizes, offsets = policy.sizes, policy.offsets
    cats = raw[:, policy._cat_cols]
    drawn = ~np.isnan(cats)
    w = np.where(drawn, weights[:, None] * ratios, 0.0)  # (n, categoricals)
    nominal = float((weights[:, None] * drawn).sum())
    share = float(w.sum() / nominal) if nominal > 0 else 0.0
    w_flat = np.repeat(w, sizes, axis=1)
    # sum_i w_i (onehot_i - q) over the samples that drew it
    grad = np.sum(w_flat * (onehot(cats, offsets, len(policy.q)) - policy.q), axis=0)
    fisher = _sqrt_fisher_times(policy.q, grad, sizes, offsets)
    norm = float(np.linalg.norm(fisher))
    if norm <= 0 or share <= 0:
        return share
    delta = 1.0 / policy.cat_trust
    eps = delta * share / (norm + _EPS)
    policy.q = policy.q + eps * grad
    beta = delta / math.sqrt(len(fisher))
    alpha_snr = 1.5
    policy.cat_path = (1 - beta) * policy.cat_path + math.sqrt(beta * (2 - beta)) * fisher / norm
    policy.cat_gamma = (1 - beta) ** 2 * policy.cat_gamma + beta * (2 - beta)
    snr = policy.cat_gamma - float(policy.cat_path @ policy.cat_path) / alpha_snr
    # Steps never longer than 1 in the Fisher norm (ASNG's start): results learnt from again in the
    # window make successive gradients alike, which alone would lengthen the step without bound.
    policy.cat_trust = max(1.0, policy.cat_trust * math.exp(beta * snr))
    policy.apply_category_margin()
    return share


def _sqrt_fisher_times(q: np.ndarray, grad: np.ndarray, sizes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """F^(1/2) grad in the first K-1 coordinates of each categorical (CatCMA's normalisation of its step)."""
    parts = []
    for offset, size in zip(offsets, sizes):
        if size < 2:
            continue
        q_i, g_i = q[offset:offset + size - 1], grad[offset:offset + size - 1]
        q_last = q[offset + size - 1]
        parts.append(g_i / np.sqrt(q_i) + np.sqrt(q_i) * g_i.sum() / (q_last + np.sqrt(q_last)))
    return np.concatenate(parts) if parts else np.zeros(0)
