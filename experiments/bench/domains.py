"""The only experiments module that reads Ray Tune's domain types.

It walks a (possibly nested) Tune search space, names each domain's kind, says
whether a value is one the domain's own ``sample()`` could produce, and clips a
value into a domain's range. Problems use it to keep objectives defined for
out-of-range values some searchers propose (HyperOpt's integer conversions);
the runner uses it to count invalid suggestions; the TPE adapter uses it to
reproduce every domain exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Union

import numpy as np
from ray.tune.search.sample import (
    Categorical,
    Domain,
    Float,
    Integer,
    LogUniform,
    Normal,
    Quantized,
    Uniform,
)

Path = tuple[Union[str, int], ...]

#: Every kind of Tune domain, as named by :func:`domain_kind`.
KINDS = (
    "choice",
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "randn",
    "qrandn",
    "randint",
    "qrandint",
    "lograndint",
    "qlograndint",
)


def walk(space: Any, path: Path = ()) -> Iterator[tuple[Path, Domain]]:
    """Yield ``(path, domain)`` for every Domain in a nested dict, depth first."""
    if isinstance(space, Domain):
        yield path, space
    elif isinstance(space, dict):
        for key, value in space.items():
            yield from walk(value, path + (key,))


def path_name(path: Path) -> str:
    """``("net", "lr") -> "net/lr"``, as Tune flattens nested config keys."""
    return "/".join(str(key) for key in path)


def get_path(config: dict, path: Path) -> Any:
    node: Any = config
    for key in path:
        node = node[key]
    return node


def set_path(config: dict, path: Path, value: Any) -> None:
    node = config
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def random_config(space: dict, rng: np.random.Generator) -> dict:
    """One config of ``space`` drawn as random search draws it: each domain's own ``sample()``."""
    config: dict = {}
    for path, domain in walk(space):
        set_path(config, path, domain.sample(random_state=rng))
    return config


def split_sampler(domain: Domain) -> tuple[Any, float | None]:
    """Return the base sampler and the quantization step (None when not quantized)."""
    sampler = domain.get_sampler()
    if isinstance(sampler, Quantized):
        return sampler.get_sampler(), sampler.q
    return sampler, None


def domain_kind(domain: Domain) -> str:
    """Name of the ``ray.tune`` function that makes this domain, e.g. ``"qlograndint"``."""
    sampler, q = split_sampler(domain)
    prefix = "q" if q is not None else ""
    if isinstance(domain, Categorical) and isinstance(sampler, Uniform):
        return "choice"
    if isinstance(domain, Float):
        if isinstance(sampler, LogUniform):
            return prefix + "loguniform"
        if isinstance(sampler, Uniform):
            return prefix + "uniform"
        if isinstance(sampler, Normal):
            return prefix + "randn"
    if isinstance(domain, Integer):
        if isinstance(sampler, LogUniform):
            return prefix + "lograndint"
        if isinstance(sampler, Uniform):
            return prefix + "randint"
    raise ValueError(f"unsupported domain {domain!r} with sampler {domain.get_sampler()!r}")


def grid_bounds(domain: Float | Integer, q: float) -> tuple[float, float]:
    """Indices of the first and last multiples of ``q`` inside the domain (Tune's rule)."""

    def index(bound: float, round_fn: Any) -> float:
        scaled = bound / q
        nearest = round(scaled)
        return nearest if math.isclose(scaled, nearest) else round_fn(scaled)

    return index(domain.lower, math.ceil), index(domain.upper, math.floor)


def value_range(domain: Domain) -> tuple[float, float]:
    """Smallest and largest value ``domain.sample()`` can return (inclusive).

    ``(-inf, inf)`` for randn/qrandn. Raises for categorical domains.
    """
    kind = domain_kind(domain)
    if kind in ("randn", "qrandn"):
        return -math.inf, math.inf
    if kind == "choice":
        raise ValueError("a choice domain has no numeric range")
    _, q = split_sampler(domain)
    if q is None:
        if isinstance(domain, Integer):
            return domain.lower, domain.upper - 1  # randint, lograndint: upper exclusive
        return domain.lower, domain.upper
    lo, hi = grid_bounds(domain, q)
    if isinstance(domain, Integer) and q == 1:
        hi -= 1  # qrandint/qlograndint with q=1 keep the exclusive upper bound
    return lo * q, hi * q


def is_valid_value(domain: Domain, value: Any) -> bool:
    """True when ``value`` is one ``domain.sample()`` could have produced."""
    kind = domain_kind(domain)
    if kind == "choice":
        return any(value is c or value == c for c in domain.categories)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    if isinstance(domain, Integer) and not float(value).is_integer():
        return False
    if not math.isfinite(float(value)):
        return False
    lo, hi = value_range(domain)
    tol = 1e-9 * max(1.0, abs(float(value)))
    if not (lo - tol <= float(value) <= hi + tol):
        return False
    _, q = split_sampler(domain)
    if q is not None:
        k = float(value) / q
        if not math.isclose(k, round(k), rel_tol=1e-9, abs_tol=1e-9):
            return False
    return True


def clip_value(domain: Domain, value: Any) -> Any:
    """Clip a numeric value into the domain's range; leave categories and randn alone."""
    if domain_kind(domain) in ("choice", "randn", "qrandn"):
        return value
    lo, hi = value_range(domain)
    return domain.cast(min(max(value, lo), hi))


def clip_config(space: dict, config: dict) -> dict:
    """A copy of ``config`` with every numeric parameter clipped into its domain."""
    out = _copy_nested(config)
    for path, domain in walk(space):
        set_path(out, path, clip_value(domain, get_path(config, path)))
    return out


def invalid_paths(space: dict, config: dict) -> list[str]:
    """Names of parameters that are missing, unresolved or not valid for their domain."""
    bad = []
    for path, domain in walk(space):
        try:
            value = get_path(config, path)
        except (KeyError, TypeError):
            bad.append(path_name(path))
            continue
        if isinstance(value, Domain) or not is_valid_value(domain, value):
            bad.append(path_name(path))
    return bad


def _copy_nested(config: Any) -> Any:
    if isinstance(config, dict):
        return {key: _copy_nested(value) for key, value in config.items()}
    return config


def adopt_objectives(searcher: Any, metric: str | None, mode: str | None) -> bool:
    """Take Tune's metric and mode where given, as Ray's own searchers do; True: the space was accepted."""
    if metric:
        searcher._metric = metric
    if mode:
        searcher._mode = mode
    return True
