"""The rank model that pre-selects the natural policy's samples: its least squares, leave-one-out and tau,
its model types, and what it does inside PGSearcher."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from ray_pg import PGSearcher
from ray_pg.natural import NaturalPolicy
from ray_pg.surrogate import (MIN_TAU_Z, Layout, features, fit, kendall_tau, memory_size, num_coefficients, tau_null_sd,
                              weighted_least_squares)
from spaces import SPACES
from test_searcher import drive


def test_imports_no_ray():
    code = "import sys, ray_pg.surrogate; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("ridge", [0.0, 0.1])
def test_leave_one_out_predictions_equal_refits_without_the_row(ridge):
    rng = np.random.default_rng(0)
    x = np.hstack([np.ones((15, 1)), rng.normal(size=(15, 3))])
    y, w = rng.normal(size=15), rng.uniform(1, 20, size=15)
    penalty = ridge * w.mean()

    def solve(rows):  # the normal equations of the weighted, penalised least squares
        xw = x[rows] * w[rows, None]
        return np.linalg.solve(xw.T @ x[rows] + penalty * np.eye(4), xw.T @ y[rows])

    coef, loo = weighted_least_squares(x, y, w, ridge)
    np.testing.assert_allclose(coef, solve(np.arange(15)), atol=1e-10)
    for i in range(15):
        assert loo[i] == pytest.approx(x[i] @ solve(np.arange(15) != i), abs=1e-9)


def test_kendall_tau_counts_concordant_minus_discordant_pairs():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=12), rng.normal(size=12)
    pairs = list(itertools.combinations(range(12), 2))
    expected = sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in pairs) / len(pairs)
    assert kendall_tau(a, b) == pytest.approx(expected)
    assert kendall_tau(a, a) == 1.0 and kendall_tau(a, -a) == -1.0 and kendall_tau(a[:1], b[:1]) == 0.0


def test_features_code_categories_against_the_last_and_zero_what_was_not_drawn():
    layout = Layout.of([np.ones(3) / 3, (1.0, 2.0), (0.0, 1.0)])
    raw = np.array([[0, 3.0, 2.0], [2, -1.0, np.nan], [np.nan, 1.0, 0.0]])
    x = features(layout, raw, "full")
    # 1, z1, z2, z1^2, z1 z2, z2^2, onehot(category 0), onehot(category 1); z1 = (x1 - 1) / 2
    np.testing.assert_array_equal(x, [[1, 1, 2, 1, 2, 4, 1, 0], [1, -1, 0, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]])
    assert x.shape[1] == num_coefficients("full", 2, 2)
    assert features(layout, raw, "diagonal").shape[1] == num_coefficients("diagonal", 2, 2)


@pytest.mark.parametrize(("results", "kind"), [(2, None), (3, "linear"), (7, "linear"), (11, "diagonal"), (15, "full")])
def test_the_model_grows_with_the_results(results, kind):
    # Coefficients: linear 4, diagonal 7, full 10; each needs 1.1x as many of the best 3/4 of the results,
    # but the linear one starts (with a ridge) from half as many.
    policy = NaturalPolicy([(0.0, 0.0)] * 3)
    raw = np.random.default_rng(2).normal(size=(results, 3))
    model = fit(Layout.of(policy.columns()), raw, -np.sum(raw**2, axis=1))
    assert (model and model.kind) == kind



@pytest.mark.parametrize(("dim", "kind"), [(127, "diagonal"), (128, "linear"), (255, "linear"), (256, None)])
def test_no_model_has_more_coefficients_than_a_fit_can_afford(dim, kind):
    """A diagonal quadratic in 128 numerics has 257 coefficients: the linear model is used instead, from as many
    results as it needs; in 256 numerics even the linear one has 257: no model, and no results kept for one."""
    layout = Layout.of(NaturalPolicy([(0.0, 0.0)] * dim, separable=True).columns())
    raw = np.random.default_rng(2).normal(size=(4 * dim, dim))
    model = fit(layout, raw, -np.sum(raw**2, axis=1))
    assert (model and model.kind) == kind
    assert memory_size(layout) == (0 if kind is None else 2 * num_coefficients(kind, dim, 0))
    assert model is None or len(model.coef) <= 256


def test_a_quadratic_is_ranked_and_its_best_candidate_is_near_the_optimum():
    rng = np.random.default_rng(3)
    policy = NaturalPolicy([(0.0, 0.0)] * 4 + [3])
    optimum = np.array([0.7, -0.4, 0.2, 0.0])

    def score(raw):
        return -np.sum((raw[:, :4] - optimum) ** 2, axis=1) - (raw[:, 4] != 1)

    raw = policy.sample(rng, 40)
    layout = Layout.of(policy.columns())
    model = fit(layout, raw, score(raw))
    assert model.kind == "full" and model.tau > 0.8
    candidates = policy.sample(rng, 200)
    predicted = model.predict(candidates)
    assert kendall_tau(predicted, score(candidates)) > 0.9
    assert candidates[np.argmax(predicted), 4] == 1
    assert memory_size(layout) == 2 * num_coefficients("full", 4, 2)


def test_noise_is_not_trusted():
    policy = NaturalPolicy([(0.0, 0.0)] * 2)
    rng = np.random.default_rng(4)
    model = fit(Layout.of(policy.columns()), policy.sample(rng, 40), rng.normal(size=40))
    assert model.tau < 0.3 and not model.trusted()


def test_tau_null_sd_is_kendalls():
    """The gate's yardstick: the sd of tau between a random order and a fixed one."""
    rng = np.random.default_rng(5)
    taus = [kendall_tau(rng.permutation(20).astype(float), np.arange(20.0)) for _ in range(4000)]
    assert np.std(taus) == pytest.approx(tau_null_sd(20), rel=0.05)
    assert MIN_TAU_Z * tau_null_sd(20) == pytest.approx(0.16, abs=0.01)  # what 20 results must show


def test_a_model_of_a_real_signal_is_trusted():
    policy = NaturalPolicy([(0.0, 0.0)] * 2)
    raw = policy.sample(np.random.default_rng(6), 40)
    assert fit(Layout.of(policy.columns()), raw, -np.sum(raw**2, axis=1)).trusted()


def test_natural_searcher_picks_suggestions_with_a_trusted_model():
    space = SPACES["mixed"]
    default = PGSearcher(space, metric="loss", mode="min", seed=3, update="natural")
    plain = PGSearcher(space, metric="loss", mode="min", seed=3, update="natural")
    plain._learner.candidates = 1  # no pre-selection
    configs = [drive(searcher, space, 150, seed=4, in_flight=4, bad=False) for searcher in (default, plain)]
    history = default.history()
    assert history.rank_model.notna().any() and (history.rank_model_tau.dropna() > 0).all()
    assert plain.history().rank_model.isna().all()
    first_model = int(np.argmax(history.rank_model.notna()))  # suggestions are the same until the first model
    assert configs[0][:5 * (first_model + 1)] == configs[1][:5 * (first_model + 1)] and configs[0] != configs[1]


def test_pg_update_has_no_rank_model():
    space = SPACES["mixed"]
    searcher = PGSearcher(space, metric="loss", mode="min", seed=3, update="pg")
    drive(searcher, space, 100, seed=4, bad=False)
    assert searcher.history().rank_model.isna().all()


def test_collinear_columns_are_solved():
    rng = np.random.default_rng(7)
    x = np.hstack([np.ones((12, 1)), np.ones((12, 1)), np.zeros((12, 1)), rng.normal(size=(12, 2))])  # 1, 1, 0
    y = x[:, 3] - 2 * x[:, 4] + 0.5
    coef, loo = weighted_least_squares(x, y, np.linspace(20, 1, 12))
    np.testing.assert_allclose(x @ coef, y, atol=1e-6)
    np.testing.assert_allclose(loo, y, atol=1e-5)  # an exact linear fit predicts each left-out row too
