"""Hostile spaces and points (issue 12): a clear ValueError naming the key, or exact handling; a space as JSON data."""

from __future__ import annotations

import enum
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ray import tune
from ray.tune.search.sample import Domain, Float, Normal, Quantized
from ray.tune.search.variant_generator import generate_variants

from domains import is_producible
from ray_pg.params import NORMAL_RAW_LIMIT
from ray_pg.policy import Adam, Policy, UpdateSettings, advantages, update
from ray_pg.space import Space


def draws(space: Space, n: int, seed: int = 0) -> list[np.ndarray]:
    """Raw vectors from the initial policy, with the branches not chosen masked."""
    policy, rng = Policy(space.columns()), np.random.default_rng(seed)
    return [space.mask_inactive(policy.sample(rng)) for _ in range(n)]


def holds_domain(value) -> bool:
    if isinstance(value, Domain):
        return True
    values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return any(map(holds_domain, values))


def exact(space: Space, point: dict) -> dict:
    """The config a point becomes: missing parameters at the policy's centre, given values as given."""
    raw = space.encode(point)
    return space.decode(np.where(np.isnan(raw), 0.0, raw), space.given_values(point))


# 1. Tuples holding a domain resolve like lists and come back as tuples, as Tune resolves them.
@pytest.mark.parametrize("config", [
    {"betas": (tune.uniform(0.8, 0.99), 0.999)},
    {"opt": tune.choice([{"name": "adam", "betas": (tune.uniform(0.8, 0.99), 0.999)}, "sgd"])},
    {"deep": [({"a": tune.randint(0, 3)}, (tune.choice(["x", "y"]),))]},
])
def test_tuples_holding_domains_resolve_like_tune(config):
    space = Space(config)
    for raw in draws(space, 50):
        decoded = space.decode(raw)
        assert not holds_domain(decoded) and valid_everywhere(config, decoded), decoded
    if "betas" in config:  # Tune's own resolution gives a tuple back too (it fails on a tuple in a tuple)
        _, tune_resolved = next(generate_variants({"config": config}))
        assert type(tune_resolved["config"]["betas"]) is type(space.decode(draws(space, 1)[0])["betas"]) is tuple


def test_tuple_points_encode_exactly():
    space = Space({"betas": (tune.uniform(0.8, 0.99), 0.999)})
    for point in ({"betas": (0.9, 0.999)}, {"betas": [0.9, 0.999]}, {"betas/0": 0.9}):
        assert exact(space, point)["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="'betas/1' is the constant 0.999"):
        space.encode({"betas": (0.9, 0.5)})


# 2. Keys that collide once flattened.
@pytest.mark.parametrize("config, message", [
    ({"a/b": tune.uniform(0, 1), "a": {"b": tune.uniform(0, 1)}}, r"config\['a/b'\] and config\['a'\]\['b'\]"),
    ({"a": {"b": tune.uniform(0, 1)}, "a/b": 3}, r"config\['a'\]\['b'\] and config\['a/b'\]"),
    ({1: tune.uniform(0, 1), "1": tune.uniform(0, 1)}, r"config\[1\] and config\['1'\]"),
])
def test_colliding_keys_are_refused_naming_both(config, message):
    with pytest.raises(ValueError, match=message):
        Space(config)


def test_a_key_like_a_branch_is_a_key_of_its_own():
    """A branch step is no key: "opt[1]" beside a choice "opt" is another path; only its flattened name is shared."""
    space = Space({"opt[1]": {"b1": tune.uniform(0, 1)}, "opt": tune.choice(["sgd", {"b1": tune.uniform(2, 3)}])})
    assert len(space.params) == 3
    point = {"opt[1]": {"b1": 0.5}, "opt": {"b1": 2.5}}
    assert exact(space, point) == point
    assert exact(space, {"opt[1]": {"b1": 0.5}, "opt": "sgd"}) == {"opt[1]": {"b1": 0.5}, "opt": "sgd"}
    with pytest.raises(ValueError, match=r"'opt\[1\]/b1' could be config\['opt\[1\]'\]\['b1'\] or "
                                         r"config\['opt'\]\[<branch 1>\]\['b1'\]; give it nested"):
        space.encode({"opt[1]/b1": 0.5})


def test_history_columns_are_unique():
    space = Space({"c": tune.choice([1, "1", 1.0, True]), "f": tune.choice([math.sqrt, math.exp])})
    described = space.describe(Policy(space.columns()).columns())
    assert len(described) == 6
    assert {"f:p[sqrt]", "f:p[exp]"} <= set(described)
    # Keys and categories whose columns would coincide: both in the keys' own reprs.
    space = Space({"x": tune.choice(["a]:p[b"]), "x:p[a]": tune.choice(["b"]), "y": tune.uniform(0, 1)})
    described = space.describe(Policy(space.columns()).columns())
    assert list(described) == ["config['x']:p[a]:p[b]", "config['x:p[a]']:p[b]", "y:mean", "y:sd"]


# 5. tune.sample_from: a value derived from the suggested config, as Tune computes it.
def test_sample_from_is_derived_from_the_config():
    space = Space({"a": tune.uniform(0, 1), "double": tune.sample_from(lambda config: config["a"] * 2),
                   "old_style": tune.sample_from(lambda spec: spec.config.a + 1),
                   "opt": tune.choice([{"lr": tune.uniform(0, 1),
                                        "half": tune.sample_from(lambda config: config["opt"]["lr"] / 2)}, "sgd"]),
                   "pair": (tune.sample_from(lambda: 7), 1)})
    assert len(space.params) == 3  # a, opt, opt[0]/lr: derived values are not parameters
    for raw in draws(space, 30):
        config = space.decode(raw)
        assert config["double"] == 2 * config["a"] and config["old_style"] == config["a"] + 1
        assert config["pair"] == (7, 1)
        if isinstance(config["opt"], dict):
            assert config["opt"]["half"] == config["opt"]["lr"] / 2
    point = {"a": 0.25, "double": 0.5}  # a full config (from Tune's results) names derived values too
    assert exact(space, point)["double"] == 0.5


def double_a(config: dict) -> float:
    return config["a"] * 2


def report_config(config: dict) -> dict:
    return {"loss": config["a"], "b": config["b"], "betas_is_tuple": type(config["betas"]) is tuple,
            "beta1": config["betas"][0]}


@pytest.mark.parametrize("where", ["constructor", "param_space"])
def test_sample_from_and_tuples_agree_through_real_tune(local_ray, tmp_path, where):
    """The space given to PGSearcher and Tune's param_space resolve sample_from and tuples alike."""
    from ray_pg import PGSearcher

    space = {"a": tune.uniform(0, 1), "b": tune.sample_from(double_a), "betas": (tune.uniform(0.8, 0.99), 0.999)}
    searcher = PGSearcher(space if where == "constructor" else None, metric="loss", mode="min", seed=0)
    tuner = tune.Tuner(report_config, param_space={} if where == "constructor" else space,
                       tune_config=tune.TuneConfig(search_alg=searcher, num_samples=4, reuse_actors=True),
                       run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
    df = tuner.fit().get_dataframe()
    assert len(df) == 4 and df["betas_is_tuple"].all() and df["beta1"].between(0.8, 0.99).all()
    np.testing.assert_array_equal(df["b"], 2 * df["loss"])


# 6. points_to_evaluate: values reach the trial exactly, or are refused naming the key.
@pytest.mark.parametrize("domain, value", [
    (tune.uniform(0, 1), 0.3), (tune.quniform(0, 1, 0.1), 0.3), (tune.loguniform(1e-4, 1), 0.3),
    (tune.randint(0, 2**31), 2147483647), (tune.randint(0, 2**62), 2**62 - 1), (tune.qrandint(0, 2**40, 7), 7 * 10**11),
    (tune.randn(0, 1), 1e200), (tune.qrandn(0, 1, 0.1), 0.3), (tune.uniform(0, 1), np.float64(0.3)),
    (tune.randint(0, 10), np.int64(4)), (tune.randint(0, 10), 4.0),
])
def test_given_values_reach_the_trial_exactly(domain, value):
    space = Space({"x": domain})
    decoded = exact(space, {"x": value})["x"]
    assert decoded == value and type(decoded) is type(domain.cast(value)) and producible(domain, decoded)
    assert np.isfinite(space.encode({"x": value})).all()


@pytest.mark.parametrize("domain, value, message", [
    (tune.uniform(0, 1), 1.0, "'x'.*outside"), (tune.randint(0, 10), 10, "'x'.*multiple of 1 in \\[0, 9\\]"),
    (tune.quniform(0, 1, 0.1), 0.33, "'x'.*multiple"), (tune.qrandn(0, 1, 0.5), 0.3, "'x'.*multiple"),
    (tune.randint(0, 10), float("nan"), "'x'.*finite"), (tune.randint(0, 10), float("inf"), "'x'.*finite"),
    (tune.uniform(0, 1), float("nan"), "'x'.*finite"), (tune.randn(0, 1), 10**400, "'x'.*too large"),
    (tune.randint(0, 10), True, "'x'.*expected a number"), (tune.choice([1, 2]), True, "'x'.*not one of"),
    (tune.choice([4, 8]), 4.0, "'x'.*not one of"),
])
def test_values_the_domain_cannot_produce_are_refused(domain, value, message):
    with pytest.raises(ValueError, match=message):
        Space({"x": domain}).encode({"x": value})


@pytest.mark.parametrize("point", [{}, [{"x": 0.5}], "x=0.5", None])
def test_a_point_must_be_a_non_empty_dict(point):
    with pytest.raises(ValueError, match="a point .*non-empty dict of parameter values"):
        Space({"x": tune.uniform(0, 1)}).encode(point)


def test_values_from_tunes_dataframes_match():
    space = Space({"c": tune.choice([4, 8]), "f": tune.choice([0.5, 1.0]), "b": tune.choice([True, False])})
    point = {"c": np.int64(8), "f": np.float64(0.5), "b": np.bool_(False)}
    np.testing.assert_array_equal(space.encode(point), [1.0, 0.0, 1.0])
    assert exact(space, point) == {"c": 8, "f": 0.5, "b": False}


def test_a_flattened_branch_path_chooses_its_branch():
    space = Space({"opt": tune.choice(["default", {"name": "adam", "b1": tune.uniform(0.5, 1.0),
                                                   "inner": tune.choice([{"k": tune.randint(0, 5)}, "none"])}])})
    assert exact(space, {"opt[1]/b1": 0.9}) == {"opt": {"name": "adam", "b1": 0.9, "inner": {"k": 2}}}
    config = exact(space, {"opt[1]/inner[0]/k": 4, "opt": {"name": "adam"}})
    assert config["opt"]["inner"] == {"k": 4}
    for point in ({"opt": "default", "opt[1]/b1": 0.9}, {"opt[1]/b1": 0.9, "opt": "default"}):
        with pytest.raises(ValueError, match="'opt'"):
            space.encode(point)


# 7. A far-out point cannot make the policy NaN.
def test_a_far_out_point_keeps_the_policy_finite():
    space = Space({"x": tune.randn(0, 1), "y": tune.uniform(0, 1), "c": tune.choice([1, 2])})
    policy, rng = Policy(space.columns()), np.random.default_rng(0)
    points = [{"x": 1e200, "y": 0.0}, {"x": -1e300, "y": float(np.nextafter(1, 0))}]
    raw = np.array([policy.sample(rng) for _ in range(6)])
    for row, point in enumerate(points):
        encoded = space.encode(point)
        assert np.abs(encoded[:2]).max() <= NORMAL_RAW_LIMIT
        raw[row, :2] = encoded[:2]
        assert exact(space, point)["x"] == point["x"]
    settings = UpdateSettings(learning_rate=0.1, passes=8, clip=0.2, entropy_coef=0.0, min_sd=0.05, max_sd=10.0)
    adam = Adam.zeros(policy.params.size)
    for _ in range(5):
        adam = update(policy, adam, raw, policy.log_prob(raw), advantages(np.arange(6.0)[::-1]), settings)
    assert np.isfinite(policy.params).all()
    assert np.isfinite(space.encode(space.decode(policy.sample(rng)))).all()


# 8. The space as JSON data, stable across processes, never running code.
class Colour(enum.Enum):
    RED = 1
    BLUE = 2


def native_space() -> dict:
    return {"lr": tune.qloguniform(1e-4, 1e-1, 1e-4), "n": tune.qrandint(8, 64, 8), "noise": tune.qrandn(0, 1, 0.25),
            "betas": (tune.uniform(0.8, 0.99), 0.999), 1: {"$weird": float("inf"), "nan": float("nan")},
            "opt": tune.choice([{"name": "sgd", "m": tune.uniform(0, 0.99)}, None, (1, 2), [3, {"k": np.int64(4)}]]),
            "z": np.float32(0.1), "big": 2**70, "huge": 1e308}


def test_to_json_is_strict_json_and_round_trips_exactly():
    space = Space(native_space())
    text = json.dumps(space.to_json(), allow_nan=False)
    again = Space.from_json(json.loads(text))
    assert again.signature() == space.signature()
    assert json.dumps(again.to_json(), allow_nan=False) == text
    for raw in draws(space, 40):
        assert repr(again.decode(raw)) == repr(space.decode(raw))
    assert type(again.config["z"]) is np.float32 and again.config["z"] == space.config["z"]


def test_objects_are_fingerprinted_and_taken_from_the_users_space():
    user = {"act": tune.choice([math.sqrt, Colour.RED, Colour.BLUE, object()]), "f": tune.sample_from(lambda c: 1)}
    data = json.loads(json.dumps(Space(user).to_json(), allow_nan=False))
    assert "0x" not in json.dumps(data)  # no repr with a memory address
    with pytest.raises(ValueError, match="objects that a checkpoint cannot carry.*math.sqrt|pass the search space"):
        Space.from_json(data)
    assert Space.from_json(data, user_space=user).config is user
    changed = {"act": tune.choice([math.sqrt, Colour.RED, Colour.RED, object()]), "f": tune.sample_from(lambda c: 1)}
    with pytest.raises(ValueError, match=r"differs.*\['act'\].*categories.*\[2\].*BLUE"):
        Space.from_json(data, user_space=changed)


@pytest.mark.parametrize("data", [
    {"format": "ray_pg.space/1", "config": {"x": {"$object": {"type": "os.system"}}}},
    {"format": "ray_pg.space/1", "config": {"x": {"$numpy": ["object", "os.system"]}}},
    {"format": "ray_pg.space/1", "config": {"x": {"$domain": {"kind": "float", "sampler": "normal", "lower": None,
                                                               "upper": None, "mean": 0, "sd": -1, "q": None}}}},
    {"format": "ray_pg.space/1", "config": {"x": {"$dict": [[[1], 2]]}}},
    {"format": "ray_pg.space/1", "config": [1]}, {"config": {}}, "gASVAAAA",
])
def test_malformed_or_hostile_json_is_refused(data):
    with pytest.raises(ValueError):
        Space.from_json(data)


def test_signature_is_the_same_in_every_process():
    code = ("import json, math; from ray import tune; from ray_pg.space import Space; "
            "print(json.dumps(Space({'f': tune.choice([math.sqrt, json.dumps, object(), lambda x: x]), "
            "'g': tune.sample_from(lambda c: 1)}).signature(), allow_nan=False))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and "sqrt" in runs[0]


# 9. Other libraries' search-space objects would stay constants and tune nothing: refused, named.
FOREIGN = {"optuna": lambda m: m.distributions.FloatDistribution(1e-4, 1e-1, log=True),
           "hyperopt": lambda m: m.hp.loguniform("lr", -9, -2),
           "ConfigSpace": lambda m: m.UniformFloatHyperparameter("lr", 1e-4, 1e-1, log=True),
           "nevergrad": lambda m: m.p.Log(lower=1e-4, upper=1e-1)}


@pytest.mark.parametrize("library", sorted(FOREIGN))
def test_other_libraries_domains_are_refused_naming_them(library):
    domain = FOREIGN[library](pytest.importorskip(library))
    for config, key in (({"lr": domain}, "lr"), ({"model": {"opt": ("adam", domain)}}, "model/opt"),
                        ({"opt": tune.choice(["sgd", {"lr": domain}])}, "opt")):
        with pytest.raises(ValueError, match=rf"'{key}': {library}\.\S+ is not a Ray Tune domain.*tune\.loguniform"):
            Space(config)


class Net:
    pass


def test_objects_of_any_kind_stay_constants():
    optuna = pytest.importorskip("optuna")
    constants = {"kind": optuna.distributions.FloatDistribution, "sampler": "tpe", "f": math.sqrt, "net": Net(),
                 "layers": [1, 2], "pair": (1, "b"), "factory": Net}
    space = Space({**constants, "x": tune.uniform(0, 1), "g": tune.sample_from(lambda config: 2)})
    config = space.decode(np.zeros(1))
    assert all(config[key] is value or config[key] == value for key, value in constants.items())


# 10. Fuzz: random hostile spaces and points.
floats = st.floats(allow_nan=True, allow_infinity=True)
hostile_keys = st.one_of(st.sampled_from(["a", "b", "a/b", "b[0]", "0", "$x", ""]), st.integers(0, 2))


@st.composite
def domains(draw):
    kind = draw(st.sampled_from(["choice", "uniform", "quniform", "loguniform", "randn", "qrandn", "randint",
                                 "qrandint", "lograndint"]))
    if kind == "choice":
        return tune.choice(draw(st.lists(st.one_of(st.integers(), floats, st.booleans(), st.none(), st.text(max_size=2),
                                                   st.just(math.sqrt)), min_size=1, max_size=5)))
    if kind in ("uniform", "quniform"):
        low = draw(st.floats(-1e308, 1e308))
        high = draw(st.floats(-1e308, 1e308))
        return tune.uniform(low, high) if kind == "uniform" else tune.quniform(round(low) or 1.0,
                                                                                round(high) or 2.0, 1.0)
    if kind == "loguniform":
        return tune.loguniform(draw(st.floats(1e-300, 1e300)), draw(st.floats(1e-300, 1e300)))
    if kind in ("randn", "qrandn"):
        mean, sd = draw(st.floats(-1e300, 1e300)), draw(st.floats(1e-300, 1e300))
        return tune.randn(mean, sd) if kind == "randn" else tune.qrandn(mean, sd, draw(st.sampled_from([0.5, 3.0])))
    low, high = draw(st.integers(-2**70, 2**70)), draw(st.integers(-2**70, 2**70))
    if kind == "lograndint":
        return tune.lograndint(max(low, 1), max(high, 2))
    return tune.randint(low, high) if kind == "randint" else tune.qrandint(low, high, draw(st.integers(1, 9)))


leaves = st.one_of(domains(), domains(), st.integers(), floats, st.none(), st.text(max_size=2))
nodes = st.recursive(leaves, lambda children: st.one_of(
    st.lists(children, min_size=1, max_size=3), st.lists(children, min_size=1, max_size=3).map(tuple),
    st.dictionaries(hostile_keys, children, min_size=1, max_size=3),
    st.lists(children, min_size=1, max_size=3).map(tune.choice)), max_leaves=8)
values = st.one_of(floats, st.integers(-2**70, 2**70), st.booleans(), st.none(), st.text(max_size=2),
                   st.just(np.int64(3)), st.just(np.float64(0.5)), st.just(math.sqrt))
points = st.recursive(values, lambda children: st.one_of(st.lists(children, max_size=3),
                                                          st.dictionaries(hostile_keys, children, max_size=3)),
                      max_leaves=6)


def producible(domain, value) -> bool:
    """``is_producible``, where a quantized float may also be within 1e-9 (relative) of a grid value:
    a given 0.3 for ``quniform(0, 1, 0.1)`` passes as 0.3, though Tune's own draw is 3 * 0.1."""
    sampler = domain.get_sampler()
    if not (isinstance(domain, Float) and isinstance(sampler, Quantized)):
        return is_producible(domain, value)
    if type(value) is not float:
        return False
    q, k = sampler.q, np.round(value / sampler.q)
    in_range = isinstance(sampler.get_sampler(), Normal) or round(domain.lower / q) <= k <= round(domain.upper / q)
    return math.isclose(k * q, value) and in_range


def valid_everywhere(space, config) -> bool:
    """Every value of ``config`` is one its domain can produce (branches: at least one fits)."""
    if isinstance(space, tune.search.sample.Categorical):
        return any(valid_everywhere(c, config) for c in space.categories) if any(
            map(holds_domain, space.categories)) else any(
            c is config or type(c) is type(config) and (c == config or c != c and config != config)
            for c in space.categories)
    if isinstance(space, Domain):
        return producible(space, config)
    if isinstance(space, dict):
        return isinstance(config, dict) and list(config) == list(space) and all(
            valid_everywhere(space[k], config[k]) for k in space)
    if isinstance(space, (list, tuple)) and holds_domain(space):
        return type(config) is type(space) and len(config) == len(space) and all(
            valid_everywhere(s, c) for s, c in zip(space, config))
    return config is space or type(config) is type(space) and (config == space or space != space)


@st.composite
def points_like(draw, node):
    """A point made from a decoded config: some keys, some flattened, some values replaced by hostile ones."""
    if isinstance(node, dict) and node:
        point = {}
        for key in draw(st.lists(st.sampled_from(list(node)), unique=True, min_size=1)):
            child = draw(points_like(node[key]))
            if isinstance(child, dict) and child and draw(st.booleans()):
                point.update({f"{key}/{sub}": value for sub, value in child.items()})
            else:
                point[key] = child
        return point
    if isinstance(node, (list, tuple)) and node and draw(st.booleans()):
        return type(node)(draw(points_like(value)) for value in node)
    return draw(st.one_of(st.just(node), st.just(node), values))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=st.dictionaries(hostile_keys, nodes, min_size=1, max_size=4), data=st.data(), seed=st.integers(0, 99))
def test_fuzz_hostile_spaces_and_points(config, data, seed):
    try:
        space = Space(config)
    except ValueError:
        return
    saved = json.loads(json.dumps(space.to_json(), allow_nan=False))
    again = Space.from_json(saved, user_space=config)
    if '"$object"' not in json.dumps(saved):
        again = Space.from_json(saved)
    assert again.signature() == space.signature()
    for raw in draws(space, 3, seed):
        decoded = space.decode(raw)
        assert valid_everywhere(config, decoded), decoded
        assert repr(again.decode(raw)) == repr(decoded)
    point = data.draw(st.one_of(points, points_like(decoded)))
    try:
        raw, given_values = space.encode(point), space.given_values(point)
    except ValueError:
        return
    assert np.isfinite(raw[~np.isnan(raw)]).all() and np.abs(raw[~np.isnan(raw)]).max(initial=0) <= 1e4
    decoded = space.decode(np.where(np.isnan(raw), 0.0, raw), given_values)
    assert valid_everywhere(config, decoded), (point, decoded)
