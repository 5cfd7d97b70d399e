from __future__ import annotations

import numpy as np
import pytest

from ray_pg.actors import CategoricalActor, GaussianActor


def numeric_grad(f, params, eps=1e-6):
    grad = np.zeros_like(params)
    for i in range(len(params)):
        step = np.zeros_like(params)
        step[i] = eps
        grad[i] = (f(params + step) - f(params - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize("x", [0, 2, 3])
def test_categorical_grad_log_prob_matches_finite_differences(x):
    actor = CategoricalActor(np.array([0.3, -1.2, 0.8, 2.0]))
    expected = numeric_grad(lambda p: actor.with_params(p).log_prob([x])[0], actor.params)
    np.testing.assert_allclose(actor.grad_log_prob([x])[0], expected, atol=1e-6)


def test_categorical_grad_entropy_matches_finite_differences():
    actor = CategoricalActor(np.array([0.3, -1.2, 0.8, 2.0]))
    expected = numeric_grad(lambda p: actor.with_params(p).entropy(), actor.params)
    np.testing.assert_allclose(actor.grad_entropy(), expected, atol=1e-6)


@pytest.mark.parametrize("z", [-3.0, 0.1, 2.5])
def test_gaussian_grad_log_prob_matches_finite_differences(z):
    actor = GaussianActor(0.4, np.log(1.3))
    expected = numeric_grad(lambda p: actor.with_params(p).log_prob([z])[0], actor.params)
    np.testing.assert_allclose(actor.grad_log_prob([z])[0], expected, atol=1e-6)
    expected_h = numeric_grad(lambda p: actor.with_params(p).entropy(), actor.params)
    np.testing.assert_allclose(actor.grad_entropy(), expected_h, atol=1e-6)


def test_categorical_draw_frequencies_match_probabilities():
    actor = CategoricalActor(np.log(np.array([0.5, 0.3, 0.15, 0.05])))
    rng = np.random.default_rng(123)
    n = 20000
    counts = np.bincount([actor.sample(rng) for _ in range(n)], minlength=4)
    expected = n * actor.probs()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 16.27  # chi-square, 3 degrees of freedom, p = 0.001


def test_gaussian_samples_match_mean_and_sd():
    actor = GaussianActor(1.5, np.log(0.5))
    rng = np.random.default_rng(7)
    z = np.array([actor.sample(rng) for _ in range(20000)])
    assert abs(z.mean() - 1.5) < 0.02 and abs(z.std() - 0.5) < 0.02
    # log_prob integrates to one on a fine grid.
    grid = np.linspace(-5, 8, 20001)
    assert abs(np.exp(actor.log_prob(grid)).sum() * (grid[1] - grid[0]) - 1) < 1e-6


def test_entropy_values():
    assert CategoricalActor.uniform(4).entropy() == pytest.approx(np.log(4))
    assert CategoricalActor(np.array([50.0, 0.0])).entropy() < 1e-18
    assert GaussianActor(0.0, 0.0).entropy() == pytest.approx(0.5 * np.log(2 * np.pi * np.e))


def test_same_seed_same_samples():
    actors = [CategoricalActor(np.array([0.1, 0.2, 0.3])), GaussianActor(0.0, 0.5)]
    draw = lambda seed: [a.sample(np.random.default_rng(seed)) for a in actors]  # noqa: E731
    assert draw(5) == draw(5)
    assert draw(5) != draw(6)


def test_categorical_needs_a_category():
    with pytest.raises(ValueError, match="num_categories=0"):
        CategoricalActor.uniform(0)
