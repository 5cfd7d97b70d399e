"""Rival searchers from other libraries (SMAC3, NGOpt, HEBO) and the translator they share (``encoding``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ray import tune

from experiments.bench.domains import KINDS, domain_kind, invalid_paths, value_range, walk
from experiments.bench.encoding import U_EPS, config_from, to_param, to_params
from experiments.bench.methods import available, make
from experiments.bench.problems import PROBLEMS
from experiments.bench.simulate import simulate

RIVALS = ("smac", "ngopt", "hebo")
ALL_KINDS = PROBLEMS["mixed_hd24"].space  # every kind of Tune domain, nested


def _drive(method: str, problem: str, seed: int, *, workers: int = 4, budget: int = 30, fail_every: int = 0):
    """Suggested configs and the searcher, driven by simulated workers; every ``fail_every``-th result is NaN."""
    prob = PROBLEMS[problem]
    searcher, in_constructor = make(method, None, prob.metric, "min", seed)
    assert not in_constructor  # built as users build it for a Tuner: the space comes with the budget
    configs: list[dict] = []

    def evaluate(config: dict) -> tuple[dict, None]:
        configs.append(config)
        failed = fail_every and len(configs) % fail_every == 0
        return {prob.metric: math.nan if failed else prob.value(config)}, None

    done = list(simulate(searcher, prob.space, prob.metric, "min", workers, budget, seed, evaluate))
    assert len(done) == len(configs) == budget
    return configs, searcher


# ------------------------------------------------------------------ the translator


def test_every_domain_kind_becomes_a_parameter_whose_ends_are_the_domains_ends():
    params = {p.name: p for p in to_params(ALL_KINDS)}
    assert {domain_kind(d) for _, d in walk(ALL_KINDS)} == set(KINDS)
    kinds = {name.split("/")[1]: (p.kind, p.log, p.q) for name, p in params.items()}
    assert kinds["c5"] == ("cat", False, None) and kinds["l0"] == ("float", True, None)
    assert kinds["q0"] == ("int", False, 0.5)  # quniform: a grid index
    assert kinds["ql0"] == ("float", True, 1e-3)  # qloguniform: log float, rounded
    assert kinds["qli0"] == ("int", True, 4) and kinds["li0"] == ("int", True, None)
    assert kinds["g0"] == ("normal", False, None) and kinds["g1"] == ("normal", False, 0.25)
    for path, domain in walk(ALL_KINDS):
        p = params["/".join(path)]
        if p.kind in ("int", "float"):  # both ends reachable, nothing beyond them
            assert (p.value(p.low), p.value(p.high)) == pytest.approx(value_range(domain), rel=1e-12), p.name
            assert p.value(p.high + 3) == pytest.approx(value_range(domain)[1]), p.name
    # Any library values inside the bounds give a valid config.
    rng = np.random.default_rng(0)
    for _ in range(200):
        raw = {p.name: (rng.integers(len(p.values)) if p.kind == "cat" else rng.uniform(U_EPS, 1 - U_EPS)
                        if p.kind == "normal" else rng.uniform(p.low, p.high)) for p in params.values()}
        assert invalid_paths(ALL_KINDS, config_from(list(params.values()), raw)) == []


def test_randn_through_a_uniform_is_the_domains_gaussian_and_odd_domains_are_handled():
    p = to_param(("z",), tune.qrandn(10.0, 3.0, 0.5))
    values = np.array([p.normal_value(u) for u in np.random.default_rng(1).uniform(U_EPS, 1 - U_EPS, 20_000)])
    assert values.mean() == pytest.approx(10.0, abs=0.1) and values.std() == pytest.approx(3.0, abs=0.1)
    assert np.allclose(values / 0.5, np.round(values / 0.5))
    assert p.normal_value(0.5) == 10.0 and math.isfinite(p.normal_value(0.0))
    assert to_param(("k",), tune.qrandint(5, 5, 5)).kind == "const"  # one value: nothing to search
    assert config_from(to_params({"c": tune.choice([[1], {"a": 2}])}), {"c": 1}) == {"c": {"a": 2}}
    with pytest.raises(ValueError, match="'f'.*unsupported"):
        to_params({"f": tune.sample_from(lambda _: 1)})


def test_each_librarys_own_draws_decode_to_valid_configs_of_every_kind():
    """ConfigSpace, Nevergrad and HEBO spaces built from every kind: their random draws are valid configs."""
    from experiments.bench.hebo_search import design_space
    from experiments.bench.ngopt_search import parametrization
    from experiments.bench.smac_search import config_space

    params = to_params(ALL_KINDS)
    draws = {
        "smac": [dict(c) for c in config_space(params, seed=0).sample_configuration(100)],
        "hebo": design_space(params).sample(100).to_dict("records"),
    }
    ng_space = parametrization(params, seed=0)
    ng_draws = [ng_space.sample().value for _ in range(100)]
    for name, raws in draws.items():
        configs = [config_from(params, raw) for raw in raws]
        assert all(invalid_paths(ALL_KINDS, c) == [] for c in configs), name
    configs = [config_from(params, raw, normal_as_unit=False) for raw in ng_draws]
    assert all(invalid_paths(ALL_KINDS, c) == [] for c in configs)
    assert np.std([c["gauss"]["g1"] for c in configs]) > 1  # Nevergrad's Gaussian prior, sd 2


def test_rays_own_conversions_cannot_express_randn_nor_grids():
    """Why the Ray-wrapped rivals convert the space themselves (see their module docstrings)."""
    import warnings

    from ray.tune.search.hebo import HEBOSearch
    from ray.tune.search.nevergrad import NevergradSearch

    with pytest.raises(ValueError, match="HEBO does not support"):
        HEBOSearch.convert_search_space({"g": tune.randn(0.0, 1.0)})
    space = {"g": tune.randn(0.0, 1.0), "q": tune.qrandint(0, 100, 5)}
    searcher, _ = make("ngopt", None, "loss", "min", 0)
    searcher.set_search_properties("loss", "min", space, num_samples=10)
    ours = [searcher.suggest(str(i)) for i in range(10)]
    assert all(invalid_paths(space, c) == [] for c in ours)
    import nevergrad as ng

    ray = NevergradSearch(optimizer=ng.optimizers.NGOpt, optimizer_kwargs={"budget": 10}, metric="loss", mode="min")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ray.set_search_properties("loss", "min", space)  # randn: Scalar(-inf, inf); q dropped
        theirs = [ray.suggest(str(i)) for i in range(10)]
    assert all(math.isnan(c["g"]) for c in theirs) and any(c["q"] % 5 for c in theirs)


# ------------------------------------------------------------------ the rivals, driven as Tune drives them


def test_rivals_are_registered_and_importable():
    assert all(available(m) for m in RIVALS)


@pytest.mark.parametrize("method,budget", [("smac", 20), ("ngopt", 30), ("hebo", 20)])
def test_rival_suggests_complete_valid_configs_and_repeats_a_seeded_run(method, budget):
    # train_net: choice, loguniform, qlograndint, randint, lograndint, quniform, qloguniform; a NaN result
    # every 7 trials; 4 in flight. SMAC: a Sobol design of 5, then its forest (about 0.15 s a trial);
    # HEBO: 3 Sobol batches of 4, then 2 batches from its GP (about 2 s each); NGOpt: cheap.
    first, _ = _drive(method, "train_net", seed=0, budget=budget, fail_every=7)
    assert all(invalid_paths(PROBLEMS["train_net"].space, c) == [] for c in first)
    again, _ = _drive(method, "train_net", seed=0, budget=budget, fail_every=7)
    assert again == first
    other, _ = _drive(method, "train_net", seed=1, budget=8)
    assert other != first[:8]


def test_smac_takes_its_budget_from_num_samples_and_survives_failed_trials():
    configs, searcher = _drive("smac", "branin_cat", seed=3, budget=20, fail_every=4)
    assert all(invalid_paths(PROBLEMS["branin_cat"].space, c) == [] for c in configs)
    assert searcher._smac.scenario.n_trials == 20  # num_samples reached SMAC's budget
    history = searcher._smac.runhistory
    told = [history[key] for key in history]
    assert len(told) == 20 and all(math.isfinite(v.cost) for v in told)
    crashed = [v.cost for v in told if v.status.name == "CRASHED"]
    # NaN results (every 4th) are told the worst cost seen so far.
    assert len(crashed) == 5 and set(crashed) <= {v.cost for v in told if v.status.name == "SUCCESS"}

    # A failed trial (error=True, no result) before any finite cost waits for one; unknown ids are ignored.
    from experiments.bench.smac_search import SMACSearcher

    space = {"x": tune.uniform(-1.0, 1.0), "c": tune.choice(["a", "b"]), "g": tune.randn(0.0, 1.0)}
    searcher = SMACSearcher(space, metric="loss", mode="max", seed=0, n_trials=10)
    trials = {str(i): searcher.suggest(str(i)) for i in range(4)}
    searcher.on_trial_complete("0", result=None, error=True)
    searcher.on_trial_complete("1", result={"loss": math.inf})
    history = searcher._smac.runhistory
    assert all(history[key].status.name == "RUNNING" for key in history)
    searcher.on_trial_complete("2", result={"loss": 2.0})  # mode max: cost -2
    searcher.on_trial_complete("3", result={"loss": 5.0})
    searcher.on_trial_complete("3", result={"loss": 9.0})  # repeated
    searcher.on_trial_complete("nope", result={"loss": 1.0})
    told = sorted((history[k].cost, history[k].status.name) for k in history if history[k].status.name != "RUNNING")
    assert told == [(-5.0, "SUCCESS"), (-2.0, "CRASHED"), (-2.0, "CRASHED"), (-2.0, "SUCCESS")]
    assert all(invalid_paths(space, searcher.suggest(str(i))) == [] for i in range(4, 16))
    assert all(invalid_paths(space, c) == [] for c in trials.values())


def test_smac_repeats_a_seeded_run_whatever_pythons_hash_seed():
    """SMAC's local search starts from a set of configurations, ordered by a string hash: we sort them."""
    import json
    import os
    import subprocess
    import sys

    here = _drive("smac", "branin_cat", seed=0, budget=14)[0]  # 8 from SMAC's forest
    script = ("import sys, json; sys.path.insert(0, '.'); from tests.test_rivals import _drive; "
              "print(json.dumps(_drive('smac', 'branin_cat', seed=0, budget=14)[0]))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"  # not ours, if ours is fixed
    there = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout
    assert json.loads(there) == here


def test_ngopt_gets_the_runs_budget_and_workers():
    _, searcher = _drive("ngopt", "gauss_prior", seed=0, workers=4, budget=24)
    optimizer = searcher.optimizer
    assert (optimizer.budget, optimizer.num_workers) == (24, 4)
    assert optimizer.num_tell == 24 and type(optimizer.optim).__name__  # NGOpt picked an algorithm
    # Choices are deterministic (NGOpt would otherwise see a noisy problem); Ray's random choices on request.
    assert "det" in repr(optimizer.parametrization)
    ray_like, _ = make("ngopt[deterministic=False]", None, "loss", "min", 0)
    ray_like.set_search_properties("loss", "min", {"c": tune.choice(["a", "b"])}, num_samples=10)
    assert "det" not in repr(ray_like.optimizer.parametrization)


def test_hebo_leaves_pymoos_minimize_as_it_found_it():
    from hebo.acq_optimizers import evolution_optimizer

    from experiments.bench.hebo_search import seeded_pymoo

    before = evolution_optimizer.minimize
    with pytest.raises(RuntimeError), seeded_pymoo():
        assert evolution_optimizer.minimize is not before
        raise RuntimeError
    assert evolution_optimizer.minimize is before
