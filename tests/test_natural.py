"""The natural-gradient policy (ray_pg/natural.py): its updates in closed form, margins, weights, learning."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from statistics import NormalDist

import numpy as np
import pytest

from ray_pg import PGSearcher
from ray_pg.natural import (_CATEGORY_MARGIN, NaturalPolicy, _sqrt_fisher_times, _update_categorical, _update_gaussian,
                            cma_rates, natural_update, rank_weights, truncated_ratios)
from spaces import SPACES
from test_searcher import drive


def test_imports_no_ray():
    code = "import sys, ray_pg.natural; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rank_weights_are_cmas_and_use_only_the_order():
    adv = np.array([0.3, -1.0, 2.0, 0.1, 5.0, -3.0])
    w = rank_weights(adv)
    expected_by_rank = np.maximum(0, np.log(3.5) - np.log(np.arange(1, 7)))
    expected_by_rank /= expected_by_rank.sum()
    ranks = np.array([3, 5, 2, 4, 1, 6])  # 1 = the best advantage
    np.testing.assert_allclose(w, expected_by_rank[ranks - 1])
    np.testing.assert_allclose(rank_weights(np.exp(adv)), w)  # monotone transform: same weights
    tied = rank_weights(np.array([1.0, 1.0, 0.0, 0.0]))
    assert tied[0] == tied[1] > 0 and tied[2] == tied[3] == 0


@pytest.mark.parametrize("separable, fresh", [(False, 1.0), (False, 0.25), (True, 0.25)])
def test_gaussian_update_matches_cma_closed_form(separable, fresh):
    """Equal weights, ratios 1, fresh paths: mean -> sample mean, cov -> CMA's rank-one + rank-mu formula,
    its rates c1 and c_mu scaled by the share of the samples that are new. Separable: sep-CMA-ES's rates,
    the diagonal of the same formula, and the step-size path from the fresh rows (the last) alone."""
    rng = np.random.default_rng(0)
    dim, n = 3, 12
    policy = NaturalPolicy([(0.5, 0.0), (-0.2, np.log(0.7)), (1.0, np.log(1.3))], separable=separable)
    cov0, mean0, sigma0 = np.diag(policy.variances()), policy.mean.copy(), policy.sigma
    raw = np.array([policy.sample(rng) for _ in range(n)])
    w = np.full(n, 1.0 / n)
    _update_gaussian(policy, raw, w, w.copy(), 0.0, math.inf, fresh, None)
    rates = cma_rates(dim, float(n), separable)  # equal weights: mu_eff = n
    y = (raw - mean0) / sigma0
    ybar = y.mean(axis=0)
    np.testing.assert_allclose(policy.mean, raw.mean(axis=0))
    inv_sqrt = np.diag(1 / np.sqrt(np.diag(cov0)))  # cov0 is diagonal
    path_rows = round(fresh * n) if separable else n
    path_sigma = math.sqrt(rates["cs"] * (2 - rates["cs"]) * path_rows) * inv_sqrt @ y[-path_rows:].mean(axis=0)
    np.testing.assert_allclose(policy.path_sigma, path_sigma)
    norm = np.linalg.norm(path_sigma)
    h = norm / math.sqrt(1 - (1 - rates["cs"]) ** 2) < (1.4 + 2 / (dim + 1)) * rates["chi_n"]
    path_c = h * math.sqrt(rates["cc"] * (2 - rates["cc"]) * n) * ybar
    sample_cov = (y - 0).T @ (y - 0) / n  # the weighted sample covariance about the old mean
    c1, cmu = fresh * rates["c1"], fresh * rates["cmu"]
    delta_h = (1 - h) * rates["cc"] * (2 - rates["cc"])
    expected = (1 + c1 * delta_h - c1 - cmu) * cov0 + c1 * np.outer(path_c, path_c) + cmu * sample_cov
    np.testing.assert_allclose(policy.cov, np.diag(expected) if separable else expected, rtol=1e-10)
    sigma = sigma0 * math.exp(min(1.0, rates["cs"] / rates["ds"] * (norm / rates["chi_n"] - 1)))
    assert policy.sigma == pytest.approx(sigma)


def test_fisher_norm_matches_the_categorical_fisher_matrix():
    """CatCMA's normalisation: |F^(1/2) g|^2 = g^T F g, F = diag(1/q) + 11^T / q_K on the first K-1 coordinates."""
    rng = np.random.default_rng(2)
    sizes, offsets = np.array([4, 3]), np.array([0, 4])
    q = np.concatenate([rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(3))])
    grad = rng.normal(size=7)
    grad[:4] -= grad[:4].mean()
    grad[4:] -= grad[4:].mean()
    s = _sqrt_fisher_times(q, grad, sizes, offsets)
    expected = 0.0
    for off, k in zip(offsets, sizes):
        fisher = np.diag(1 / q[off:off + k - 1]) + np.ones((k - 1, k - 1)) / q[off + k - 1]
        g = grad[off:off + k - 1]
        expected += g @ fisher @ g
    assert s @ s == pytest.approx(expected)


def test_categorical_update_is_the_asng_step():
    """q + eps * sum_i w_i (onehot_i - q), eps = delta / |F^(1/2) grad| (margin not binding here)."""
    policy = NaturalPolicy([5])
    raw = np.array([[0.0], [0.0], [1.0], [3.0], [4.0]])
    w = np.array([0.5, 0.3, 0.2, 0.0, 0.0])
    q0 = policy.q.copy()
    onehot = np.eye(5)[raw[:, 0].astype(int)]
    grad = (w[:, None] * (onehot - q0)).sum(axis=0)
    fisher = np.diag(1 / q0[:4]) + np.ones((4, 4)) / q0[4]
    # delta = 1 / max(2.5, sqrt(K - 1)) at first
    eps = (1 / max(2.5, math.sqrt(4))) / (math.sqrt(grad[:4] @ fisher @ grad[:4]) + 1e-8)
    _update_categorical(policy, raw, w, np.ones((5, 1)))
    np.testing.assert_allclose(policy.q, q0 + eps * grad, rtol=1e-9)
    assert policy.q.sum() == pytest.approx(1.0)


def test_category_margin_keeps_every_probability_above_its_floor():
    rng = np.random.default_rng(3)
    policy = NaturalPolicy([6, 2, (0.0, 0.0)])
    alpha = (1 - 0.73 ** (1 / 2)) * _CATEGORY_MARGIN  # two discrete variables; CatCMAwM's floors, scaled
    for _ in range(200):  # always reward category 0 of each: probabilities pile onto it
        raw = np.array([policy.sample(rng) for _ in range(8)])
        natural_update(policy, raw, None, -1.0 * (raw[:, 0] != 0) - 1.0 * (raw[:, 1] != 0) + 0.01 * rng.random(8))
    q6, q2 = policy.q[:6], policy.q[6:]
    assert q6[0] > 0.7 and q2[0] > 0.7
    assert q6.min() == pytest.approx(alpha / 5) and q2.min() == pytest.approx(alpha / 1)  # at the floor, not below
    assert q6.sum() == pytest.approx(1) and q2.sum() == pytest.approx(1)


def test_integer_margin_keeps_the_neighbouring_integer_reachable():
    """randint(0, 10) as z: after converging, the nearer neighbouring bin keeps probability >= alpha / 2."""
    rng = np.random.default_rng(4)
    policy = NaturalPolicy([(0.0, np.log(1.7)), (0.0, np.log(1.7))], integers={0: (0.0, 10.0, False, 0, 9)})
    alpha = 1 - 0.73 ** (1 / 1)
    for _ in range(150):  # minimise |value - 4.5| on the integer and x^2 on the other: collapses on bin 4
        raw = np.array([policy.sample(rng) for _ in range(8)])
        value = np.clip(np.floor(10 / (1 + np.exp(-raw[:, 0]))), 0, 9)
        natural_update(policy, raw, None, -np.abs(value - 4) - raw[:, 1] ** 2, min_sd=1e-6)
    lower, upper = policy.integer_edges()
    mean, sd = policy.columns()[0]
    inner = sd / policy.margin[0]
    assert inner < 0.05  # the Gaussian itself has converged ...
    beyond = NormalDist(mean, sd)
    neighbour = max(beyond.cdf(lower[0]), 1 - beyond.cdf(upper[0]))
    assert neighbour >= alpha / 2 - 1e-9  # ... but the margin keeps a neighbour reachable
    assert policy.columns()[1][1] < 0.05  # the continuous column has no margin


def test_integer_margin_at_the_end_of_the_range_keeps_the_mass_on_the_neighbour():
    """randint(0, 5), the best value its last: the mean stays by the last bin's edge, and what the margin keeps
    beyond that edge goes to the neighbouring value, not to the far end (widening there grew the mean and sd
    without end, and the sigmoid sent 0.13 of the draws to 0, the worst value)."""
    rng = np.random.default_rng(8)
    policy = NaturalPolicy([(0.0, np.log(1.7)), (0.0, np.log(1.7))], integers={0: (0.0, 5.0, False, 0, 4)})
    alpha = 1 - 0.73 ** (1 / 1)

    def values(raw: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(5 / (1 + np.exp(-raw[:, 0]))), 0, 4)

    for _ in range(150):  # maximise the integer; x^2 on the other column
        raw = policy.sample(rng, 8)
        natural_update(policy, raw, None, values(raw) - raw[:, 1] ** 2, rng=rng)
    lower, _ = policy.integer_edges()
    mean, sd = policy.columns()[0]
    assert policy.margin[0] == pytest.approx(1.0) and lower[0] < mean <= lower[0] + NormalDist().inv_cdf(1 - alpha / 2) * sd + 1e-9
    share = np.bincount(values(policy.sample(rng, 20_000)).astype(int), minlength=5) / 20_000
    assert share[4] > 0.7 and share[3] >= alpha / 2 - 0.01  # at least alpha / 2 beyond the edge, as CatCMAwM keeps,
    assert share[:3].sum() < 0.01  # and on the neighbour


def test_truncated_ratios():
    new = np.log(np.array([[0.5, 0.2], [0.1, np.nan]]))
    old = np.log(np.array([[0.25, 0.4], [0.1, 0.3]]))
    np.testing.assert_allclose(truncated_ratios(new, old, 1.0)[:, 0], [1.0, 1.0])
    np.testing.assert_allclose(truncated_ratios(new, old, 1.5)[0], [1.5, 0.5])
    assert truncated_ratios(np.zeros((1, 1)), np.full((1, 1), np.nan), 1.0)[0, 0] == 1.0


def test_stale_samples_count_less_and_fresh_ones_fully():
    rng = np.random.default_rng(5)
    policy = NaturalPolicy([3, (0.0, 0.0), (0.0, 0.0)])
    raw = np.array([policy.sample(rng) for _ in range(10)])
    adv = rng.normal(size=10)
    fresh = natural_update(NaturalPolicy([3, (0.0, 0.0), (0.0, 0.0)]), raw, policy.block_log_prob(raw), adv)
    assert fresh["gaussian_share"] == pytest.approx(1) and fresh["categorical_share"] == pytest.approx(1)
    stale_old = policy.block_log_prob(raw) + 3.0  # drawn where they were far likelier: ratio e^-3
    stale = natural_update(NaturalPolicy([3, (0.0, 0.0), (0.0, 0.0)]), raw, stale_old, adv)
    assert stale["gaussian_share"] == pytest.approx(math.exp(-3)) and stale["categorical_share"] < 0.1


def test_actors_not_drawn_are_not_moved():
    rng = np.random.default_rng(6)
    policy = NaturalPolicy([3, 2, (0.3, 0.0), (-0.5, 0.0)])
    raw = np.array([policy.sample(rng) for _ in range(8)])
    raw[:, 1] = np.nan  # the 2-way categorical: not drawn by any sample
    raw[:, 3] = np.nan  # the second Gaussian: not drawn by any sample
    q2, mean = policy.q[3:].copy(), policy.mean[1]
    natural_update(policy, raw, None, rng.normal(size=8), rng=rng)
    np.testing.assert_array_equal(policy.q[3:], q2)
    assert policy.mean[1] == mean and policy.mean[0] != 0.3
    assert not np.allclose(policy.q[:3], 1 / 3)
    assert np.isfinite(policy.log_prob(raw)).all()


def test_block_log_prob_is_the_marginal_density():
    rng = np.random.default_rng(7)
    policy = NaturalPolicy([(0.0, 0.0), 2, (1.0, 0.0)])
    policy.sigma, policy.cov = 1.0, np.array([[1.0, 0.6], [0.6, 2.0]])
    raw = np.array([[0.3, 1.0, np.nan], [0.3, np.nan, 2.0]])
    blocks = policy.block_log_prob(raw)
    assert blocks[0, 0] == pytest.approx(math.log(NormalDist(0, 1).pdf(0.3)))
    assert blocks[0, 1] == pytest.approx(math.log(0.5)) and np.isnan(blocks[1, 1])
    diff = np.array([0.3, 1.0])
    joint = -0.5 * diff @ np.linalg.solve(policy.cov, diff) - 0.5 * np.log(np.linalg.det(2 * np.pi * policy.cov))
    assert blocks[1, 0] == pytest.approx(joint)
    draws = np.array([policy.sample(rng) for _ in range(20000)])
    np.testing.assert_allclose(np.cov(draws[:, [0, 2]].T), policy.cov, atol=0.06)



def test_a_separable_policy_samples_and_scores_its_diagonal_gaussian():
    rng = np.random.default_rng(7)
    policy = NaturalPolicy([(0.0, 0.0), 2, (1.0, np.log(2.0)), (-1.0, 0.0)], separable=True)
    # q 2, mean 3, sigma, cov 3 (not 9), two paths and the margin 3 each, generation, ASNG's path 1, gamma, trust
    assert policy.cov.shape == (3,) and policy.params.size == 2 + 3 + 1 + 3 + 3 * 3 + 1 + 1 + 2
    raw = np.array([[0.3, 1.0, np.nan, 0.0], [0.3, np.nan, 2.0, np.nan], [np.nan, 0.0, np.nan, np.nan]])
    blocks = policy.block_log_prob(raw)
    assert blocks[0, 0] == pytest.approx(math.log(NormalDist(0, 1).pdf(0.3) * NormalDist(-1, 1).pdf(0.0)))
    assert blocks[1, 0] == pytest.approx(math.log(NormalDist(0, 1).pdf(0.3) * NormalDist(1, 2).pdf(2.0)))
    assert np.isnan(blocks[2, 0]) and blocks[2, 1] == pytest.approx(math.log(0.5))
    draws = policy.sample(rng, 20000)[:, [0, 2, 3]]
    np.testing.assert_allclose(draws.mean(axis=0), [0.0, 1.0, -1.0], atol=0.05)
    np.testing.assert_allclose(np.cov(draws.T), np.diag([1.0, 4.0, 1.0]), atol=0.1)
    full = NaturalPolicy([(0.0, 0.0), 2, (1.0, np.log(2.0)), (-1.0, 0.0)])
    assert policy.entropy() == pytest.approx(full.entropy())
    assert policy.columns()[2] == full.columns()[2] == (1.0, 2.0)


def test_a_separable_update_is_the_full_updates_diagonal_at_sep_cmas_rates(monkeypatch):
    """From a diagonal covariance, the full update with sep-CMA-ES's rates has the separable update's
    mean, step size and paths, and its diagonal is the separable covariance; undrawn columns included.
    Every row fresh: with older rows in the window the separable path learns from the fresh ones alone."""
    from ray_pg import natural

    columns = [(0.5, 0.0), (-0.2, np.log(0.7)), 3, (1.0, np.log(1.3)), (0.0, 0.0)]
    rng = np.random.default_rng(3)
    separable, full = NaturalPolicy(columns, separable=True), NaturalPolicy(columns)
    raw = separable.sample(rng, 12)
    raw[:4, 4] = np.nan  # a column some samples did not draw
    adv = -np.nansum(raw**2, axis=1)
    natural_update(separable, raw, None, adv, rng=np.random.default_rng(0))
    sep_rates, fill = natural.cma_rates, natural._fill_undrawn
    monkeypatch.setattr(natural, "cma_rates", lambda dim, mu_eff, separable=False: sep_rates(dim, mu_eff, True))
    # A diagonal covariance's conditional is its marginal: the same draws for the undrawn column.
    monkeypatch.setattr(natural, "_fill_undrawn", lambda y, cov, rng_: fill(y, np.diag(cov), rng_))
    natural_update(full, raw, None, adv, rng=np.random.default_rng(0))
    for name in ("mean", "sigma", "path_sigma", "path_c", "q"):
        np.testing.assert_allclose(getattr(separable, name), getattr(full, name), rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(separable.cov, np.diag(full.cov), rtol=1e-12)
    rates = sep_rates(4, 3.0, True)
    assert rates["cmu"] == pytest.approx(min(1 - rates["c1"], 2 * cma_rates(4, 3.0)["cmu"]))  # (4 + 2) / 3


def test_a_separable_path_learns_from_the_fresh_rows_alone():
    """The window's older rows (the first) move the mean but not the step-size path: each result feeds it once."""
    rng = np.random.default_rng(5)
    policies = [NaturalPolicy([(0.0, 0.0)] * 6, separable=True) for _ in range(2)]
    raw = policies[0].sample(rng, 16)
    adv = rng.normal(size=16)
    other = raw.copy()
    other[:12] = policies[0].sample(rng, 12)  # other older rows, ranked the same
    for policy, window in zip(policies, (raw, other)):
        natural_update(policy, window, None, adv, fresh=0.25)
    assert np.abs(policies[0].path_sigma).max() > 0  # the fresh rows were learnt from
    np.testing.assert_array_equal(policies[0].path_sigma, policies[1].path_sigma)
    assert policies[0].sigma == policies[1].sigma
    assert not np.allclose(policies[0].mean, policies[1].mean)


@pytest.mark.parametrize("case, value", [("a zero variance", 0.0), ("a negative variance", -1.0),
                                         ("an infinite variance", np.inf)])
def test_a_separable_checkpoint_needs_positive_variances(case, value):
    policy = NaturalPolicy([(0.0, 0.0), 2, (1.0, 0.0)], separable=True)
    params = policy.params
    params[len(policy.q) + 2 + 1] = value  # cov[0]
    with pytest.raises(ValueError, match="'cov'.*positive variances" if np.isfinite(value) else "'cov'"):
        policy.params = params


def test_seeds_reproduce():
    def run(seed):
        rng = np.random.default_rng(seed)
        policy = NaturalPolicy([4, (0.0, 0.5), (0.0, 0.5)], integers={1: (1.0, 6.0, False, 1, 5)})
        for _ in range(10):
            raw = np.array([policy.sample(rng) for _ in range(8)])
            natural_update(policy, raw, policy.block_log_prob(raw), -np.nansum(raw**2, axis=1))
        return policy.params

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def _optimise(objective, columns, budget, seed, batch=8):
    rng = np.random.default_rng(seed)
    policy = NaturalPolicy(columns)
    best = math.inf
    for _ in range(budget // batch):
        raw = np.array([policy.sample(rng) for _ in range(batch)])
        values = np.array([objective(r) for r in raw])
        best = min(best, values.min())
        natural_update(policy, raw, policy.block_log_prob(raw), -values, min_sd=1e-8)
    return best


def _random(objective, columns, budget, seed):
    rng = np.random.default_rng(seed)
    return min(objective(np.array([rng.integers(c) if isinstance(c, int) else rng.normal(c[0], np.exp(c[1]))
                                   for c in columns])) for _ in range(budget))


def test_learns_a_rotated_ellipsoid_with_a_categorical():
    dim = 6
    rotation = np.linalg.qr(np.random.default_rng(8).normal(size=(dim, dim)))[0]
    hessian = rotation @ np.diag(10.0 ** np.linspace(0, 2, dim)) @ rotation.T

    def objective(raw):
        x = raw[:dim] - 0.5
        return float(x @ hessian @ x) + (0.0 if raw[dim] == 1 else 3.0)

    columns = [(0.0, 0.0)] * dim + [3]
    natural = np.median([_optimise(objective, columns, 400, seed) for seed in range(5)])
    random = np.median([_random(objective, columns, 400, seed) for seed in range(5)])
    assert natural < 0.1 * random and natural < 1.0  # the categorical found (else >= 3)


def test_learns_branin():
    def objective(raw):
        x1, x2 = -5 + 15 / (1 + np.exp(-raw[0])), 15 / (1 + np.exp(-raw[1]))
        b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
        return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10 - 5 / (4 * np.pi)

    columns = [(0.0, np.log(1.7))] * 2
    natural = np.median([_optimise(objective, columns, 200, seed) for seed in range(7)])
    random = np.median([_random(objective, columns, 200, seed) for seed in range(7)])
    assert natural < 0.01 < random


@pytest.mark.parametrize("name", ["mixed", "nested", "conditional"])
def test_natural_searcher_state_round_trip_gives_identical_suggestions(tmp_path, name):
    space = SPACES[name]
    original = PGSearcher(space, metric="loss", mode="min", seed=3, batch_size=8, update="natural")
    drive(original, space, 37, seed=4, in_flight=3, bad=False)
    assert original.num_updates >= 3
    assert len(original.get_state()["window"]) == 4 * 8  # the last 4 batches are learnt from again
    for tid in ("p1", "p2", "p3"):
        original.suggest(tid)
    original.save(str(tmp_path / "state.json"))
    restored = PGSearcher(metric="loss", mode="min", batch_size=8, update="natural")  # batch_size is not state
    restored.set_search_properties(None, None, space)
    restored.restore(str(tmp_path / "state.json"))
    assert json.loads(json.dumps(original.get_state())) == json.loads(json.dumps(restored.get_state()))
    for searcher in (original, restored):
        for k, tid in enumerate(("p1", "p2", "p3")):
            searcher.on_trial_complete(tid, result={"loss": float(k)})
    assert drive(original, space, 40, seed=5) == drive(restored, space, 40, seed=5)
    assert original.get_state() == restored.get_state()
    plain = PGSearcher(metric="loss", mode="min", update="pg")
    plain.set_search_properties(None, None, space)
    with pytest.raises(ValueError, match="restore it into PGSearcher\\(update='natural'\\)"):
        plain.restore(str(tmp_path / "state.json"))


def test_update_argument_is_checked():
    with pytest.raises(ValueError, match="update="):
        PGSearcher(update="adam")
    with pytest.raises(ValueError, match="truncation="):
        PGSearcher(update="natural", truncation=0.0)


def test_category_step_stays_bounded_when_the_same_results_come_back():
    """The same batch again and again (a window reuses results): the ASNG step never exceeds 1."""
    rng = np.random.default_rng(9)
    policy = NaturalPolicy([100, 3])  # many categories: the step grew until beta > 2 (a math domain error)
    raw = np.array([policy.sample(rng) for _ in range(16)])
    adv = -np.abs(raw[:, 0] - 1) - raw[:, 1]
    for _ in range(300):
        natural_update(policy, raw, None, adv)
        assert policy.cat_trust >= 1.0 and np.isfinite(policy.q).all()


@pytest.mark.slow
def test_natural_searcher_in_a_real_tuner(tmp_path, local_ray):
    """Real Tune, 2 trials in flight: valid configs, updates every 4 results, a checkpoint that restores."""
    from ray import tune

    import trainables
    from spaces import assert_valid

    searcher = PGSearcher(update="natural", seed=0)
    tuner = tune.Tuner(trainables.one_shot, param_space=trainables.SPACE,
                       tune_config=tune.TuneConfig(search_alg=searcher, metric="loss", mode="min", num_samples=20,
                                                   max_concurrent_trials=2),
                       run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
    df = tuner.fit().get_dataframe()
    assert len(df) == 20 and searcher.num_updates == 4  # the automatic batch: 5 results
    for _, row in df.iterrows():
        config = {c[len("config/"):]: row[c] for c in df.columns if c.startswith("config/")}
        assert_valid(trainables.SPACE, {**config, "lr": float(config["lr"]), "dropout": float(config["dropout"]),
                                        "layers": int(config["layers"]), "epochs": int(config["epochs"])})
    searcher.save(str(tmp_path / "natural.json"))
    restored = PGSearcher(update="natural")
    restored.restore(str(tmp_path / "natural.json"))
    assert restored.get_state() == searcher.get_state()


def test_corrupted_natural_policy_in_a_checkpoint_is_refused(tmp_path):
    space = SPACES["mixed"]
    searcher = PGSearcher(space, metric="loss", mode="min", seed=1, update="natural")
    drive(searcher, space, 20, seed=2, bad=False)
    state = json.loads(json.dumps(searcher.get_state()))
    before = searcher.get_state()
    policy = NaturalPolicy(searcher._space.columns())
    sizes = {"q": len(policy.q), "mean": policy.dim, "sigma": 1}
    bad_sigma = list(state["policy"])
    bad_sigma[sizes["q"] + sizes["mean"]] = -1.0  # sigma < 0
    bad_cov = list(state["policy"])
    bad_cov[sizes["q"] + sizes["mean"] + 1] = -5.0  # a negative variance
    for bad in (bad_sigma, bad_cov):
        with pytest.raises(ValueError, match="checkpoint field 'policy'"):
            searcher.set_state({**state, "policy": bad})
        assert searcher.get_state() == before


def test_a_policy_can_suggest_its_first_draws_narrower_and_learn_from_them_at_full_spread(monkeypatch):
    """With ``first_spread`` (an ablation) a policy suggests its draws before its first update at that
    share of their deviation from the initial mean, and the searcher keeps and learns from the draws
    themselves: on a flat objective the first normalised CSA step averages 1 over seeds (learnt from what was
    suggested, it would average ``first_spread``). The default suggests the policy's own draws."""
    from ray import tune

    import ray_pg.learner
    from experiments.bench.ablation import AblatedSearcher
    from ray_pg.learner import SEPARABLE_ABOVE

    steps: list[float] = []

    def recorded(*args, **kwargs):
        steps.append(natural_update(*args, **kwargs)["csa_step"])
        return {}

    monkeypatch.setattr(ray_pg.learner, "natural_update", recorded)
    space = {f"x{i}": tune.uniform(-1.0, 1.0) for i in range(SEPARABLE_ABOVE + 5)} | {"c": tune.choice(["a", "b"])}
    for seed in range(40):
        searcher = AblatedSearcher(space=space, metric="loss", mode="min", seed=seed, first_spread=0.5)
        ids = [f"t{i}" for i in range(5)]
        configs = [searcher.suggest(tid) for tid in ids]
        drawn = np.array([searcher._pending[tid].raw for tid in ids])
        numeric = searcher._learner.policy._gauss_cols
        narrowed = drawn.copy()
        narrowed[:, numeric] = 0.5 * drawn[:, numeric]  # the initial mean is 0
        assert configs == [searcher._space.decode(row, {}) for row in narrowed]
        assert all(config != searcher._space.decode(row, {}) for config, row in zip(configs, drawn))
        assert max(abs(c["x0"]) for c in configs) < 1.0
        noise = np.random.default_rng(seed)
        for tid in ids:
            searcher.on_trial_complete(tid, {"loss": noise.normal()})
        assert searcher.num_updates == 1
        later = searcher.suggest("later")  # after the first update: the policy's own draws
        assert later == searcher._space.decode(searcher._pending["later"].raw, {})
    assert np.mean(steps) == pytest.approx(1.0, abs=0.12), np.mean(steps)
    # A full-covariance policy too, here for its first suggestion alone (first_spread_suggestions).
    narrow = {f"x{i}": tune.uniform(-1.0, 1.0) for i in range(SEPARABLE_ABOVE)}
    full = AblatedSearcher(space=narrow, metric="loss", mode="min", seed=0, first_spread=0.5,
                           first_spread_suggestions=1)
    first, second = full.suggest("t0"), full.suggest("t1")
    drawn = full._pending["t0"].raw
    assert full._learner.policy.separable is False
    assert first == full._space.decode(0.5 * drawn, {}) != full._space.decode(drawn, {})
    assert second == full._space.decode(full._pending["t1"].raw, {})
    default = PGSearcher(space, metric="loss", mode="min", seed=0)
    assert default.suggest("t0") == default._space.decode(default._pending["t0"].raw, {})
