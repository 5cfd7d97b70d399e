from __future__ import annotations

import numpy as np
import pytest
from ray import tune

from domains import DOMAINS, ends, is_producible
from ray_pg.policy import Policy
from ray_pg.space import Space, path_name
from spaces import SPACES, assert_valid


def policy_samples(space: Space, n: int, seed: int = 0, sd_scale: float = 1.0) -> np.ndarray:
    """Draws from the initial policy, with every Gaussian's sd scaled by ``sd_scale``."""
    rng = np.random.default_rng(seed)
    cols = []
    for column in space.columns():
        if isinstance(column, int):
            cols.append(rng.integers(0, column, n).astype(float))
        else:
            mean, log_sd = column
            cols.append(mean + sd_scale * np.exp(log_sd) * rng.standard_normal(n))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("kind", sorted(DOMAINS))
def test_decoded_values_are_valid_and_reach_both_ends(kind):
    domain = DOMAINS[kind]
    space = Space({"x": domain})
    values = [space.decode(raw)["x"] for raw in policy_samples(space, 5000, sd_scale=2.5)]
    invalid = [v for v in values if not is_producible(domain, v)]
    assert not invalid, invalid[:5]
    ray_values = [domain.cast(v) for v in domain.sample(size=5000, random_state=np.random.default_rng(1))]
    assert all(is_producible(domain, v) for v in ray_values)  # the checker itself agrees with Ray
    if kind == "choice":
        assert set(map(repr, values)) == set(map(repr, ray_values))
    elif kind in ("randn", "qrandn"):
        sampler = domain.get_sampler()
        mean, sd = (sampler.get_sampler() if kind == "qrandn" else sampler).mean, 5.0 if kind == "qrandn" else 2.0
        assert min(values) < mean - 2 * sd / 2.5 and max(values) > mean + 2 * sd / 2.5
    elif isinstance(values[0], int) or kind.startswith("q"):
        # Discrete: the policy reaches the same smallest and largest values as Tune.
        assert (min(values), max(values)) == pytest.approx(ends(domain))
    else:
        scale = np.log if kind == "loguniform" else (lambda v: v)
        span = scale(domain.upper) - scale(domain.lower)
        assert scale(min(values)) - scale(domain.lower) < 0.01 * span
        assert scale(domain.upper) - scale(max(values)) < 0.01 * span


def test_extreme_raw_values_stay_valid():
    for kind, domain in DOMAINS.items():
        space = Space({"x": domain})
        for z in (-1e6, -40.0, -1e-12, 0.0, 40.0, 1e6):
            raw = np.array([min(max(z, 0), len(domain.categories) - 1) if kind == "choice" else z])
            value = space.decode(raw)["x"]
            assert is_producible(domain, value) or kind in ("randn", "qrandn") and abs(z) >= 40, (kind, z, value)


def test_nested_lists_and_constants_round_trip():
    config = {"model": {"layers": [tune.randint(1, 5), tune.choice([16, 32]), 7], "act": tune.choice(["relu", "tanh"])},
              "lr": tune.loguniform(1e-4, 1e-1), "seed": 42, "tags": ["a", "b"]}
    space = Space(config)
    assert [p.path for p in space.params] == [("model", "layers", 0), ("model", "layers", 1), ("model", "act"), ("lr",)]
    for raw in policy_samples(space, 200, seed=3):
        decoded = space.decode(raw)
        assert decoded["seed"] == 42 and decoded["tags"] == ["a", "b"] and decoded["model"]["layers"][2] == 7
        again = space.decode(space.encode(decoded))
        assert again["model"] == decoded["model"]
        assert again["lr"] == pytest.approx(decoded["lr"], rel=1e-6)
    # Flattened keys and partial configs encode too; missing parameters are NaN.
    partial = space.encode({"model/act": "tanh", "lr": 0.01})
    assert partial[2] == 1.0 and np.isnan(partial[:2]).all() and space.decode(np.nan_to_num(partial))["lr"] == pytest.approx(0.01)


@pytest.mark.parametrize("kind", sorted(DOMAINS))
def test_every_producible_value_round_trips(kind):
    domain = DOMAINS[kind]
    space = Space({"x": domain})
    for value in domain.sample(size=300, random_state=np.random.default_rng(2)):
        value = domain.cast(value)
        decoded = space.decode(space.encode({"x": value}))["x"]
        assert type(decoded) is type(value)
        assert decoded == (pytest.approx(value, rel=1e-6) if isinstance(value, float) else value)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"a": {"b": tune.grid_search([1, 2])}}, "'a/b'.*grid_search.*tune.choice"),
        ({"w": tune.uniform(-1e308, 1e308)}, "'w'.*too wide.*overflows"),
        ({"w": tune.randint(-10**308, 10**308)}, "'w'.*too wide"),
        ({"w": tune.randint(0, 10**400)}, "'w'.*fit a float"),
        ({"n": tune.randn(0.0, float("inf"))}, "'n'.*finite sd"),
        ({"c": tune.choice([{"x": tune.grid_search([1, 2])}, 2])}, r"'c\[0\]/x'.*grid_search"),
        ({"e": tune.randint(5, 5)}, "'e'.*no values"),
        ({"u": tune.uniform(1.0, 1.0)}, "'u'.*lower < upper"),
    ],
)
def test_refused_domains_name_the_key(config, message):
    with pytest.raises(ValueError, match=message):
        Space(config)


@pytest.mark.parametrize(
    "point, message",
    [({"lr": 5.0}, "'lr'.*outside"), ({"n": 3.5}, "'n'.*multiple"), ({"opt": "rmsprop"}, "'opt'.*not one of"),
     ({"bogus": 1}, "'bogus' is not a parameter"), ({"n": "3"}, "'n'.*expected a number")],
)
def test_bad_points_are_refused(point, message):
    space = Space({"lr": tune.loguniform(1e-4, 1e-1), "n": tune.randint(1, 10), "opt": tune.choice(["sgd", "adam"])})
    with pytest.raises(ValueError, match=message):
        space.encode(point)


def conditional_draws(space: Space, n: int, seed: int = 0) -> list[np.ndarray]:
    return [space.mask_inactive(raw) for raw in policy_samples(space, n, seed=seed)]



def test_masking_rows_at_once_masks_each_row_as_alone():
    space = Space(SPACES["conditional"])
    rows = policy_samples(space, 200, seed=3)
    np.testing.assert_array_equal(space.mask_inactive(rows), conditional_draws(space, 200, seed=3))
    assert np.isnan(space.mask_inactive(rows)).any(axis=0).sum() >= 4  # branches left out, some of each


def test_conditional_branches_get_their_own_parameters():
    space = Space(SPACES["conditional"])
    names = [path_name(p.path) for p in space.params]
    assert names == ["opt", "opt[0]/momentum", "opt[0]/nesterov", "opt[1]/beta1", "opt[1]/eps",
                     "model", "model[1]/hidden", "model[1]/hidden[1]/depth", "model[1]/hidden[1]/width", "lr"]
    branches_seen = set()
    for raw in conditional_draws(space, 500, seed=1):
        config = space.decode(raw)
        assert_valid(SPACES["conditional"], config)  # exactly the keys of the chosen branch, valid values
        drawn = {name for name, r in zip(names, raw) if not np.isnan(r)}
        opt, model = config["opt"], config["model"]
        expected = {"opt", "model", "lr"}
        expected |= {"sgd": {"opt[0]/momentum", "opt[0]/nesterov"}, "adam": {"opt[1]/beta1", "opt[1]/eps"}}.get(
            opt["name"] if isinstance(opt, dict) else opt, set())
        if model["kind"] == "mlp":
            expected |= {"model[1]/hidden"} | ({"model[1]/hidden[1]/depth", "model[1]/hidden[1]/width"}
                                               if "width" in model["hidden"] else set())
        assert drawn == expected, (config, drawn)
        branches_seen.add((opt if isinstance(opt, str) else opt["name"], model["kind"], str(model.get("hidden"))[:12]))
        again = space.decode(space.encode(config))  # round trip through the branch's values
        assert again == config or np.allclose(space.encode(again), space.encode(config), equal_nan=True)
    assert len(branches_seen) >= 9  # every combination of branches comes up


def history_columns(space: Space) -> list[str]:
    return list(space.describe(Policy(space.columns()).columns()))


def mean_sd(name: str) -> list[str]:
    return [f"{name}:mean", f"{name}:sd"]


def test_history_columns_name_branches_by_their_values():
    assert history_columns(Space(SPACES["conditional"])) == [
        "opt:p[sgd]", "opt:p[adam]", "opt:p[default]", *mean_sd("opt=sgd/momentum"),
        "opt=sgd/nesterov:p[True]", "opt=sgd/nesterov:p[False]", *mean_sd("opt=adam/beta1"), *mean_sd("opt=adam/eps"),
        "model:p[linear]", "model:p[mlp]", "model=mlp/hidden:p[{'depth': 1}]", "model=mlp/hidden:p[branch 1]",
        *mean_sd("model=mlp/hidden=branch 1/depth"), *mean_sd("model=mlp/hidden=branch 1/width"), *mean_sd("lr")]
    # Branches that their names do not tell apart: by index too.
    same = Space({"x": tune.choice([{"name": "a", "v": tune.uniform(0, 1)}, {"name": "a", "w": tune.uniform(0, 1)}])})
    assert history_columns(same) == ["x:p[0=a]", "x:p[1=a]", *mean_sd("x=0=a/v"), *mean_sd("x=1=a/w")]
    # A key spelt like a branch keeps its own column.
    space = Space({"opt": tune.choice([{"name": "adam", "beta1": tune.uniform(0, 1)}, "sgd"]),
                   "opt[0]": {"beta1": tune.uniform(0, 1)}, "opt=adam": {"beta1": tune.uniform(0, 1)}})
    assert history_columns(space) == ["opt:p[adam]", "opt:p[sgd]", "config['opt'][<branch 0>]['beta1']:mean",
                                      "config['opt'][<branch 0>]['beta1']:sd", *mean_sd("opt[0]/beta1"),
                                      "config['opt=adam']['beta1']:mean", "config['opt=adam']['beta1']:sd"]


def test_points_name_a_branch_by_its_values():
    space = Space(SPACES["conditional"])
    names = [path_name(p.path) for p in space.params]

    def given(point: dict) -> dict:
        return {name: r for name, r in zip(names, space.encode(point)) if not np.isnan(r)}

    assert given({"opt": {"name": "adam"}}) == {"opt": 1.0}
    assert set(given({"opt": {"momentum": 0.5}})) == {"opt", "opt[0]/momentum"}  # only sgd has momentum
    assert given({"opt": "default"}) == {"opt": 2.0}
    assert given({"model": {"kind": "mlp", "hidden": {"depth": 3}}}) == pytest.approx(
        {"model": 1.0, "model[1]/hidden": 1.0, "model[1]/hidden[1]/depth": space.encode(
            {"model": {"kind": "mlp", "hidden": {"depth": 3}}})[7]})
    with pytest.raises(ValueError, match="'opt'.*fits none.*'opt\\[0\\]/name' is the constant 'sgd'"):
        space.encode({"opt": {"name": "rmsprop"}})
    with pytest.raises(ValueError, match="'opt\\[1\\]/beta1'.*outside"):
        space.encode({"opt": {"name": "adam", "beta1": 2.0}})
    ambiguous = Space({"x": tune.choice([{"a": tune.uniform(0, 1)}, {"a": tune.uniform(0, 2)}])})
    with pytest.raises(ValueError, match="'x'.*fits 2 choices"):
        ambiguous.encode({"x": {"a": 0.5}})
    assert ambiguous.encode({"x": {"a": 1.5}})[0] == 1.0


def test_constants_repeated_in_a_point_must_match():
    space = Space({"lr": tune.uniform(0, 1), "epochs": 10})
    assert np.isnan(space.encode({"epochs": 10})).all()
    with pytest.raises(ValueError, match="'epochs' is the constant 10.*got 12"):
        space.encode({"epochs": 12})
