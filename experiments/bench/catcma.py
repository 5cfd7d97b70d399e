"""CatCMA with margin (``cmaes.CatCMAwM``, Hamano et al. 2025) as a Ray Tune ``Searcher``.

Ray ships no wrapper, so this adapter maps a Tune space onto CatCMAwM's three
kinds of axis and drives its ask-and-tell loop asynchronously, as Optuna's
``CmaEsSampler`` does: every suggestion is asked from the current generation
and tagged with it; when ``population_size`` results of the current
generation are in, they are told and the next generation starts. Results of
trials suggested under an older generation are dropped (CatCMA has no
importance weights), as are failed trials and missing or non-finite metrics
(Optuna skips them too; new suggestions take their place).

Domains:
- ``choice`` -> a categorical axis (one category: a constant). Conditional
  choices (categories holding domains) are refused;
- ``uniform`` -> a continuous axis on the range; ``loguniform`` -> on the log range;
- integers and quantized domains (``randint``, ``lograndint``, ``qrandint``,
  ``qlograndint``, ``quniform``, ``qloguniform``) -> an integer axis whose
  values are exactly the values the domain's ``sample()`` can produce (in log
  space for log domains, so the Gaussian sees them evenly); grids of more than
  ``max_grid`` values -> a continuous axis, snapped to the grid;
- ``randn`` / ``qrandn`` -> a continuous axis on mean +- 5 sd (rounded to q).

No ``save``/``restore``: a benchmark adapter, not a user-facing searcher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from ray.tune.search import Searcher
from ray.tune.search.sample import Categorical, Domain, Integer, LogUniform, Normal

from experiments.bench.domains import adopt_objectives, grid_bounds, path_name, set_path, split_sampler, value_range, walk

WIDTH_SD = 5.0  # randn axes span mean +- WIDTH_SD sd


@dataclass(frozen=True)
class Axis:
    """How one parameter maps onto CatCMAwM: kind ``x`` (continuous), ``z`` (integer), ``c`` or ``const``."""

    path: tuple
    kind: str
    domain: Domain
    low: float = 0.0  # x: bounds of the axis (log space for log domains)
    high: float = 0.0
    log: bool = False
    values: tuple = ()  # z: the domain's values, in order; c: the categories; const: the one value

    @property
    def points(self) -> list[float]:
        """A z axis's values as CatCMAwM sees them (log values for log domains)."""
        return [math.log(v) if self.log else float(v) for v in self.values]

    def decode(self, raw: Any) -> Any:
        """The parameter's value from this axis's part of a CatCMAwM solution."""
        if self.kind == "const":
            return self.values[0]
        if self.kind == "c":  # one-hot
            return self.values[int(np.argmax(raw))]
        if self.kind == "z":  # one of the axis's points
            return self.values[int(np.argmin(np.abs(np.asarray(self.points) - raw)))]
        value = float(np.clip(raw, self.low, self.high))
        value = math.exp(value) if self.log else value
        sampler, q = split_sampler(self.domain)
        if isinstance(sampler, Normal):
            return float(np.round(value / q) * q) if q else value
        return _snap(self.domain, value)


def _snap(domain: Domain, value: float) -> Any:
    """The valid value of a numeric domain nearest ``value`` (grid, range, integer)."""
    lo, hi = value_range(domain)
    _, q = split_sampler(domain)
    if q is not None:
        value = round(value / q) * q
    elif isinstance(domain, Integer):
        value = round(value)
    return domain.cast(min(max(value, lo), hi))


def _grid(domain: Domain, max_grid: int) -> list | None:
    """Every value the numeric domain can produce, in order; None when there are more than ``max_grid``."""
    lo, hi = value_range(domain)
    _, q = split_sampler(domain)
    if q is None:
        if not isinstance(domain, Integer) or hi - lo + 1 > max_grid:
            return None
        return list(range(int(lo), int(hi) + 1))
    first, last = (int(round(b / q)) for b in (lo, hi))
    if last - first + 1 > max_grid:
        return None
    return [domain.cast(k * q) for k in range(first, last + 1)]


def make_axes(space: dict, max_grid: int) -> list[Axis]:
    """One axis per domain of ``space`` (see the module docstring)."""
    axes = []
    for path, domain in walk(space):
        sampler, q = split_sampler(domain)
        if isinstance(domain, Categorical):
            if any(isinstance(c, (dict, list, Domain)) for c in domain.categories):
                raise ValueError(f"{path_name(path)!r}: conditional choices are not supported by the CatCMA adapter")
            kind = "c" if len(domain.categories) > 1 else "const"
            axes.append(Axis(path, kind, domain, values=tuple(domain.categories)))
        elif isinstance(sampler, Normal):
            axes.append(Axis(path, "x", domain, sampler.mean - WIDTH_SD * sampler.sd,
                             sampler.mean + WIDTH_SD * sampler.sd))
        else:
            log = isinstance(sampler, LogUniform)
            grid = _grid(domain, max_grid) if (q is not None or isinstance(domain, Integer)) else None
            if grid is not None and len(grid) == 1:
                axes.append(Axis(path, "const", domain, values=tuple(grid)))
            elif grid is not None:
                axes.append(Axis(path, "z", domain, log=log, values=tuple(grid)))
            else:
                lo, hi = value_range(domain) if q is None else (grid_bounds(domain, q)[0] * q,
                                                                 grid_bounds(domain, q)[1] * q)
                lo, hi = (math.log(lo), math.log(hi)) if log else (lo, hi)
                axes.append(Axis(path, "x", domain, lo, hi, log=log))
    return axes


class CatCMASearcher(Searcher):
    """CatCMA with margin over a Tune space (see the module docstring).

    Args:
        space: Tune search space, or None to receive it through ``set_search_properties``.
        metric, mode: as for any Searcher (one metric).
        seed: seed of CatCMAwM's generator.
        popsize: population size (None: CatCMAwM's default, 4 + floor(3 ln dimension)).
        max_grid: integer/quantized domains with more values become continuous axes.
    """

    def __init__(self, space: dict | None = None, *, metric: str | None = None, mode: str | None = None,
                 seed: int | None = None, popsize: int | None = None, max_grid: int = 1000) -> None:
        super().__init__(metric=metric, mode=mode)
        if popsize is not None and popsize < 2:
            raise ValueError(f"popsize must be at least 2, got {popsize=}")
        self._seed, self._popsize, self._max_grid = seed, popsize, max_grid
        self._optimizer: Any = None
        self._axes: list[Axis] = []
        self._live: dict[str, tuple[int, Any]] = {}
        self._told: list[tuple[Any, float]] = []
        if space:
            self._setup(space)

    def _setup(self, space: dict) -> None:
        from cmaes import CatCMAwM

        self._axes = make_axes(space, self._max_grid)
        kinds = {k: [a for a in self._axes if a.kind == k] for k in ("x", "z", "c")}
        self._optimizer = CatCMAwM(
            x_space=[[a.low, a.high] for a in kinds["x"]] or None,
            z_space=[a.points for a in kinds["z"]] or None,
            c_space=[len(a.values) for a in kinds["c"]] or None,
            population_size=self._popsize, seed=self._seed)

    @property
    def generation(self) -> int:
        return self._optimizer.generation if self._optimizer is not None else 0

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if self._optimizer is not None:
            return False
        self._setup(config)
        return adopt_objectives(self, metric, mode)

    def suggest(self, trial_id: str) -> dict | None:
        if self._optimizer is None:
            raise RuntimeError("CatCMASearcher has no search space: pass one or use set_search_properties")
        solution = self._optimizer.ask()
        self._live[trial_id] = (self._optimizer.generation, solution)
        raw = {"x": iter(solution.x if solution.x is not None else ()),
               "z": iter(solution.z if solution.z is not None else ()),
               "c": iter(solution.c if solution.c is not None else ())}
        config: dict = {}
        for axis in self._axes:
            set_path(config, axis.path, axis.decode(next(raw[axis.kind]) if axis.kind != "const" else None))
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        generation, solution = self._live.pop(trial_id, (None, None))
        if solution is None or generation != self._optimizer.generation or error or not result:
            return
        value = result.get(self._metric)
        if value is None or not math.isfinite(float(value)):
            return
        self._told.append((solution, float(value) if self._mode == "min" else -float(value)))
        if len(self._told) == self._optimizer.population_size:
            self._optimizer.tell(self._told)
            self._told = []


def make_catcma(space: dict | None, metric: str, mode: str, seed: int, **kwargs: Any) -> CatCMASearcher:
    """Factory for the methods registry: built without a space, as users build searchers for a Tuner."""
    return CatCMASearcher(metric=metric, mode=mode, seed=seed, **kwargs)
