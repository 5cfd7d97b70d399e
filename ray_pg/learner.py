"""The learning half of PGSearcher: the policy and what it learns from, knowing nothing of Tune.

A ``Learner`` holds the policy (``policy.py``'s REINFORCE policy or ``natural.py``'s), the batch of
finished trials being filled, the window of recent results, the rank model that picks suggestions
(``surrogate.py``) and one history row per update. The searcher (``searcher.py``) feeds it: samples
to draw, finished trials with their rewards and levels, the batch size Tune's concurrency implies.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numpy as np

from ray_pg import rungs, surrogate
from ray_pg.blas import one_blas_thread
from ray_pg.evidence import Evidence
from ray_pg.natural import NaturalPolicy, natural_update
from ray_pg.params import BoundedParam
from ray_pg.policy import Adam, Policy, UpdateSettings, advantages, update
from ray_pg.results import Finished, Sample, batch_scores, batch_summary, finished_arrays
from ray_pg.space import Space

logger = logging.getLogger(__name__)

# Upper bound on every Gaussian's sd (in the units of its raw variable): above
# this a squashed Gaussian piles its mass on the range's two ends.
MAX_SD = 2.0
# Default start of the sharpened sampling, as a fraction of the budget (single
# objective; benchmark sweeps in experiments/results/summary.md).
EXPLOIT_FROM = 0.7
# Auto batch size: at least this many completed trials (full-length equivalents) per update ...
MIN_AUTO_BATCH = 8
# ... and a quarter of the trials in flight: fresh enough, and enough updates.
AUTO_BATCH_FRACTION = 0.25
# update="natural": an update every max(5, in flight / 8) results, on a window of the last 4 batches (older
# results count through truncated importance weights); batches of 4 and 6 were measured too (natural_ablation.md).
# Under ASHA max(2, in flight / 8) full trials' training: the snippet of docs/guide/schedulers.md makes 13-16
# updates in 60 trials, not 2-5, and 2 is even with 5 head to head (better in 0.49 / 0.55 / 0.50 of 40 runs at
# B/4, B/2, B; experiments/results/asha_rivals.md). HyperBand keeps 5 (0.30 / 0.80 / 0.40 of 10 runs).
NATURAL_MIN_BATCH, NATURAL_MIN_CUT_BATCH, NATURAL_BATCH_FRACTION, NATURAL_WINDOW = 5, 2, 0.125, 4
# update="natural": while the rank model of the recent results orders them (ray_pg/surrogate.py),
# each suggestion is the best of this many samples of the policy by the model. 4, 8, 16 and 32
# were measured (8 and 64 workers, our suite and bbob-mixint: natural_ablation.md).
CANDIDATES = 16
# update="natural": beyond this many numeric columns the Gaussian is separable (a diagonal covariance
# with sep-CMA-ES's rates): O(d) per sample and update instead of O(d^2) and O(d^3). Separable against
# full, mean rank of 2 at 25 / 50 / 100 / 200 (/ 400) trials: bbob-mixint d20, 8 workers, 3 seeds: 1.50 /
# 1.51 / 1.51 / 1.46 (even); d40, 64 workers, 3 seeds: 2.22 / 2.22 / 2.15 / 1.85 / 1.69 against full's
# 2.34 / 2.36 / 2.12 / 1.92 / 1.82 of 4 with CatCMA and random (natural_ablation.md, section 6).
SEPARABLE_ABOVE = 20
# update="natural": suggestions are drawn this many at a time (and the rank model picks each), until the
# next update: one vectorised draw costs about what one suggestion's did (experiments/results/
# cost_width.md). A constant, not the batch size, so that what a searcher suggests does not depend on it.
DRAWN_AHEAD = 8
# With several metrics, bounded numerics start at their column's full sd (the first batches are
# random search) instead of leaning towards the middle of each range: a Pareto front spreads over
# some parameters. Multi-objective benchmark (4 problems, 20 seeds), mean rank of 5 at 25 / 50 / 100 /
# 200 trials, 8 workers: 2.76 / 2.33 / 2.38 / 2.51 against 3.57 / 3.77 / 3.23 / 2.99 leaning (0.4; 0.7
# between), and 2.26 against 3.64 at 64 workers and 400 trials (natural_ablation.md).
SEVERAL_METRICS_INITIAL_SCALE = 1.0
# A trial an early-stopping scheduler cut at iteration t, when the longest went T, counts (t / T) ** this
# towards a batch (Learner.batch_weight). 0.5 and 0 made more updates and lost under ASHA (sum of mean ranks
# of 3 over 12 checkpoints, 10 seeds: 21.3 against 26.0 and 24.8; experiments/results/asha_rivals.md).
CUT_COUNT_POWER = 1.0


@dataclass(frozen=True)
class Options:
    """PGSearcher's learning options (its docstring says what each does), checked once."""

    batch_size: int | None = None
    settings: UpdateSettings = UpdateSettings(0.1, 8, 0.2, 0.0, 0.05, MAX_SD)
    advantage: str = "nes"
    failed_trials: str = "worst"
    exploit_from: float | None = None
    exploit_temperature: float = 0.5
    truncation: float = 1.0

    def __post_init__(self) -> None:
        size, s = self.batch_size, self.settings
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 2):
            raise ValueError(f"batch_size must be None or an int >= 2, got batch_size={size}")
        if not (s.learning_rate > 0 and isinstance(s.passes, int) and s.passes >= 1 and s.clip > 0
                and s.entropy_coef >= 0 and 0 < s.min_sd < s.max_sd):
            raise ValueError(f"expected learning_rate > 0, int passes >= 1, clip > 0, entropy_coef >= 0, "
                             f"0 < min_sd < {s.max_sd}; got learning_rate={s.learning_rate}, passes={s.passes}, "
                             f"clip={s.clip}, entropy_coef={s.entropy_coef}, min_sd={s.min_sd}")
        if not ((self.exploit_from is None or 0 <= self.exploit_from <= 1) and 0 < self.exploit_temperature <= 1):
            raise ValueError(f"expected exploit_from None or in [0, 1] and 0 < exploit_temperature <= 1, got "
                             f"exploit_from={self.exploit_from}, exploit_temperature={self.exploit_temperature}")
        if self.advantage not in ("rank", "zscore", "nes"):
            raise ValueError(f"advantage must be 'nes', 'rank' or 'zscore', got advantage={self.advantage!r}")
        if self.failed_trials not in ("worst", "ignore"):
            raise ValueError(f"failed_trials must be 'worst' or 'ignore', got failed_trials={self.failed_trials!r}")
        if not self.truncation > 0:
            raise ValueError(f"truncation must be > 0, got truncation={self.truncation}")


class Learner:
    """The policy of one search space under one update rule, and everything it learns from.

    ``rng`` is the searcher's generator (one stream: the searcher draws queued points from it too).
    ``candidates`` and ``min_tau_z`` are the rank model's knobs, ``separable_above`` the natural policy's,
    ``rung_prior`` (a number: trials cut short count as far as their rung predicts the next, ``rungs.py``;
    None, the default, measured better: they count fully) and ``count_cut_power`` (a trial cut short counts
    (t / T) ** power towards a batch, ``batch_weight``) the early-stopping ones (ablations change them).
    """

    def __init__(self, space: Space, rule: str, options: Options, rng: np.random.Generator, *,
                 several_metrics: bool, candidates: int = CANDIDATES, min_tau_z: float = surrogate.MIN_TAU_Z,
                 separable_above: int = SEPARABLE_ABOVE, rung_prior: float | None = None,
                 count_cut_power: float = CUT_COUNT_POWER):
        self.space, self.rule, self.options, self.rng = space, rule, options, rng
        self.several_metrics, self.candidates, self.min_tau_z = several_metrics, candidates, min_tau_z
        self.separable_above, self.rung_prior, self.count_cut_power = separable_above, rung_prior, count_cut_power
        self.policy = self.new_policy(rule)
        self.adam = Adam.zeros(self.policy.params.size)
        self.batch: list[Finished] = []
        self.window: list[Finished] = []  # update="natural": the recent results (the update's: the last batches)
        self.rank_model: surrogate.RankModel | None = None
        # Suggestions drawn ahead from the policy (and picked by the rank model), until the next update.
        self.pool: list[Sample] = []
        self.history: list[dict] = []
        # How much each parameter's draws explained the ranks of the batches so far (history's :evidence).
        self.evidence = Evidence(self.policy.columns())
        self.num_updates = self.num_failed = self.trials_used = 0
        self.full_iterations = 1.0  # the most training_iterations any completed trial reached
        # With rung_prior: the iterations at which Tune cut trials short so far, the scheduler's rungs (rungs.py).
        self.rung_levels: list[float] = []

    @functools.cached_property
    def _sizes(self) -> tuple[int, int]:
        """The recent results the rank model keeps (update="natural") and the most coefficients it may have
        (the size of an update's linear algebra: ``one_blas_thread``); a property, for older pickles."""
        layout = surrogate.Layout.of(self.policy.columns())
        return surrogate.memory_size(layout), surrogate.largest_size(layout)

    # ---- the two update rules: the policy class, what a sample keeps, the update
    def new_policy(self, rule: str) -> Policy | NaturalPolicy:
        if rule == "pg":
            return Policy(self.space.columns())
        columns = self.space.columns()
        bounded = {j: p for j, p in enumerate(self.space.params) if isinstance(p, BoundedParam)}
        integers = {j: (p.low, p.high, p.log, p.first, p.last) for j, p in bounded.items() if p.integer}
        numerics = sum(not isinstance(column, int) for column in columns)
        return NaturalPolicy(columns, integers, bounded, initial_scale=self.initial_scale(),
                             separable=numerics > self.separable_above)

    def initial_scale(self) -> float | None:
        """The initial sd of the natural policy's bounded numerics, relative to their column's (None: its
        default)."""
        return SEVERAL_METRICS_INITIAL_SCALE if self.several_metrics else None

    def sample(self, policy: Policy | NaturalPolicy, raw: np.ndarray) -> Sample:
        """``raw`` with its log-probability under ``policy``, the distribution that drew it: it keeps the
        importance weights of later updates exact."""
        return self.samples(policy, raw[None])[0]

    def samples(self, policy: Policy | NaturalPolicy, raw: np.ndarray) -> list[Sample]:
        """``sample`` of each row of ``raw``."""
        if self.rule == "pg":
            return [Sample(row, float(log_prob)) for row, log_prob in zip(raw, policy.log_prob(raw))]
        blocks = policy.block_log_prob(raw)
        return [Sample(row, float(total), row_blocks)
                for row, total, row_blocks in zip(raw, np.nansum(blocks, axis=1), blocks)]

    def next_sample(self, policy: Policy | NaturalPolicy) -> Sample:
        """A sample of ``policy`` to suggest, its untaken branches masked. The natural policy's come
        ``DRAWN_AHEAD`` at a time, drawn and scored at once, until the next update."""
        if policy is not self.policy or self.rule == "pg":  # sharpened (a new policy each time), or one by one
            return self.sample(policy, self.space.mask_inactive(policy.sample(self.rng)))
        if not self.pool:
            self.pool = self.draw(DRAWN_AHEAD)
        return self.pool.pop(0)

    def draw(self, size: int) -> list[Sample]:
        """``size`` samples of the policy; while a rank model is trusted, each the best of ``candidates``
        by it."""
        if self.rank_model is None:
            return self.samples(self.policy, self.space.mask_inactive(self.policy.sample(self.rng, size)))
        candidates = self.space.mask_inactive(self.policy.sample(self.rng, size * self.candidates))
        best = self.rank_model.predict(candidates).reshape(size, self.candidates).argmax(axis=1)
        return self.samples(self.policy, candidates.reshape(size, self.candidates, -1)[np.arange(size), best])

    def sampling_policy(self, progress: float | None, several_metrics: bool) -> Policy | NaturalPolicy:
        """The policy, sharpened over the last part of the budget (``progress``: suggestions made of it,
        None when the budget is unknown; ``several_metrics``: the searcher's, now)."""
        exploit_from = self.options.exploit_from
        if exploit_from is None:
            exploit_from = EXPLOIT_FROM if not several_metrics and self.rule == "pg" else 1.0
        if progress is None or progress < exploit_from or exploit_from >= 1:  # 1: never (past the budget too)
            return self.policy
        ramp = min(1.0, (progress - exploit_from) / max(1e-9, 1.0 - exploit_from))
        return self.policy.tempered(1.0 - ramp * (1.0 - self.options.exploit_temperature))

    # ---- finished trials
    def add(self, entry: Finished, batch_size: int, metrics: list[str], modes: list[str]) -> None:
        """Add a finished trial to the batch; update when the batch is full."""
        if np.isnan(entry.rewards).any():
            self.num_failed += 1
            if self.options.failed_trials == "ignore":
                logger.debug("PGSearcher drops failed trial %s (failed_trials='ignore')", entry.trial_id)
                return
        self.batch.append(entry)
        if self.rung_prior is not None and math.isfinite(entry.level) and entry.level not in self.rung_levels:
            self.rung_levels = sorted([*self.rung_levels, entry.level])  # only the rung-trust ablation reads them
        if self.batch_weight() >= batch_size:
            self.update(batch_size, metrics, modes)

    def batch_weight(self) -> float:
        """The batch in full trials: one cut short at iteration t, when the longest went T, counts t / T.

        With an early-stopping scheduler most trials end at a low rung; counted
        whole, they would trigger many updates on what early rungs reward.
        """
        # level <= T always: T takes every completed trial's iterations first.
        return sum(1.0 if math.isinf(entry.level) else (entry.level / self.full_iterations) ** self.count_cut_power
                   for entry in self.batch)

    def update(self, batch_size: int, metrics: list[str], modes: list[str]) -> None:
        rewards = np.array([entry.rewards for entry in self.batch])  # (n, metrics)
        levels = np.array([entry.level for entry in self.batch])
        raw, scores = np.array([entry.sample.raw for entry in self.batch]), batch_scores(rewards, levels)
        with one_blas_thread(self._sizes[1]):  # the update's small linear algebra, and the evidence's
            self.evidence.add(raw, scores, self.space.active(raw))  # the fresh batch alone (evidence.py)
            if self.rule == "natural":  # it ranks its whole window
                self.natural_update(batch_size)
            else:
                old_log_prob = np.array([entry.sample.log_prob for entry in self.batch])
                self.adam = update(self.policy, self.adam, raw, old_log_prob,
                                   advantages(scores, self.options.advantage), self.options.settings)
            evidence = self.evidence.scores()
        self.pool = []  # drawn from the policy before this update
        self.num_updates += 1
        self.trials_used += len(self.batch)
        failed = np.isnan(rewards).any(axis=1)
        summary = batch_summary(rewards[~failed], metrics, modes)
        row = {
            "update": self.num_updates,
            "trials_used": self.trials_used,
            "batch_size": len(self.batch),
            "failed": int(failed.sum()),
            "stopped_early": int(np.isfinite(levels).sum()),
            **summary,
            "entropy": self.policy.entropy(),
            # The rank model that picks the next suggestions (update="natural"), None while untrusted.
            "rank_model": None if self.rank_model is None else self.rank_model.kind,
            "rank_model_tau": None if self.rank_model is None else self.rank_model.tau,
            **self.space.describe(self.policy.columns()),
            **self.space.describe_evidence(evidence),
            # A tuple (history() shows a list): a row of strings and numbers alone leaves the garbage
            # collector's full passes, which took 45 ms with 400 such rows of 500 parameters, 34 without.
            "trial_ids": tuple(entry.trial_id for entry in self.batch),
        }
        self.history.append(row)
        logger.debug("PGSearcher update %d on %d trials (%d failed, %d cut short): %s",
                     self.num_updates, row["batch_size"], row["failed"], row["stopped_early"], summary)
        self.batch = []

    def natural_update(self, batch_size: int) -> None:
        """One natural-gradient step on the window: this batch and the ones before it, ranked together.
        Then the rank model is refitted to the recent results."""
        recent = self.window + self.batch
        size = max(len(self.batch), NATURAL_WINDOW * batch_size)
        entries = recent[-size:]
        # What the rank model is fitted to next: the update's entries are its last rows.
        self.window = recent[-max(size, self._sizes[0]):]
        rewards, levels, raw = arrays = finished_arrays(self.window)
        n = len(entries)
        scores = batch_scores(rewards[-n:], levels[-n:])
        old = np.array([np.full(1 + len(self.policy.sizes), np.nan) if e.sample.blocks is None
                        else e.sample.blocks for e in entries])
        settings = self.options.settings
        cut = self.rung_prior is not None and any(math.isfinite(e.level) for e in entries)
        trust = rungs.trust(entries, recent, self.rung_prior) if cut else None
        natural_update(self.policy, raw[-n:], old,
                       advantages(scores, self.options.advantage), truncation=self.options.truncation,
                       min_sd=settings.min_sd, max_sd=settings.max_sd, fresh=len(self.batch) / n,
                       trust=trust, rng=self.rng)
        self.rank_model = self.fit_rank_model(arrays)

    def fit_rank_model(self, arrays: tuple[np.ndarray, ...] | None = None) -> surrogate.RankModel | None:
        """The rank model of the recent results (their ``finished_arrays``, if known) under the current policy, if it
        orders them (else None)."""
        if self.rule != "natural" or not self.window or self.candidates < 2:
            return None
        rewards, levels, raw = finished_arrays(self.window) if arrays is None else arrays
        model = surrogate.fit(surrogate.Layout.of(self.policy.columns()), raw, batch_scores(rewards, levels))
        return model if model is not None and model.trusted(self.min_tau_z) else None


def auto_batch_size(rule: str, in_flight: int, asha: bool = False) -> int:
    """Full trials' training per update when the user set none, ``in_flight`` trials at once (``asha``: under ASHA)."""
    if rule == "natural":
        return max(NATURAL_MIN_CUT_BATCH if asha else NATURAL_MIN_BATCH, math.ceil(NATURAL_BATCH_FRACTION * in_flight))
    return max(MIN_AUTO_BATCH, math.ceil(AUTO_BATCH_FRACTION * in_flight))
