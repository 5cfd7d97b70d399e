from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ray_pg.pareto import hypervolume, pareto_front, pareto_scores


def brute_force_fronts(points):
    """Non-dominated sorting by the definition: double loops, peel one front at a time."""
    n = len(points)
    dominates = [[all(a >= b for a, b in zip(points[i], points[j])) and any(a > b for a, b in zip(points[i], points[j]))
                  for j in range(n)] for i in range(n)]
    front, level, left = [None] * n, 0, set(range(n))
    while left:
        current = {j for j in left if not any(dominates[i][j] for i in left)}
        for j in current:
            front[j] = level
        left -= current
        level += 1
    return np.array(front)


def union_volume_inclusion_exclusion(gains):
    """Exact volume of the union of boxes [0, g] by inclusion-exclusion: an oracle for small sets."""
    total = 0.0
    for size in range(1, len(gains) + 1):
        for subset in itertools.combinations(range(len(gains)), size):
            total += (-1) ** (size + 1) * gains[list(subset)].min(axis=0).prod()
    return total


def random_points(rng, n, k):
    """Integer-valued points (many ties) with some rows repeated."""
    points = rng.integers(0, 6, size=(n, k)).astype(float)
    points[rng.integers(0, n, n // 5)] = points[rng.integers(0, n, n // 5)]
    return points


def ibea_by_definition(rewards, kappa=0.05):
    """IBEA's fitness written out with loops: scale to [0, 1], eps-indicator, exponential sum."""
    rewards = np.asarray(rewards, float)
    low, high = rewards.min(axis=0), rewards.max(axis=0)
    scaled = [[(v - lo) / (hi - lo) if hi > lo else 0.0 for v, lo, hi in zip(row, low, high)] for row in rewards]
    n = len(scaled)
    indicator = {(y, x): max(a - b for a, b in zip(scaled[x], scaled[y])) for y in range(n) for x in range(n)}
    c = max(abs(v) for v in indicator.values())
    return np.array([-sum(np.exp(-indicator[y, x] / (c * kappa)) for y in range(n) if y != x) for x in range(n)])


def test_pareto_scores_hand_worked_and_by_definition():
    # Two points, each better in one objective: I = 1 both ways, c = 1, score -exp(-1 / 0.05).
    np.testing.assert_allclose(pareto_scores([[0.0, 1.0], [1.0, 0.0]]), [-np.exp(-20.0)] * 2)
    # (1, 1) dominates (0, 0): I((1,1), (0,0)) = -1, so (0, 0) pays exp(20); (1, 1) pays exp(-20).
    np.testing.assert_allclose(pareto_scores([[1.0, 1.0], [0.0, 0.0]]), [-np.exp(-20.0), -np.exp(20.0)])
    rewards = random_points(np.random.default_rng(5), 30, 3)
    np.testing.assert_allclose(pareto_scores(rewards), ibea_by_definition(rewards), rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
                  elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0])))
def test_pareto_scores_keep_dominance(points):
    scores = pareto_scores(points)
    front = brute_force_fronts(points.tolist())
    for i, j in itertools.product(range(len(points)), repeat=2):
        if (points[i] >= points[j]).all() and (points[i] > points[j]).any():
            assert scores[i] > scores[j]
        if (points[i] == points[j]).all():
            assert scores[i] == scores[j]
    # The best-scored point is non-dominated.
    assert front[np.argmax(scores)] == 0


def test_pareto_scores_ignore_units_and_failed_rows():
    rewards = random_points(np.random.default_rng(6), 25, 2)
    scores = pareto_scores(rewards)
    np.testing.assert_allclose(pareto_scores(rewards * [1e-3, 1e6] + [5.0, -7.0]), scores, rtol=1e-9)
    with_failed = np.vstack([rewards, [[np.nan, 1.0], [np.inf, 0.0]]])
    np.testing.assert_allclose(pareto_scores(with_failed), [*scores, np.nan, np.nan])
    huge = pareto_scores([[1e308, -1e308], [-1e308, 1e308], [0.0, 0.0], [-1e308, -1e308]])
    assert np.isfinite(huge).all() and huge[3] < huge[:3].min()
    assert pareto_scores(np.empty((0, 2))).shape == (0,)
    np.testing.assert_array_equal(pareto_scores([[1.0, 2.0]]), [0.0])
    np.testing.assert_array_equal(pareto_scores([[1.0, 2.0], [1.0, 2.0]]), [0.0, 0.0])
    np.testing.assert_array_equal(pareto_scores([[np.nan, 2.0]]), [np.nan])
    with pytest.raises(ValueError, match="rewards must be a 2-D array"):
        pareto_scores([1.0, 2.0])


def results_frame():
    return pd.DataFrame({
        "loss": [0.3, 0.1, 0.2, 0.4, np.nan, 0.05, 0.2, np.inf, None],
        "accuracy": [0.9, 0.7, 0.8, 0.95, 0.99, 0.6, 0.7, 1.0, 1.0],
        "name": list("abcdefghi"),
    }, index=[10, 11, 12, 13, 14, 15, 16, 17, 18])


def test_pareto_front_min_max():
    results = results_frame()
    front = pareto_front(results, ["loss", "accuracy"], ["min", "max"])
    # 16 (0.2, 0.7) is dominated by 12 (0.2, 0.8); NaN, inf and missing rows are ignored.
    assert list(front.index) == [15, 11, 12, 10, 13]
    assert list(front["name"]) == ["f", "b", "c", "a", "d"]
    pd.testing.assert_frame_equal(front, results.loc[front.index])
    # Negating a metric and flipping its mode keeps the same rows.
    flipped = results.assign(loss=-results["loss"])
    assert set(pareto_front(flipped, ["loss", "accuracy"], ["max", "max"]).index) == set(front.index)
    # Both maximised: only the best accuracy with the highest loss survives.
    assert list(pareto_front(results, ["loss", "accuracy"], ["max", "max"]).index) == [13]
    # One metric: the best row(s), ties all kept.
    assert list(pareto_front(results, ["loss"], ["min"]).index) == [15]
    assert list(pareto_front(results.assign(loss=0.1), ["loss"], ["min"]).index) == list(results.index)
    assert pareto_front(results.iloc[:0], ["loss", "accuracy"], ["min", "max"]).empty


def test_pareto_front_matches_fronts():
    rng = np.random.default_rng(5)
    points = random_points(rng, 200, 3)
    results = pd.DataFrame(points, columns=["a", "b", "c"]).sample(frac=1.0, random_state=1)
    front = pareto_front(results, ["a", "b", "c"], ["max", "min", "max"])
    signed = results.to_numpy() * [1, -1, 1]
    assert set(front.index) == set(results.index[brute_force_fronts(signed.tolist()) == 0])
    assert front["a"].is_monotonic_increasing


def test_pareto_front_errors():
    results = results_frame()
    with pytest.raises(ValueError, match=r"mode must list .* 2 objectives, got mode=\['min'\]"):
        pareto_front(results, ["loss", "accuracy"], ["min"])
    with pytest.raises(ValueError, match=r"mode=\['min', 'maximum'\]"):
        pareto_front(results, ["loss", "accuracy"], ["min", "maximum"])
    with pytest.raises(ValueError, match=r"metric \['acc'\] not among the results' columns \['loss', 'accuracy', 'name'\]"):
        pareto_front(results, ["loss", "acc"], ["min", "max"])
    with pytest.raises(ValueError, match=r"non-empty list of column names, got metric='loss'"):
        pareto_front(results, "loss", "min")
    with pytest.raises(ValueError, match=r"got metric=\[\]"):
        pareto_front(results, [], [])
    with pytest.raises(ValueError, match=r"must be numeric.*'name'"):
        pareto_front(results, ["loss", "name"], ["min", "min"])


def test_hypervolume_hand_computed():
    points = np.array([[1, 3], [2, 2], [3, 1]], dtype=float)
    # Staircase under (4, 4): columns x in [1,2), [2,3), [3,4) of heights 1, 2, 3.
    assert hypervolume(points, reference=[4, 4]) == pytest.approx(6.0)
    # Reference = worst observed (3, 3): the boundary points add nothing, (2, 2) adds a unit square.
    assert hypervolume(points) == pytest.approx(1.0)
    # 3-D: three boxes 2x1x1, 1x2x1, 1x1x2 from the corner (3, 3, 3) overlapping in pairs and all in one unit cube.
    cube = np.array([[1, 2, 2], [2, 1, 2], [2, 2, 1]], dtype=float)
    assert hypervolume(cube, reference=[3, 3, 3]) == pytest.approx(2 + 2 + 2 - 1 - 1 - 1 + 1)
    assert hypervolume(np.array([[3.0], [1.0], [2.0]]), reference=[5.0]) == pytest.approx(4.0)
    # Nothing strictly better than the reference, nothing valid, nothing at all: 0.
    assert hypervolume(points, reference=[3, 5]) == pytest.approx(2 + 3)  # (3, 1) is on the boundary
    assert hypervolume(points, reference=[1, 1]) == 0.0
    assert hypervolume(np.full((2, 2), np.nan)) == 0.0
    assert hypervolume(np.empty((0, 3)), reference=[1, 1, 1]) == 0.0


@pytest.mark.parametrize("k", [3, 4, 5])
def test_hypervolume_matches_inclusion_exclusion(k):
    rng = np.random.default_rng(k)
    points = rng.uniform(0, 1, size=(8, k))
    reference = np.full(k, 1.2)
    gains = reference - points
    assert hypervolume(points, reference=reference) == pytest.approx(union_volume_inclusion_exclusion(gains), rel=1e-12)


@pytest.mark.parametrize("k", [2, 3])
def test_hypervolume_matches_monte_carlo(k):
    rng = np.random.default_rng(10 + k)
    # Points near the simplex front sum(x) = 1, so that most of them are non-dominated.
    points = rng.dirichlet(np.ones(k), size=30) + rng.uniform(0, 0.05, size=(30, k))
    reference = np.full(k, 1.1)
    samples = rng.uniform(0, 1.1, size=(200_000, k))
    dominated = np.zeros(len(samples), dtype=bool)
    for point in points:
        dominated |= (samples >= point).all(axis=1)
    fraction = dominated.mean()
    box = 1.1**k
    tolerance = 5 * np.sqrt(fraction * (1 - fraction) / len(samples)) * box  # 5 standard errors
    assert hypervolume(points, reference=reference) == pytest.approx(fraction * box, abs=tolerance)


def test_hypervolume_invariances():
    rng = np.random.default_rng(7)
    points = rng.dirichlet(np.ones(3), size=25)
    reference = [1.0, 1.0, 1.0]
    value = hypervolume(points, reference=reference)
    dominated = points[:10] + rng.uniform(0, 0.2, size=(10, 3))
    with_more = np.vstack([points, dominated, points[:5], [[np.nan, 0, 0]]])
    assert hypervolume(with_more, reference=reference) == pytest.approx(value, rel=1e-12)
    assert hypervolume(with_more[rng.permutation(len(with_more))], reference=reference) == pytest.approx(value, rel=1e-12)
    # A point beyond the front adds volume.
    assert hypervolume(np.vstack([points, [[0.1, 0.1, 0.1]]]), reference=reference) > value


def test_hypervolume_min_max_equivalence():
    rng = np.random.default_rng(8)
    results = pd.DataFrame(rng.uniform(size=(40, 3)), columns=["loss", "accuracy", "latency"])
    results.loc[3, "accuracy"] = np.nan
    value = hypervolume(results, ["loss", "accuracy", "latency"], ["min", "max", "min"], reference=[1.0, 0.0, 1.0])
    assert value > 0
    flipped = results.assign(accuracy=-results["accuracy"], latency=-results["latency"])
    assert hypervolume(flipped, ["loss", "accuracy", "latency"], ["min", "min", "max"],
                       reference=[1.0, 0.0, -1.0]) == pytest.approx(value, rel=1e-12)
    # An array is minimised by default; mode says otherwise.
    array = results[["loss", "accuracy", "latency"]].to_numpy() * [1, -1, 1]
    assert hypervolume(array, reference=[1.0, 0.0, 1.0]) == pytest.approx(value, rel=1e-12)
    assert hypervolume(-array, mode=["max", "max", "max"], reference=[-1.0, 0.0, -1.0]) == pytest.approx(value, rel=1e-12)
    # Default reference: the worst observed value in each metric, whichever the mode.
    assert hypervolume(results, ["loss", "accuracy"], ["min", "max"]) == pytest.approx(
        hypervolume(flipped, ["loss", "accuracy"], ["min", "min"]), rel=1e-12)


def test_hypervolume_analytic_front():
    # f2 = 1 - sqrt(f1), min-min, reference (1.1, 1.1): 1.1 * 0.1 + (0.1 + integral_0^1 sqrt(f1) df1).
    exact = 0.1 + 2 / 3 + 0.11
    estimates = []
    for n in (200, 2000):
        f1 = np.linspace(0, 1, n)
        estimates.append(hypervolume(np.column_stack([f1, 1 - np.sqrt(f1)]), reference=[1.1, 1.1]))
    assert estimates[0] < estimates[1] < exact  # a staircase under the curve, converging from below
    assert exact - estimates[0] < 5e-3
    assert exact - estimates[1] < 5e-4


def test_hypervolume_errors():
    points = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match=r"reference must be 2 finite values.*got reference=\[1.0\]"):
        hypervolume(points, reference=[1.0])
    with pytest.raises(ValueError, match=r"reference must be 2 finite.*got reference=\[1.0, nan\]"):
        hypervolume(points, reference=[1.0, np.nan])
    with pytest.raises(ValueError, match=r"with an array give only mode, got metric=\['a', 'b'\]"):
        hypervolume(points, ["a", "b"], ["min", "min"])
    with pytest.raises(ValueError, match=r"2 objectives, got mode=\['min'\]"):
        hypervolume(points, mode=["min"])
    frame = pd.DataFrame(points, columns=["a", "b"])
    with pytest.raises(ValueError, match=r"needs metric and mode, got metric=\['a', 'b'\], mode=None"):
        hypervolume(frame, ["a", "b"])
    with pytest.raises(ValueError, match=r"metric \['c'\] not among"):
        hypervolume(frame, ["a", "c"], ["min", "min"])
    with pytest.raises(ValueError, match=r"shape=\(2,\)"):
        hypervolume(np.array([1.0, 2.0]))


def test_pareto_does_not_import_ray():
    code = "import sys, ray_pg.pareto; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
