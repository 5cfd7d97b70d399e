"""Nevergrad's NGOpt through Ray's ``NevergradSearch``, with the run's budget and workers and an exact space.

Users write ``NevergradSearch(optimizer=ng.optimizers.NGOpt,
optimizer_kwargs={"budget": ..., "num_workers": ...})`` and hand Tune a
``param_space``. NGOpt picks its algorithm from the budget, the number of
workers and the kinds of parameter, so this subclass gives it the real ones:
``budget`` is ``set_search_properties``' ``num_samples`` (Tune passes it; so
does the benchmark runner), ``num_workers`` the limit that Tune's
``ConcurrencyLimiter`` announces through ``set_max_concurrency`` (the limiter
still enforces it: we return False). Everything else (ask, tell, the
optimizer's set-up) is Ray's own code.

Ray's space conversion (``NevergradSearch.convert_search_space``) cannot
express the benchmark's spaces, so this subclass converts the space itself
(through ``encoding``) and maps each suggestion back:

- ``randn`` / ``qrandn``: Ray builds ``ng.p.Scalar(-inf, inf)``, whose values
  are all NaN; here an unbounded
  ``ng.p.Scalar(init=mean)`` with ``sigma=sd`` (Nevergrad's own Gaussian
  prior: its random draws are the domain's), rounded to ``q`` for ``qrandn``;
- quantized domains: Ray drops ``q`` (values off the grid, and ``qrandint`` /
  ``qlograndint`` lose their inclusive upper bound); here ``quniform``,
  ``qrandint`` and ``qlograndint`` become an integer grid index (log scale
  for ``qlograndint``) times ``q``, ``qloguniform`` a log float rounded to the grid;
- ``choice``: Ray builds ``ng.p.Choice(categories)``, whose values are random
  draws from softmax weights, so NGOpt sees a noisy problem; here
  ``Choice(indices, deterministic=True)`` (the argmax), the fair setting for
  a deterministic objective (``deterministic=False`` gives Ray's);
- ``uniform``, ``loguniform`` (``ng.p.Log``, ``exponent=e``), ``randint`` and
  ``lograndint`` (integer casting, ``upper - 1``): as Ray builds them.

Seeded: the parametrization's ``random_state`` is a ``RandomState(seed)``,
from which NGOpt and the algorithm it picks draw everything.
"""

from __future__ import annotations

import math
from typing import Any

import nevergrad as ng
import numpy as np
from ray.tune.search import Searcher
from ray.tune.search.nevergrad import NevergradSearch
from ray.tune.utils import flatten_dict

from experiments.bench.domains import adopt_objectives
from experiments.bench.encoding import Param, config_from, to_params


def parametrization(params: list[Param], seed: int | None, deterministic: bool = True) -> Any:
    """An ``ng.p.Dict`` with one parameter per non-constant ``Param``, seeded by ``seed``."""

    def one(p: Param) -> Any:
        if p.kind == "cat":
            return ng.p.Choice(list(range(len(p.values))), deterministic=deterministic)
        if p.kind == "normal":
            return ng.p.Scalar(init=p.mean).set_mutation(sigma=p.sd)
        scalar = ng.p.Log(lower=p.low, upper=p.high, exponent=math.e) if p.log else \
            ng.p.Scalar(lower=p.low, upper=p.high)
        return scalar.set_integer_casting() if p.kind == "int" else scalar

    space = ng.p.Dict(**{p.name: one(p) for p in params if p.kind != "const"})
    space.random_state = np.random.RandomState(seed)
    return space


class NGOptSearch(NevergradSearch):
    """Ray's ``NevergradSearch`` with NGOpt (or another optimizer), the run's budget and workers (module docstring).

    Args:
        metric, mode: as for any Searcher.
        seed: seed of the parametrization's random state.
        optimizer: name in ``ng.optimizers`` (an Optimizer class or ConfiguredOptimizer).
        deterministic: ``choice`` domains pick the argmax category (False: Ray's random draws).
        budget, num_workers: NGOpt's, when Tune does not pass ``num_samples`` / no limiter announces
            its limit (None: Nevergrad's defaults, no budget and one worker).
    """

    def __init__(self, *, metric: str | None = None, mode: str | None = None, seed: int | None = None,
                 optimizer: str = "NGOpt", deterministic: bool = True, budget: int | None = None,
                 num_workers: int | None = None) -> None:
        super().__init__(optimizer=getattr(ng.optimizers, optimizer), metric=metric, mode=mode)
        self._seed, self._deterministic = seed, deterministic
        self._budget, self._num_workers = budget, num_workers
        self._params: list[Param] = []

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self._num_workers = max_concurrent
        return False  # the ConcurrencyLimiter keeps limiting; we only learn the number

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if self._nevergrad_opt is not None or self._space is not None:
            return False
        num_samples = spec.get("num_samples")
        if isinstance(num_samples, int) and num_samples > 0:  # Tune's -1 means "until stopped"
            self._budget = num_samples
        self._params = to_params(config)
        self._space = parametrization(self._params, self._seed, self._deterministic)
        self._optimizer_kwargs = {"budget": self._budget, "num_workers": self._num_workers or 1}
        adopt_objectives(self, metric, mode)
        self._setup_nevergrad()  # Ray's own set-up (a private method), as its set_search_properties calls it
        return True

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return config
        return config_from(self._params, flatten_dict(config, delimiter="/"), normal_as_unit=False)

    @property
    def optimizer(self) -> Any:
        """The Nevergrad optimizer (for NGOpt: ``.optim`` is the algorithm it picked)."""
        return self._nevergrad_opt

