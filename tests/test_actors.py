from __future__ import annotations

import numpy as np
import pytest

from ray_pg.actors import Categoricals, Gaussians


def numeric_grad(f, params, eps=1e-6):
    grad = np.zeros_like(params)
    for i in range(len(params)):
        step = np.zeros_like(params)
        step[i] = eps
        grad[i] = (f(params + step) - f(params - step)) / (2 * eps)
    return grad


def categoricals() -> Categoricals:
    """Three categoricals, flat: four categories, one, and two."""
    cats = Categoricals.uniform([4, 1, 2])
    return cats.with_params(np.array([0.3, -1.2, 0.8, 2.0, 7.0, 0.5, -0.4]))


@pytest.mark.parametrize("x", [[0, 0, 1], [3, 0, 0], [2, 0, 1]])
def test_categorical_grad_log_prob_matches_finite_differences(x):
    cats = categoricals()
    expected = numeric_grad(lambda p: cats.with_params(p).log_prob([x]).sum(), cats.params)
    np.testing.assert_allclose(cats.grad_log_prob([x])[0], expected, atol=1e-6)
    assert cats.grad_log_prob([x]).shape == (1, 7)  # one entry per real category, no padding


def test_categorical_grad_entropy_matches_finite_differences():
    cats = categoricals()
    expected = numeric_grad(lambda p: cats.with_params(p).entropy().sum(), cats.params)
    np.testing.assert_allclose(cats.grad_entropy(), expected, atol=1e-6)


def test_categorical_cost_follows_the_real_categories():
    """A choice of 10,000 categories beside 50 binary ones: 10,100 logits, not 51 x 10,000."""
    cats = Categoricals.uniform([10_000] + [2] * 50)
    assert cats.params.size == 10_100
    x = cats.sample(np.random.default_rng(0))
    assert x.shape == (51,) and x[0] < 10_000 and set(x[1:]) <= {0, 1}
    assert cats.grad_log_prob([x]).shape == (1, 10_100)
    np.testing.assert_allclose(cats.log_prob([x])[0], -np.log([10_000] + [2] * 50))


@pytest.mark.parametrize("z", [[-3.0, 0.2], [0.1, 4.0], [2.5, -1.0]])
def test_gaussian_gradients_match_finite_differences(z):
    gauss = Gaussians(np.array([0.4, -1.0]), np.log(np.array([1.3, 0.6])))
    expected = numeric_grad(lambda p: gauss.with_params(p).log_prob([z]).sum(), gauss.params)
    np.testing.assert_allclose(gauss.grad_log_prob([z])[0], expected, atol=1e-6)
    expected_h = numeric_grad(lambda p: gauss.with_params(p).entropy().sum(), gauss.params)
    np.testing.assert_allclose(gauss.grad_entropy(), expected_h, atol=1e-6)


def test_categorical_draw_frequencies_match_probabilities():
    probs = [np.array([0.5, 0.3, 0.15, 0.05]), np.array([0.9, 0.1])]
    cats = Categoricals.uniform([4, 2]).with_params(np.log(np.concatenate(probs)) + 3.0)
    rng = np.random.default_rng(123)
    n = 20000
    draws = np.array([cats.sample(rng) for _ in range(n)])
    for row, p in enumerate(probs):
        counts = np.bincount(draws[:, row], minlength=len(p))
        assert len(counts) == len(p)  # never an index past the categorical's own categories
        expected = n * p
        chi2 = ((counts - expected) ** 2 / expected).sum()
        assert chi2 < 16.27  # chi-square at p = 0.001 with 3 (row 0) or 1 (row 1) degrees of freedom
    np.testing.assert_allclose(cats.probs(), np.concatenate(probs))


def test_gaussian_samples_match_mean_and_sd():
    gauss = Gaussians(np.array([1.5, -2.0]), np.log(np.array([0.5, 2.0])))
    rng = np.random.default_rng(7)
    z = np.array([gauss.sample(rng) for _ in range(20000)])
    np.testing.assert_allclose(z.mean(axis=0), [1.5, -2.0], atol=0.04)
    np.testing.assert_allclose(z.std(axis=0), [0.5, 2.0], rtol=0.02)
    grid = np.linspace(-20, 20, 40001)[:, None].repeat(2, axis=1)
    np.testing.assert_allclose(np.exp(gauss.log_prob(grid)).sum(axis=0) * 1e-3, 1.0, atol=1e-6)


def test_entropy_values():
    np.testing.assert_allclose(Categoricals.uniform([4, 2]).entropy(), np.log([4, 2]))
    assert Categoricals.uniform([2]).with_params(np.array([50.0, 0.0])).entropy()[0] < 1e-18
    assert Gaussians(np.zeros(1), np.zeros(1)).entropy()[0] == pytest.approx(0.5 * np.log(2 * np.pi * np.e))


def test_same_seed_same_samples():
    cats, gauss = categoricals(), Gaussians(np.zeros(3), np.zeros(3))
    draw = lambda seed: [a.sample(np.random.default_rng(seed)).tolist() for a in (cats, gauss)]  # noqa: E731
    assert draw(5) == draw(5)
    assert draw(5) != draw(6)


def test_categorical_needs_a_category():
    with pytest.raises(ValueError, match=r"sizes=\[3, 0\]"):
        Categoricals.uniform([3, 0])
