"""HEBO through Ray's ``HEBOSearch``, with an exact space and a seeded acquisition search.

Used as users run it: ``HEBOSearch`` proposes ``max_concurrent`` points at
once (Tune's ``ConcurrencyLimiter`` sets it through ``set_max_concurrency``)
and returns None until the whole batch is back; its first ``1 + dimension``
points come from a scrambled Sobol sequence, the later ones from HEBO's GP
and its multi-objective acquisition (MACE). Suggest, observe and the
optimizer's set-up are Ray's own code; this subclass changes two things:

- the space: Ray's conversion (``HEBOSearch.convert_search_space``) raises
  ``ValueError`` on ``randn``/``qrandn`` and drops quantization (values off
  the grid; ``qrandint``/``qlograndint`` lose their inclusive upper bound).
  Here the space goes through ``encoding`` as for the ``tpe`` adapter:
  categories by index (``cat``), grids by integer index (``int``, ``pow_int``
  for ``qlograndint``) times ``q``, ``qloguniform`` as ``pow`` rounded to the
  grid, ``randn`` as a ``num`` ``u`` in ``[U_EPS, 1 - U_EPS]`` through the
  inverse normal CDF; ``uniform`` / ``loguniform`` / ``randint`` /
  ``lograndint`` as Ray builds them (``num``, ``pow``, ``int``, ``pow_int``);
- reproducibility: ``HEBOSearch(random_state_seed=seed)`` seeds numpy's and
  torch's global states, and we pass ``scramble_seed=seed`` for the Sobol
  points, but HEBO's acquisition search calls pymoo's ``minimize()`` without
  a seed (pymoo then seeds from the OS). While our ``suggest`` runs, HEBO's
  ``minimize`` gets ``seed=`` a number drawn from numpy's global state, so a
  seeded run repeats (as long as nothing else draws from numpy's or torch's
  global state between suggestions: those are HEBO's own streams).

HEBO 0.3.6 pins ``numpy<1.25`` and ``pymoo==0.6.0``; it runs on numpy 2 and
pymoo 0.6.2 installed with ``pip install --no-deps hebo==0.3.6 disjoint-set``
beside ``pymoo``, ``catboost``, ``gpytorch`` and ``pyDOE`` (``.ci/run``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from hebo.acq_optimizers import evolution_optimizer
from hebo.design_space.design_space import DesignSpace
from ray.tune.search import Searcher
from ray.tune.search.hebo import HEBOSearch
from ray.tune.utils import flatten_dict

from experiments.bench.domains import adopt_objectives
from experiments.bench.encoding import U_EPS, Param, config_from, to_params


def design_space(params: list[Param]) -> Any:
    """A HEBO ``DesignSpace`` with one parameter per non-constant ``Param``."""

    def one(p: Param) -> dict:
        if p.kind == "cat":
            return {"name": p.name, "type": "cat", "categories": list(range(len(p.values)))}
        if p.kind == "normal":
            return {"name": p.name, "type": "num", "lb": U_EPS, "ub": 1 - U_EPS}
        kind = {("int", False): "int", ("int", True): "pow_int", ("float", False): "num", ("float", True): "pow"}
        return {"name": p.name, "type": kind[p.kind, p.log], "lb": p.low, "ub": p.high}

    return DesignSpace().parse([one(p) for p in params if p.kind != "const"])


@contextmanager
def seeded_pymoo() -> Iterator[None]:
    """While active, HEBO's calls of pymoo's ``minimize`` get a seed drawn from numpy's global state."""
    unseeded = evolution_optimizer.minimize

    def minimize(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("seed", int(np.random.randint(2**31 - 1)))
        return unseeded(*args, **kwargs)

    evolution_optimizer.minimize = minimize
    try:
        yield
    finally:
        evolution_optimizer.minimize = unseeded


class HEBOTuneSearch(HEBOSearch):
    """Ray's ``HEBOSearch`` over an exact space, reproducible when seeded (see the module docstring).

    Args:
        metric, mode: as for any Searcher.
        seed: ``random_state_seed`` and HEBO's ``scramble_seed``.
        max_concurrent: batch size until a ``ConcurrencyLimiter`` sets it.
        **hebo_kwargs: passed on to ``hebo.optimizers.hebo.HEBO`` (e.g. ``rand_sample``, ``model_name``).
    """

    def __init__(self, *, metric: str | None = None, mode: str | None = None, seed: int | None = None,
                 max_concurrent: int = 8, **hebo_kwargs: Any) -> None:
        hebo_kwargs.setdefault("scramble_seed", seed)
        super().__init__(metric=metric, mode=mode, random_state_seed=seed, max_concurrent=max_concurrent,
                         **hebo_kwargs)
        self._params: list[Param] = []

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if self._opt:
            return False
        self._params = to_params(config)
        self._space = design_space(self._params)
        adopt_objectives(self, metric, mode)
        self._setup_optimizer()  # Ray's own set-up (a private method), as its set_search_properties calls it
        return True

    def suggest(self, trial_id: str) -> dict | None:
        with seeded_pymoo():
            config = super().suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return config
        return config_from(self._params, flatten_dict(config, delimiter="/"))

