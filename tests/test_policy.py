from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ray_pg.policy import Adam, Policy, UpdateSettings, advantages, ppo_gradient, ppo_objective, update
from test_actors import numeric_grad


def make_policy():
    """Columns: a 3-way categorical, a Gaussian, a 2-way categorical, a Gaussian."""
    policy = Policy([3, (0.3, np.log(1.2)), 2, (-1.0, np.log(0.7))])
    policy.params = policy.params + np.random.default_rng(9).normal(0, 0.5, policy.params.size)
    policy.clamp_sd(0.1, 2.0)
    return policy


@pytest.mark.parametrize("with_inactive", [False, True])
def test_ppo_gradient_matches_finite_differences(with_inactive):
    rng = np.random.default_rng(0)
    policy = make_policy()
    raw = np.array([policy.sample(rng) for _ in range(12)])
    if with_inactive:  # actors of branches not chosen: NaN, as a conditional space leaves them
        raw[rng.random(raw.shape) < 0.3] = np.nan
    # Samples drawn under a slightly different policy: ratios differ from 1, some clip.
    old = policy.log_prob(raw) + rng.normal(0, 0.3, len(raw))
    adv = rng.normal(size=len(raw))
    ratio = np.exp(policy.log_prob(raw) - old)
    assert ((ratio > 1.2) | (ratio < 0.8)).any() and ((ratio < 1.2) & (ratio > 0.8)).any()
    # Keep away from the clip's kinks, where the derivative is undefined.
    assert np.abs(np.abs(ratio - 1) - 0.2).min() > 1e-3

    def objective(params):
        policy.params = params
        return ppo_objective(policy, raw, old, adv, 0.2, 0.05)

    params = policy.params
    expected = numeric_grad(objective, params)
    policy.params = params
    np.testing.assert_allclose(ppo_gradient(policy, raw, old, adv, 0.2, 0.05), expected, atol=1e-6)


def test_actors_not_drawn_get_no_gradient_and_no_probability():
    rng = np.random.default_rng(2)
    policy = make_policy()
    raw = np.array([policy.sample(rng) for _ in range(8)])
    raw[:, 1] = np.nan  # the first Gaussian was drawn in no sample
    raw[:4, 2] = np.nan  # the 2-way categorical only in the last four
    grad = ppo_gradient(policy, raw, policy.log_prob(raw), rng.normal(size=8), 0.2, 0.0)
    # Flat parameters: logits (3 + 2), Gaussian means (2), log sds (2).
    assert grad.shape == (9,)
    assert grad[5] == 0 and grad[7] == 0  # mean and log sd of the first Gaussian
    assert np.abs(grad[3:5]).min() > 0  # the 2-way categorical learns from the last four
    # A sample's log-probability leaves out the actors it did not draw.
    at_mean = np.where(np.isnan(raw), 0.0, raw)
    at_mean[:, 1] = policy.gaussians.mean[0]
    at_mean[:4, 2] = 0
    left_out = (-policy.gaussians.log_sd[0] - 0.5 * np.log(2 * np.pi)
                + np.r_[[policy.categoricals.log_probs()[3]] * 4, [0.0] * 4])
    np.testing.assert_allclose(policy.log_prob(raw), policy.log_prob(at_mean) - left_out)


def test_tempered_policy_sharpens_without_moving():
    policy = make_policy()
    sharp = policy.tempered(0.5)
    for (probs, sharp_probs) in [(policy.columns()[0], sharp.columns()[0]), (policy.columns()[2], sharp.columns()[2])]:
        np.testing.assert_allclose(sharp_probs, probs**2 / (probs**2).sum())  # softmax(logits / 0.5)
    for j in (1, 3):
        assert sharp.columns()[j] == pytest.approx((policy.columns()[j][0], 0.5 * policy.columns()[j][1]))
    np.testing.assert_array_equal(policy.params, make_policy().params)  # the original is untouched


def test_advantages_rank_and_zscore():
    rewards = np.array([3.0, 1.0, np.nan, 2.0, 2.0])
    rank = advantages(rewards, "rank")
    np.testing.assert_allclose(rank, [0.5, -0.25, -0.5, 0.125, 0.125])
    z = advantages(rewards, "zscore")
    assert z[2] < z.min(initial=np.inf, where=~np.isnan(rewards)) - 0.99
    assert abs(z[[0, 1, 3, 4]].mean()) < 1e-12
    nes = advantages(rewards, "nes")
    assert abs(nes.sum()) < 1e-12 and nes[0] == nes.max() > nes[3] == nes[4] > nes[1] == nes[2]
    np.testing.assert_allclose(nes[[1, 2]], -0.2)  # the worse half shares the baseline -1/n
    for method in ("nes", "rank"):  # scale-free: only the order counts
        np.testing.assert_allclose(advantages(rewards * 1000 - 7, method), advantages(rewards, method))
    assert np.all(advantages(np.array([np.nan, np.inf]), "rank") == 0)
    assert np.all(advantages(np.array([1.0]), "rank") == 0)
    with pytest.raises(ValueError, match="'bogus'"):
        advantages(rewards, "bogus")


def test_update_raises_probability_of_good_actions_and_respects_sd_bounds():
    rng = np.random.default_rng(1)
    policy = make_policy()
    settings = UpdateSettings(learning_rate=0.1, passes=4, clip=0.2, entropy_coef=0.0, min_sd=0.3, max_sd=2.0)
    adam = Adam.zeros(policy.params.size)
    for _ in range(30):
        raw = np.array([policy.sample(rng) for _ in range(16)])
        rewards = (raw[:, 0] == 2) - (raw[:, 1] - 2.0) ** 2  # category 2 and z1 = 2 are best
        adam = update(policy, adam, raw, policy.log_prob(raw), advantages(rewards), settings)
    cat, (mean, sd), _, (_, other_sd) = policy.columns()
    assert cat[2] > 0.9
    assert abs(mean - 2.0) < 0.5
    assert 0.3 - 1e-12 <= sd and 0.3 - 1e-12 <= other_sd <= 2.0 + 1e-12


def test_actors_and_policy_do_not_import_ray():
    code = "import sys, ray_pg.actors, ray_pg.policy, ray_pg.pareto; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("far", [1e200, -1e300, 50.0])
def test_update_keeps_the_policy_finite_whatever_it_is_given(far):
    """A far-out sample (a point's raw value, however it was clipped upstream) never makes the policy NaN."""
    policy = make_policy()
    rng = np.random.default_rng(4)
    raw = np.array([policy.sample(rng) for _ in range(8)])
    raw[0, 1] = far
    with np.errstate(over="ignore"):
        old = policy.log_prob(raw)
    old[1] = -np.inf  # a stale log-probability that underflowed
    settings = UpdateSettings(learning_rate=0.1, passes=4, clip=0.2, entropy_coef=0.01, min_sd=0.05, max_sd=2.0)
    adam = Adam.zeros(policy.params.size)
    for _ in range(3):
        with np.errstate(all="ignore"):
            adam = update(policy, adam, raw, old, advantages(np.arange(8.0)[::-1]), settings)
    assert np.isfinite(policy.params).all() and np.isfinite(adam.m).all() and np.isfinite(adam.v).all()
    assert np.isfinite(policy.log_prob(policy.sample(rng))).all()
