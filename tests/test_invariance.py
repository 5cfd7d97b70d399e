"""The natural update learns nothing it was not shown (DESIGN.md, "Principles the update must keep").

On a flat objective (every reward i.i.d. noise) over many fixed seeds: CSA's
normalised step has expectation 1, categorical probabilities stay near uniform,
numeric sds do not drift, columns no sample drew keep their distribution, and
a rank model of noise is rarely trusted; on a real signal, one batch does not
settle a choice. Every test failed on the update of 2026-12-02.

Those marked ``KNOWN_BIAS`` still fail (strict xfail: fixing them makes them
fail until the mark goes). Their cause is the window of 4 batches, which learns
from each result about four times, and the rank model's picks learnt from as
policy draws. (A third, ASNG's first step of length 1, is fixed: its test
passes.) Two updates that pass them were built and measured (commits d535e0f
and c986e23 in this repository's history): they lose 1 to 1.5 mean ranks to the window on our suite and on the noisy
suite at every checkpoint (10 seeds, 8 workers), so they are not the default.
Issue 21 stays open on them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from ray import tune

import ray_pg.learner
from experiments.bench.ablation import AblatedSearcher
from ray_pg import PGSearcher
from ray_pg.natural import NaturalPolicy, natural_update, rank_weights
from test_searcher import drive

CHOICES = {f"c{i}": tune.choice(["a", "b", "c", "d"]) for i in range(3)}
NUMERICS = {f"x{i}": tune.uniform(-1.0, 1.0) for i in range(5)}
CONDITIONAL = {"top": tune.uniform(0.0, 1.0),
               "branch": tune.choice([{"kind": "left", **{f"l{i}": tune.uniform(0.0, 1.0) for i in range(3)}},
                                      {"kind": "right", **{f"r{i}": tune.uniform(0.0, 1.0) for i in range(3)}}])}


KNOWN_BIAS = pytest.mark.xfail(strict=True, reason="issue 21: the window and the rank model's picks; the "
                                "unbiased updates (d535e0f, c986e23) lose 1-1.5 mean ranks on our suites")


def run(space: dict, seed: int, reward, trials: int = 240, in_flight: int = 8, candidates: int | None = None,
        min_tau_z: float | None = None, **kwargs) -> PGSearcher:
    """``trials`` trials, ``in_flight`` at a time, completed in random order with ``reward(config, rng)`` (higher
    is better). ``candidates`` and ``min_tau_z``: the rank model's knobs (1 candidate: no model; see
    experiments/bench/ablation.py)."""
    knobs = {"candidates": candidates, "min_tau_z": min_tau_z}
    searcher = AblatedSearcher(space=space, metric="loss", mode="min", seed=seed,
                               **{key: value for key, value in knobs.items() if value is not None}, **kwargs)
    rng = np.random.default_rng([seed, 7])
    drive(searcher, space, trials, seed, in_flight=in_flight, bad=False, score=lambda config: -reward(config, rng))
    return searcher


def noise(config: dict, rng: np.random.Generator) -> float:
    return rng.normal()


@pytest.fixture
def csa_steps(monkeypatch) -> list[float]:
    """Every natural update's normalised CSA step, as the searcher makes them."""
    steps: list[float] = []

    def recorded(*args, **kwargs):
        info = natural_update(*args, **kwargs)
        steps.append(info["csa_step"])
        return info

    monkeypatch.setattr(ray_pg.learner, "natural_update", recorded)
    return steps


def sds(searcher: PGSearcher) -> np.ndarray:
    return np.array([sd for column in searcher._learner.policy.columns() if isinstance(column, tuple)
                     for sd in column[1:]])


@KNOWN_BIAS
@pytest.mark.parametrize("space", [NUMERICS, CONDITIONAL], ids=["numerics", "conditional"])
def test_flat_objective_csa_step_has_expectation_one(space, csa_steps):
    """E ||sqrt(mu_eff) C^-1/2 step|| = E ||N(0, I)|| under random selection: sigma neither falls nor rises."""
    start = sds(PGSearcher(space, metric="r", mode="max"))
    drift = [np.log(sds(run(space, seed, noise, candidates=1)) / start).mean() for seed in range(20)]
    assert np.nanmean(csa_steps) == pytest.approx(1.0, abs=0.04), np.nanmean(csa_steps)
    # Log sds are random walks around where they started (2026-12-02's update: -1.8 and -2.1).
    assert abs(np.mean(drift)) < 0.3, drift


def test_flat_objective_separable_csa_step_has_expectation_one(csa_steps):
    """A separable policy's step-size path learns from each result once (the window's fresh rows), so on a
    flat objective its normalised step averages 1. Taken from the whole window it averaged 0.68, and on
    bbob-mixint's sphere in 160 dimensions successive alike steps grew sigma tenfold."""
    for seed in range(20):
        run(NUMERICS, seed, noise, candidates=1, separable_above=0)
    assert np.nanmean(csa_steps) == pytest.approx(1.0, abs=0.06), np.nanmean(csa_steps)


@KNOWN_BIAS
def test_flat_objective_keeps_categoricals_near_uniform():
    """Three 4-way choices, 200 trials, 20 seeds: each choice's top probability stays far below 1."""
    top = [max(column) for seed in range(20)
           for column in run(CHOICES, seed, noise, trials=200, candidates=1)._learner.policy.columns()]
    # 2026-12-02's update: 0.93 (the margin's cap); with a window of 1, 0.60; uniform is 0.25. ASNG's
    # steps have a fixed length in the Fisher norm, so 40 updates on noise are a random walk that its
    # signal-to-noise adaptation only slowly shortens: about 0.5.
    assert np.mean(top) < 0.55, np.mean(top)


def test_columns_no_sample_drew_keep_their_distribution():
    """A batch that never drew the right branch moves the left one and sigma, but not the right's marginals."""
    rng = np.random.default_rng(0)
    policy = NaturalPolicy([2, (0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)])  # branch, left x2, right x2
    before = policy.columns()
    for _ in range(10):
        raw = policy.sample(rng, 12)
        raw[:, 0], raw[:, 3:] = 0, np.nan  # every sample chose the left branch
        natural_update(policy, raw, None, rank_weights(-np.sum(raw[:, 1:3] ** 2, axis=1)), rng=rng)
    after = policy.columns()
    assert after[1][1] < 0.5 * before[1][1]  # the left branch learnt
    for j in (3, 4):
        assert after[j] == pytest.approx(before[j], rel=1e-9)


@KNOWN_BIAS
def test_branch_with_few_trials_keeps_its_spread_under_noise():
    """Flat objective, conditional space: every column's sd ends near its start (today: 0.11-0.12 of it)."""
    start = sds(PGSearcher(CONDITIONAL, metric="r", mode="max"))
    ratios = np.array([sds(run(CONDITIONAL, seed, noise, candidates=1)) / start for seed in range(20)])
    assert np.exp(np.log(ratios).mean(axis=0)).min() > 0.6, np.exp(np.log(ratios).mean(axis=0))


@pytest.mark.xfail(strict=True, reason="issue 21: CMA-ES's one step size shrinks every coordinate as the relevant "
                                       "ones converge; spreads held without evidence lose on our suites "
                                       "(natural_ablation.md, section 10)")
def test_coordinate_the_metric_ignores_keeps_its_spread():
    """A noise-free 2-D sphere and a third coordinate the metric ignores: nothing shows that the third matters,
    so it should keep its spread (today it falls to the sd floor with the other two, 0.07 of its start, in
    every seed: on a real task an edge it was never shown to matter at is never explored)."""
    space = {"a": tune.uniform(0.0, 1.0), "b": tune.uniform(0.0, 1.0), "ignored": tune.uniform(0.0, 1.0)}

    def reward(config, rng):
        return -((config["a"] - 0.3) ** 2 + (config["b"] - 0.7) ** 2)

    start = sds(PGSearcher(space, metric="r", mode="max"))[2]
    ratios = np.array([sds(run(space, seed, reward, trials=200))[2] / start for seed in range(10)])
    assert np.exp(np.log(ratios).mean()) > 0.5, ratios


def test_two_way_choice_is_not_decided_by_one_batch():
    """sgd worse than adam by a noisy margin: the first update leans, it does not decide; later ones learn."""
    space = {"opt": tune.choice(["sgd", "adam"]), "x": tune.uniform(0.0, 1.0)}

    def reward(config, rng):
        return (config["opt"] == "adam") + rng.normal(scale=1.0)

    first, last = [], []
    for seed in range(40):
        searcher = run(space, seed, reward, trials=5, in_flight=5, batch_size=5)
        first.append(searcher._learner.policy.columns()[0][1])
        last.append(run(space, seed, reward, trials=160, batch_size=5)._learner.policy.columns()[0][1])
    # One batch moves it by at most 0.2 (2026-12-02: to 0.036 or 0.964), mostly towards adam (33 of 40).
    assert np.max(np.abs(np.array(first) - 0.5)) <= 0.2 + 1e-6, first
    assert np.mean(np.array(first) > 0.5) >= 0.7, first
    assert np.mean(np.array(last) > 0.5) >= 0.85, last


def test_rank_model_of_noise_is_rarely_trusted():
    """A model fitted to pure noise: the significance gate trusts it in far fewer updates than tau >= 0 did."""
    def trusted(min_tau_z):
        return np.mean([t for seed in range(10) for t in
                        run({**NUMERICS, **CHOICES}, seed, noise, min_tau_z=min_tau_z).history()["rank_model"].notna()])

    # tau >= 0 (the gate until 2026-12-02): 35% of updates; 1 null sd: 13%; 2 null sds (4%) would pass the
    # 10% the issue asks for, but switched real models off too (our suite: +0.5 mean rank).
    gate, before = trusted(None), trusted(0.0)
    assert gate < 0.2 and gate < 0.5 * before, (gate, before)


@KNOWN_BIAS
def test_rank_model_picks_do_not_bias_the_update(csa_steps):
    """The model always on (any tau), flat objective: CSA's step and the categoricals stay unbiased."""
    space = {**NUMERICS, **CHOICES}
    searchers = [run(space, seed, noise, min_tau_z=-math.inf) for seed in range(20)]
    assert all(s.history()["rank_model"].notna().mean() > 0.9 for s in searchers)
    assert np.nanmean(csa_steps) == pytest.approx(1.0, abs=0.04), np.nanmean(csa_steps)
    top = [max(c) for s in searchers for c in s._learner.policy.columns() if not isinstance(c, tuple)]
    assert np.mean(top) < 0.55, np.mean(top)  # 2026-12-02: pulled towards whatever the model picked
