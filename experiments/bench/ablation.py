"""Ablations of PGSearcher's natural-gradient update: the default with one of its parts switched off.

``python -m experiments.bench run suite --methods "ablation[covariance=False]" ...``:

- ``covariance=False``: the Gaussian's covariance is kept diagonal (its
  off-diagonal terms are dropped after every update): independent actors;
- ``margin=False``: no margin on integers (CatCMA's margin keeps the neighbouring
  integer reachable);
- ``category_margin=x``: the categoricals' floors times x (0: kept above 1e-8
  only, as the Fisher norm divides by each probability; 1 / _CATEGORY_MARGIN:
  CatCMAwM's own);
- ``weights=False``: no importance weights: a result drawn under an older policy
  counts as if the current one had drawn it (CatCMA's asynchronous use);
- ``initial_scale=x``: bounded numerics start with sd ``x`` times their column's
  (the default is ``natural._BOUNDED_INITIAL_SCALE``, with several metrics
  ``learner.SEVERAL_METRICS_INITIAL_SCALE``);
- ``candidates=k``: each suggestion is the best of k policy samples by the rank
  model (1: no surrogate; the default is ``learner.CANDIDATES``);
- ``min_tau_z=z``: the rank model is used once its leave-one-out Kendall tau
  is z null sds above 0 (the default is ``surrogate.MIN_TAU_Z``);
- ``separable_above=d``: the Gaussian is separable (diagonal, sep-CMA-ES's
  rates) beyond d numeric columns (the default is ``learner.SEPARABLE_ABOVE``);
- ``first_spread=x``: before its first update the policy's configs are suggested with each numeric's
  deviation from the mean times x, while the searcher keeps and learns from the draws themselves (the
  update, the rank model and the checkpoint see only draws); 1, the default, suggests the draws
  (``experiments/results/bbob_mixint_large.md``: 0.5 leads the default to 50-100 trials and loses to it from
  200 on in d40-d160; 2.5, ``natural_ablation.md`` section 17); ``first_spread_suggestions=k``: only the
  first k suggestions;
- ``stratified=True`` or ``"categorical"``: the first generation (the draws before the first update) comes in
  Latin-hypercube pools: each draw is one of the policy, the pool's uniforms stratified per column, so that
  a pool of 8 gives a two-way choice 4 and 4 (``"categorical"``: the choices alone, the Gaussian drawn as by
  default; ``experiments/results/natural_ablation.md`` section 14); ``stratified_pools=k``: only the first k
  pools of 8 (by default every pool of the first generation);
- ``first_wide=t``: the first ``first_wide_pools`` pools of 8 (default 1) of the first generation are drawn from
  the policy with sigma times t (``NaturalPolicy.tempered(t)``) and learnt from with their importance
  weights under it (``experiments/results/natural_ablation.md`` section 16; ``first_wide_learnt=False``: not
  learnt from at all, their importance ratios 0, while the rank model and the incumbent see them);
- ``rung_prior=x``: a trial a scheduler cut short counts as far as its rung has predicted the next
  (``rungs.py``), x the trust of a rung with too few trials past it (``rungs.PRIOR``: 0.5); the
  default None counts it fully;
- ``count_cut_power=p``: a trial cut short at iteration t counts (t / T) ** p towards a batch (0: one
  whole trial; the default is ``learner.CUT_COUNT_POWER``; a trial counting its rung's trust was measured
  too, at commit 24b76b6: ``experiments/results/asha_rivals.md``).

Other keyword arguments go to ``PGSearcher``. The update's cadence (batch and
window) and its rate scaling are constants of ``ray_pg``; their ablations are
listed in ``experiments/results/natural_ablation.md`` with how they were run.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from ray_pg import PGSearcher
from ray_pg.learner import CANDIDATES, CUT_COUNT_POWER, SEPARABLE_ABOVE, Learner
from ray_pg.natural import NaturalPolicy
from ray_pg.results import Sample, as_list
from ray_pg.space import Space
from ray_pg.surrogate import MIN_TAU_Z


class AblatedLearner(Learner):
    """The default learner with the parts named False switched off (see the module docstring)."""

    def __init__(self, *args: Any, covariance: bool, margin: bool, category_margin: float, weights: bool,
                 initial_scale: float | None, stratified: bool | str = False, stratified_pools: int | None = None,
                 first_wide: float = 1.0, first_wide_pools: int = 1, first_wide_learnt: bool = True,
                 **kwargs: Any) -> None:
        self._first_wide, self._first_wide_pools = first_wide, first_wide_pools
        self._first_wide_learnt = first_wide_learnt
        self._covariance, self._margin, self._weights, self._stratified = covariance, margin, weights, stratified
        self._stratified_pools = stratified_pools
        self._first_pools = 0  # pools drawn before the first update
        self._category_margin, self._initial_scale_knob = category_margin, initial_scale
        super().__init__(*args, **kwargs)

    def new_policy(self, rule: str) -> NaturalPolicy:
        policy = super().new_policy(rule)
        floor = np.where(policy._q_min > 0, 1e-8, 0.0)
        policy._q_min = np.maximum(self._category_margin * policy._q_min, floor)
        if not self._margin:
            policy._int_pos, policy._int_spec = policy._int_pos[:0], policy._int_spec[:0]  # no integer margins
            policy._int_t_range = tuple(ends[:0] for ends in policy._int_t_range)
        return policy

    def draw(self, size: int) -> list[Sample]:
        if self.num_updates:
            return super().draw(size)
        pool, self._first_pools = self._first_pools, self._first_pools + 1
        wide = self._first_wide != 1 and pool < self._first_wide_pools
        if wide:
            policy, generator = self.policy.tempered(self._first_wide), self.rng
        elif self._stratified and (self._stratified_pools is None or pool < self._stratified_pools):
            policy, generator = self.policy, _LatinHypercube(self.rng, gaussian=self._stratified != "categorical")
        else:
            return super().draw(size)
        samples = self.samples(policy, self.space.mask_inactive(policy.sample(generator, size)))
        if not wide or self._first_wide_learnt:
            return samples
        # drawn with infinite density: an importance ratio of 0, so the update does not learn from them
        return [Sample(s.raw, math.inf, np.where(np.isnan(s.blocks), np.nan, math.inf)) for s in samples]

    def initial_scale(self) -> float | None:
        return super().initial_scale() if self._initial_scale_knob is None else self._initial_scale_knob

    def samples(self, policy: NaturalPolicy, raw: np.ndarray) -> list[Sample]:
        samples = super().samples(policy, raw)
        return samples if self._weights else [Sample(s.raw, s.log_prob, None) for s in samples]

    def natural_update(self, batch_size: int) -> None:
        super().natural_update(batch_size)
        if not self._covariance and not self.policy.separable:
            self.policy.cov = np.diag(np.diag(self.policy.cov))


class _LatinHypercube:
    """The two draws ``NaturalPolicy.sample`` asks its generator for, as Latin-hypercube pools: each row
    uniform (or standard normal), the rows stratified per column (the normals only if ``gaussian``)."""

    def __init__(self, rng: np.random.Generator, gaussian: bool) -> None:
        self.rng, self.gaussian = rng, gaussian

    def random(self, shape: tuple[int, int]) -> np.ndarray:
        strata = np.argsort(self.rng.random(shape), axis=0)
        return np.clip((strata + self.rng.random(shape)) / shape[0], 1e-12, 1 - 1e-12)

    def standard_normal(self, shape: tuple[int, int]) -> np.ndarray:
        if not self.gaussian:
            return self.rng.standard_normal(shape)
        return np.vectorize(NormalDist().inv_cdf)(self.random(shape))


class AblatedSearcher(PGSearcher):
    """``PGSearcher(update="natural")`` whose learner is an ``AblatedLearner``."""

    def __init__(self, *, covariance: bool = True, margin: bool = True, category_margin: float = 1.0,
                 weights: bool = True, initial_scale: float | None = None, candidates: int = CANDIDATES,
                 min_tau_z: float = MIN_TAU_Z, separable_above: int = SEPARABLE_ABOVE,
                 first_spread: float = 1.0, rung_prior: float | None = None,
                 count_cut_power: float = CUT_COUNT_POWER, stratified: bool | str = False,
                 stratified_pools: int | None = None, first_wide: float = 1.0, first_wide_pools: int = 1,
                 first_wide_learnt: bool = True, first_spread_suggestions: int | None = None,
                 **kwargs: Any) -> None:
        self._knobs = {"covariance": covariance, "margin": margin, "category_margin": category_margin,
                       "weights": weights, "initial_scale": initial_scale, "candidates": candidates,
                       "min_tau_z": min_tau_z, "separable_above": separable_above,
                       "rung_prior": rung_prior, "count_cut_power": count_cut_power, "stratified": stratified,
                       "stratified_pools": stratified_pools, "first_wide": first_wide,
                       "first_wide_pools": first_wide_pools, "first_wide_learnt": first_wide_learnt}
        self._first_spread, self._first_spread_suggestions = first_spread, first_spread_suggestions
        super().__init__(update="natural", **kwargs)

    def suggest(self, trial_id: str) -> dict | None:
        queued = bool(self._queue)  # a point the user gave is suggested as given
        config = super().suggest(trial_id)
        learner, sample = self._learner, self._pending.get(trial_id)
        limit = self._first_spread_suggestions
        if (self._first_spread == 1 or queued or sample is None or learner.num_updates
                or (limit is not None and self._num_suggested > limit)):
            return config
        numeric, mean = learner.policy._gauss_cols, learner.policy.mean
        narrowed = sample.raw.copy()
        narrowed[numeric] = mean + self._first_spread * (sample.raw[numeric] - mean)
        return self._space.decode(narrowed, {})

    def _new_learner(self, space: Space, rule: str, metric: Any = None) -> AblatedLearner:
        several = len(as_list(self.metric if metric is None else metric)) > 1
        return AblatedLearner(space, rule, self._options, self._rng, several_metrics=several, **self._knobs)


def make_ablation(space: dict, metric: str, mode: str, seed: int, **kwargs: Any) -> AblatedSearcher:
    return AblatedSearcher(metric=metric, mode=mode, seed=seed, **kwargs)
