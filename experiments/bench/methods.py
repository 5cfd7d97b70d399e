"""Registry of search methods (rivals and ablations): name -> factory of a Ray Tune ``Searcher``.

Adding a rival is one entry in ``METHODS``: a factory and, for learning-curve
benchmarks, the scheduler it runs under.

A factory is ``make(space, metric, mode, seed, **kwargs) -> Searcher``. Methods
whose ``space_in_constructor`` is False are built *without* the space, as users
build them for ``tune.Tuner(param_space=...)``; the runner then hands the
space over through ``set_search_properties(metric, mode, space,
num_samples=budget, ...)`` exactly as Tune does, so budget-aware searchers see
``num_samples``.

Method strings may carry keyword arguments for ablations, parsed as Python
literals: ``"pg[batch_size=16]"``, ``"tpe[multivariate=True]"``. The full string is the method's name in result
rows. Variants worth keeping get an entry in ``METHODS``.

Notes on fidelity:
- ``tpe`` is Optuna's TPESampler (its defaults) through Ray's ``OptunaSearch``
  and a define-by-run function (``make_define_by_run``; any Optuna sampler).
  Ray's own space conversion cannot express ``randn``/``qrandn`` and
  ``qlograndint``, and drops ``qloguniform``'s quantization, so we pass
  ``OptunaSearch`` a define-by-run function that reproduces every Tune domain
  exactly through ``encoding.py`` (categories by index, ``randn`` through the
  inverse normal CDF of a uniform, quantized log domains by rounding, as Tune's
  ``sample()`` does).
  TPE models each parameter independently either way.
- ``hyperopt`` uses Ray's own conversion (as users get it); its integer
  conversions can step just outside a domain, which problems clip.
- ``smac``, ``ngopt`` (through Ray's ``NevergradSearch``) and ``hebo`` (through
  Ray's ``HEBOSearch``) take the space through ``encoding.py`` too; see ``smac_search.py``, ``ngopt_search.py``,
  ``hebo_search.py``. Those modules import their libraries, so ``lazy`` imports them when used.
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from ray.tune.search import Searcher

from experiments.bench.ablation import make_ablation
from experiments.bench.catcma import make_catcma
from experiments.bench.domains import adopt_objectives, random_config
from experiments.bench.encoding import U_EPS, Param, to_params

Factory = Callable[..., Searcher]


class RandomSearcher(Searcher):
    """Independent draws from every domain's own ``sample()``; a baseline.

    Args:
        space: nested dict of Tune domains, or None to receive it through
            ``set_search_properties`` as from a Tuner's ``param_space``.
        metric, mode: as for any Searcher (unused to sample).
        seed: seed of the numpy Generator passed to ``domain.sample``.
    """

    def __init__(
        self,
        space: dict | None = None,
        *,
        metric: str | None = None,
        mode: str | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self._space = space
        self._rng = np.random.default_rng(seed)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if self._space:
            return False
        self._space = config
        return adopt_objectives(self, metric, mode)

    def suggest(self, trial_id: str) -> dict | None:
        if not self._space:
            raise RuntimeError("RandomSearcher has no search space: pass one or use set_search_properties")
        return random_config(self._space, self._rng)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def get_state(self) -> dict:
        return {"rng": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state["rng"]


# ------------------------------------------------------------------ TPE (Optuna)

class DefineByRun:
    """An Optuna define-by-run function that samples every Tune domain exactly.

    Each domain is an ``encoding.Param`` (categories by index, grids by integer
    index, ``randn`` through a uniform and the inverse normal CDF), as every
    rival adapter takes it. Parameter names are Tune's flattened paths
    ("a/b"); OptunaSearch unflattens them. The returned dict overrides helper
    values (category indices, uniforms for randn) with the config values. A
    class, not a closure, so that OptunaSearch.save can pickle it.
    """

    def __init__(self, space: dict) -> None:
        self.params = to_params(space)

    def __call__(self, trial: Any) -> dict:
        return {p.name: _suggest_one(trial, p) for p in self.params}


def _suggest_one(trial: Any, p: Param) -> Any:
    if p.kind == "const":
        return p.values[0]
    if p.kind == "cat":
        return p.value(trial.suggest_categorical(p.name, list(range(len(p.values)))))
    if p.kind == "normal":
        return p.normal_value(trial.suggest_float(p.name, U_EPS, 1 - U_EPS))
    if p.kind == "int":
        return p.value(trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log))
    return p.value(trial.suggest_float(p.name, p.low, p.high, log=p.log))


def make_define_by_run(space: dict, metric: str, mode: str, seed: int, sampler: str = "TPESampler",
                       **kwargs: Any) -> Searcher:
    """``OptunaSearch`` over ``DefineByRun(space)`` with ``optuna.samplers.<sampler>(seed=seed, **kwargs)``."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # OptunaSearch warns when the define-by-run function is slow, meaning user
    # computation; ours only runs the sampler, which is the cost we measure.
    warnings.filterwarnings("ignore", message="Define-by-run function passed in the `space` argument took")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return OptunaSearch(space=DefineByRun(space), metric=metric, mode=mode,
                        sampler=getattr(optuna.samplers, sampler)(seed=seed, **kwargs))


def make_optuna(space: dict | None, metric: Any, mode: Any, seed: int, sampler: str = "TPESampler",
                **kwargs: Any) -> Searcher:
    """``OptunaSearch`` with Ray's own space conversion, built without a space as users build it.

    ``sampler`` names a class of ``optuna.samplers``; ``metric``/``mode`` may be lists (multi-objective).
    """
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return OptunaSearch(metric=metric, mode=mode, sampler=getattr(optuna.samplers, sampler)(seed=seed, **kwargs))


def make_hyperopt(space: dict, metric: str, mode: str, seed: int, **kwargs: Any) -> Searcher:
    from ray.tune.search.hyperopt import HyperOptSearch

    return HyperOptSearch(metric=metric, mode=mode, random_state_seed=seed, **kwargs)


def make_bohb(space: dict, metric: str, mode: str, seed: int, **kwargs: Any) -> Searcher:
    """Ray's ``TuneBOHB`` (hpbandster's BOHB model), its space converted by Ray as users get it: it runs
    under ``HyperBandForBOHB`` (``scheduler="bohb"``)."""
    from ray.tune.search.bohb import TuneBOHB

    return TuneBOHB(metric=metric, mode=mode, seed=seed, **kwargs)


def make_random(space: dict, metric: str, mode: str, seed: int, **kwargs: Any) -> Searcher:
    return RandomSearcher(metric=metric, mode=mode, seed=seed, **kwargs)


def lazy(module: str, cls: str) -> Factory:
    """Factory of ``experiments.bench.<module>.<cls>(metric=, mode=, seed=, **kwargs)``, imported when first used."""
    def make(space: dict | None, metric: str, mode: str, seed: int, **kwargs: Any) -> Searcher:
        searcher = getattr(importlib.import_module(f"experiments.bench.{module}"), cls)
        return searcher(metric=metric, mode=mode, seed=seed, **kwargs)

    return make


def make_pg(space: dict, metric: str, mode: str, seed: int, **kwargs: Any) -> Searcher:
    from ray_pg import PGSearcher

    return PGSearcher(metric=metric, mode=mode, seed=seed, **kwargs)


# ------------------------------------------------------------------------ table


@dataclass(frozen=True)
class Method:
    """A searcher factory and how the runner hands it the space.

    Attributes:
        factory: ``make(space, metric, mode, seed, **kwargs) -> Searcher``.
        space_in_constructor: True when the factory builds the searcher with
            its space (Tune must then get no ``param_space``); False when the
            runner passes the space through ``set_search_properties``.
        kwargs: fixed keyword arguments of this table entry.
        scheduler: ``"asha"``, ``"hyperband"`` or ``"bohb"`` (``HyperBandForBOHB``) for learning-curve
            benchmarks (``experiments.bench.curves``); None: FIFO, every trial trains to the end.
        num_samples: Tune's ``num_samples`` under a scheduler (a budget stopper
            ends the run once the training budget is spent; None: FIFO's
            budget / max_t trials).
        requires: packages the method imports (``available`` checks them).
    """

    factory: Factory
    space_in_constructor: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)
    scheduler: str | None = None
    num_samples: int | None = None
    requires: tuple[str, ...] = ()


METHODS: dict[str, Method] = {
    "random": Method(make_random),
    "tpe": Method(make_define_by_run, space_in_constructor=True, requires=("optuna",)),
    "hyperopt": Method(make_hyperopt, requires=("hyperopt",)),
    "pg": Method(make_pg),
    "gp": Method(make_define_by_run, space_in_constructor=True, kwargs={"sampler": "GPSampler"},
                 requires=("optuna", "torch")),  # Optuna's GPSampler; its cost per trial grows with the trials
    "catcma": Method(make_catcma, requires=("cmaes",)),  # CatCMA with margin; ablation: "catcma[popsize=256]"
    # Rivals from other libraries (see the notes above); HEBO installs apart (.ci/run);
    # "ngopt[deterministic=False]": choices drawn at random, as Ray's own conversion builds them.
    "smac": Method(lazy("smac_search", "SMACSearcher"), requires=("smac", "ConfigSpace")),
    "ngopt": Method(lazy("ngopt_search", "NGOptSearch"), requires=("nevergrad",)),
    "hebo": Method(lazy("hebo_search", "HEBOTuneSearch"), requires=("hebo", "pymoo", "torch")),
    # Ray's own space conversion, as users get it (two-objective benchmark).
    "optuna_tpe": Method(make_optuna, kwargs={"sampler": "TPESampler"}, requires=("optuna",)),
    "optuna_nsga2": Method(make_optuna, kwargs={"sampler": "NSGAIISampler"}, requires=("optuna",)),
    # Ablations of PGSearcher's knobs: add entries here, or pass "pg[knob=value]"; parts of the
    # natural update switched off: "ablation[covariance=False]" (experiments/bench/ablation.py).
    "ablation": Method(make_ablation),
    "pg_b16": Method(make_pg, kwargs={"batch_size": 16}),
    "pg_b32": Method(make_pg, kwargs={"batch_size": 32}),
    # Under an early-stopping scheduler (learning-curve benchmarks only). num_samples: above the
    # pilots' trial counts (PG + ASHA 168-388 trials for 1,620 iterations, random + ASHA 451-578),
    # so the budget stopper, not num_samples, ends a run. "pg_asha[update='pg']" is the previous default
    # under ASHA, whose exploit phase follows num_samples (300 in its runs).
    "pg_asha": Method(make_pg, scheduler="asha", num_samples=800),
    "random_asha": Method(make_random, scheduler="asha", num_samples=800),
    # The rivals users run under early stopping, each with its space converted by Ray as users get it.
    "tpe_asha": Method(make_optuna, kwargs={"sampler": "TPESampler"}, scheduler="asha", num_samples=800,
                       requires=("optuna",)),
    "hyperopt_asha": Method(make_hyperopt, scheduler="asha", num_samples=800, requires=("hyperopt",)),
    "bohb": Method(make_bohb, scheduler="bohb", num_samples=800, requires=("hpbandster", "ConfigSpace")),
    # Ablations of the natural update under a scheduler: "ablation_asha[rung_prior=None]". Its sampling
    # does not follow num_samples: as many as the rivals', so that the budget ends each run.
    "ablation_asha": Method(make_ablation, scheduler="asha", num_samples=800),
    "ablation_hyperband": Method(make_ablation, scheduler="hyperband", num_samples=800),
    "pg_hyperband": Method(make_pg, scheduler="hyperband", num_samples=800),
    "random_hyperband": Method(make_random, scheduler="hyperband", num_samples=800),
}

_SPEC = re.compile(r"^(?P<base>[A-Za-z0-9_]+)(\[(?P<args>.*)\])?$")


def parse_method(spec: str) -> tuple[Method, dict[str, Any]]:
    """``"pg[batch_size=16]"`` -> (the "pg" Method, {"batch_size": 16})."""
    match = _SPEC.match(spec.strip())
    if not match or match["base"] not in METHODS:
        raise ValueError(f"unknown method {spec!r}; known: {sorted(METHODS)} (optionally name[key=value,...])")
    kwargs: dict[str, Any] = {}
    if match["args"]:
        call = ast.parse(f"f({match['args']})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args:
            raise ValueError(f"method {spec!r}: arguments must be key=value pairs")
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    method = METHODS[match["base"]]
    return method, {**method.kwargs, **kwargs}


def make(spec: str, space: dict | None, metric: Any, mode: Any, seed: int) -> tuple[Searcher, bool]:
    """Build the searcher named by ``spec``; also return ``space_in_constructor``."""
    method, kwargs = parse_method(spec)
    return method.factory(space, metric, mode, seed, **kwargs), method.space_in_constructor


def available(spec: str) -> bool:
    """False when a package the method needs cannot be imported."""
    method, _ = parse_method(spec)
    for module in method.requires:
        try:
            __import__(module)
        except ImportError:
            return False
    return True
