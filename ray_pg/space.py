"""Translate a Ray Tune search space into parameters with actors, and back.

This is the only module that reads Tune's domain types. Each domain becomes a
parameter that owns one raw variable of the policy:

- ``tune.choice``                      -> category index, categorical actor;
- bounded numerics (uniform, loguniform, randint, lograndint and their
  quantized forms)                     -> Gaussian ``z``; ``u = sigmoid(z)`` is
  placed on the range (in log space for log domains), then floored or snapped
  to the quantization grid exactly as Tune's own ``sample()`` does;
- ``tune.randn`` / ``tune.qrandn``     -> Gaussian on the standardised value.

A ``tune.choice`` whose categories hold their own domains (a conditional
space) is a categorical over its branches; each branch's domains get parameters
of their own, active only in the samples that chose that branch. An inactive
parameter's raw value is NaN, which the policy reads as "not drawn".

Every decoded value is one the domain's own ``sample()`` could produce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np
from ray.tune.search.sample import (
    Categorical,
    Domain,
    Float,
    Function,
    Integer,
    LogUniform,
    Normal,
    Quantized,
    Uniform,
)




@dataclass(frozen=True)
class Branch:
    """A path step into the category (branch) of a conditional choice."""

    index: int


Path = tuple[Union[str, int, Branch], ...]

# Initial sd of the Gaussian over z: sigmoid(N(0, 1.7^2)) is close to uniform on
# (0, 1), so the first batch is close to random search.
BOUNDED_INITIAL_SD = 1.7
# Keeps encoded boundary values finite: logit(1e-9) ~ -20.7.
_U_EPS = 1e-9


def path_name(path: Path) -> str:
    """``("model", "layers", 0)`` -> ``"model/layers/0"``, as Tune flattens config keys.

    A branch of a conditional choice shows as ``opt[1]``: ``("opt", Branch(1), "eps")``
    -> ``"opt[1]/eps"``.
    """
    parts: list[str] = []
    for key in path:
        if isinstance(key, Branch):
            parts[-1] += f"[{key.index}]"
        else:
            parts.append(str(key))
    return "/".join(parts)


def _sigmoid(z: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * z))


def _logit(u: float) -> float:
    u = min(max(u, _U_EPS), 1.0 - _U_EPS)
    return math.log(u / (1.0 - u))


def _grid_index(bound: float, q: float, round_fn: Callable[[float], float]) -> float:
    """Index of ``bound`` on the grid of multiples of ``q``, rounded inwards (as Tune does)."""
    scaled = bound / q
    nearest = round(scaled)
    return nearest if math.isclose(scaled, nearest) else round_fn(scaled)


@dataclass(frozen=True)
class ChoiceParam:
    """``tune.choice``: the raw variable is the category index.

    ``branches``: indices of the categories that hold domains of their own
    (conditional branches), found once when the space is read.
    """

    path: Path
    categories: tuple
    branches: frozenset[int] = frozenset()

    def column(self) -> int:
        """The policy column: a categorical over the category indices."""
        return len(self.categories)

    def decode(self, raw: float) -> Any:
        return self.categories[int(raw)]

    def encode(self, value: Any) -> float:
        for index, category in enumerate(self.categories):
            if type(category) is type(value) and category == value:
                return float(index)
        raise ValueError(f"{path_name(self.path)!r}: {value!r} is not one of the choices {list(self.categories)!r}")

    def describe(self, probs: np.ndarray) -> dict[str, float]:
        name = path_name(self.path)
        return {f"{name}:p[{f'branch {i}' if i in self.branches else category}]": float(p)
                for i, (category, p) in enumerate(zip(self.categories, probs))}

    def signature(self) -> dict:
        return {"path": path_name(self.path), "kind": "choice", "categories": [_shape(c) for c in self.categories]}


@dataclass(frozen=True)
class BoundedParam:
    """A numeric domain with finite bounds, reached through a squashed Gaussian.

    A continuous ``x`` is spread over ``[low, high)`` (log-uniformly when ``log``),
    then turned into the value: for floats ``x`` itself, or ``x`` snapped to the
    multiples of ``q``; for integers ``floor(x)`` is a grid index and the value is
    ``index * q``. ``first``/``last`` are the smallest and largest valid values
    (integers: grid indices).
    """

    path: Path
    low: float
    high: float
    log: bool
    integer: bool
    q: float | None
    first: float
    last: float

    def column(self) -> tuple[float, float]:
        """The policy column: a Gaussian over z, (mean, log sd)."""
        return 0.0, math.log(BOUNDED_INITIAL_SD)

    def _x(self, z: float) -> float:
        u = _sigmoid(z)
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def _u(self, x: float) -> float:
        if self.log:
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def decode(self, raw: float) -> int | float:
        x = self._x(raw)
        if self.integer:
            index = min(max(math.floor(x), self.first), self.last)
            return int(index * (self.q or 1))
        if self.q:
            index = min(max(np.round(x / self.q), self.first), self.last)
            return float(index * self.q)
        return float(min(max(x, self.first), self.last))

    def encode(self, value: Any) -> float:
        name = path_name(self.path)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name!r}: expected a number, got {value!r}")
        if self.integer:
            step = self.q or 1
            index = value / step
            if index != int(index) or not self.first <= index <= self.last:
                raise ValueError(f"{name!r}: {value!r} is not a multiple of {step} in "
                                 f"[{self.first * step}, {self.last * step}]")
            # The centre of the index's bin [index, index + 1).
            x = math.sqrt(index * (index + 1)) if self.log else index + 0.5
        else:
            x = float(value)
            if self.q:
                index = np.round(x / self.q)
                if not (self.first <= index <= self.last and math.isclose(index * self.q, x)):
                    raise ValueError(f"{name!r}: {value!r} is not a multiple of {self.q} in "
                                     f"[{self.first * self.q}, {self.last * self.q}]")
            elif not self.first <= x <= self.high:
                raise ValueError(f"{name!r}: {value!r} is outside [{self.low}, {self.high})")
        return _logit(self._u(x))

    def describe(self, gaussian: tuple[float, float]) -> dict[str, float]:
        name, (mean, sd) = path_name(self.path), gaussian
        unit = (self.q or 1) if self.integer else 1  # integers: grid index -> value
        spread = (self._x(mean + sd) - self._x(mean - sd)) / 2.0
        return {f"{name}:mean": unit * self._x(mean), f"{name}:sd": unit * spread}

    def signature(self) -> dict:
        return {"path": path_name(self.path), "kind": "bounded", "low": self.low, "high": self.high,
                "log": self.log, "integer": self.integer, "q": self.q}


@dataclass(frozen=True)
class NormalParam:
    """``tune.randn`` / ``tune.qrandn``: the raw variable is (value - mean) / sd."""

    path: Path
    mean: float
    sd: float
    q: float | None

    def column(self) -> tuple[float, float]:
        """The policy column: a Gaussian over the standardised value, (mean, log sd)."""
        return 0.0, 0.0

    def decode(self, raw: float) -> float:
        value = self.mean + self.sd * raw
        return float(np.round(value / self.q) * self.q) if self.q else float(value)

    def encode(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value):
            raise ValueError(f"{path_name(self.path)!r}: expected a finite number, got {value!r}")
        return (float(value) - self.mean) / self.sd

    def describe(self, gaussian: tuple[float, float]) -> dict[str, float]:
        name, (mean, sd) = path_name(self.path), gaussian
        return {f"{name}:mean": self.mean + self.sd * mean, f"{name}:sd": self.sd * sd}

    def signature(self) -> dict:
        return {"path": path_name(self.path), "kind": "normal", "mean": self.mean, "sd": self.sd, "q": self.q}


Param = Union[ChoiceParam, BoundedParam, NormalParam]


def to_param(path: Path, domain: Domain) -> Param:
    """The one dispatch from a Tune domain to a parameter; anything else is refused."""
    name = path_name(path)
    if isinstance(domain, Function):
        raise ValueError(f"{name!r}: tune.sample_from is not supported by PGSearcher, which must know "
                         "each parameter's distribution; use tune.choice/uniform/loguniform/randint/... "
                         "or compute the value inside the trainable")
    if domain.is_grid():
        raise ValueError(f"{name!r}: tune.grid_search is not supported by PGSearcher; use "
                         "tune.choice([...]) to let the policy pick among the values")
    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, Quantized):
        q, sampler = sampler.q, sampler.get_sampler()
    if isinstance(domain, Categorical):
        if not domain.categories:
            raise ValueError(f"{name!r}: tune.choice needs at least one category")
        categories = tuple(domain.categories)
        return ChoiceParam(path, categories, frozenset(i for i, c in enumerate(categories) if _holds_domain(c)))
    if isinstance(domain, Float) and isinstance(sampler, Normal):
        return NormalParam(path, float(sampler.mean), float(sampler.sd), q)
    if isinstance(domain, (Float, Integer)) and isinstance(sampler, (Uniform, LogUniform)):
        return _bounded(path, domain, isinstance(sampler, LogUniform), q)
    raise ValueError(f"{name!r}: unsupported domain {domain!r} with sampler {sampler!r}; use one of "
                     "tune.choice, uniform, quniform, loguniform, qloguniform, randn, qrandn, "
                     "randint, qrandint, lograndint, qlograndint")


def _bounded(path: Path, domain: Float | Integer, log: bool, q: float | None) -> BoundedParam:
    """Bounds of the continuous draw and of the valid values, mirroring Tune's samplers."""
    lower, upper = domain.lower, domain.upper
    if isinstance(domain, Integer):
        if q is None or q == 1:  # randint/lograndint: [lower, upper), upper excluded
            q, low, high = None, lower, upper
        else:  # qrandint/qlograndint: grid indices [ceil(lower/q), floor(upper/q)], both included
            low = _grid_index(lower, q, math.ceil)
            high = _grid_index(upper, q, math.floor) + 1
        first, last = low, high - 1
        if last < first or (log and low <= 0):
            raise ValueError(f"{path_name(path)!r}: integer domain has no values to sample, "
                             f"got {lower=}, {upper=}, {q=}")
        return BoundedParam(path, float(low), float(high), log, True, q, int(first), int(last))
    if q:  # quniform/qloguniform: multiples of q in [lower, upper], both included
        first = _grid_index(lower, q, math.ceil)
        last = _grid_index(upper, q, math.floor)
        low, high = first * q, last * q
    else:  # uniform/loguniform: [lower, upper)
        low, high = lower, upper
        first, last = lower, float(np.nextafter(upper, lower))
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low or (log and low <= 0):
        raise ValueError(f"{path_name(path)!r}: float domain needs finite bounds with lower < upper "
                         f"(lower > 0 on a log scale), got {lower=}, {upper=}, {q=}")
    return BoundedParam(path, float(low), float(high), log, False, q, first, last)


def _shape(value: Any) -> str:
    """A category's repr with each domain as its kind: stable across processes."""
    if isinstance(value, Domain):
        return f"<{type(value).__name__}>"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {_shape(v)}" for key, v in value.items()) + "}"
    if isinstance(value, (list, tuple)) and _holds_domain(value):
        return "[" + ", ".join(_shape(v) for v in value) + "]"
    return repr(value)


def _same(a: Any, b: Any) -> bool:
    """Equality that tolerates values whose == is not a bool (arrays)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _holds_domain(value: Any) -> bool:
    if isinstance(value, Domain) or (isinstance(value, dict) and "grid_search" in value):
        return True
    if isinstance(value, dict):
        return any(_holds_domain(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_domain(v) for v in value)
    return False


class Space:
    """A Tune search space as an ordered list of parameters plus its constant skeleton.

    Parameters come in walk order, so a conditional choice precedes the
    parameters of its branches.
    """

    def __init__(self, config: dict):
        if not isinstance(config, dict):
            raise ValueError(f"the search space must be a dict, got {type(config).__name__}")
        self.config = config
        self.params: list[Param] = []
        # (parameter, its choice, the branch it belongs to), parents first.
        self._conditions: list[tuple[int, int, int]] = []
        self._constants: dict[Path, Any] = {}
        self._walk(config, (), None)
        self._index = {param.path: i for i, param in enumerate(self.params)}
        self._index_by_name = {path_name(param.path): i for i, param in enumerate(self.params)}

    def _walk(self, node: Any, path: Path, condition: tuple[int, int] | None) -> None:
        """Collect the parameters with the branch each depends on, and the constants."""
        if isinstance(node, dict) and set(node) == {"grid_search"}:
            to_param(path, Categorical(node["grid_search"]).grid())  # raises the grid_search error
        elif isinstance(node, Domain):
            index = len(self.params)
            param = to_param(path, node)
            self.params.append(param)
            if condition is not None:
                self._conditions.append((index, *condition))
            if isinstance(param, ChoiceParam):
                for branch in sorted(param.branches):
                    self._walk(param.categories[branch], path + (Branch(branch),), (index, branch))
        elif isinstance(node, dict) and node:
            for key, child in node.items():
                self._walk(child, path + (key,), condition)
        elif isinstance(node, list) and node:
            for i, child in enumerate(node):
                self._walk(child, path + (i,), condition)
        else:
            self._constants[path] = node

    def columns(self) -> list[int | tuple[float, float]]:
        """The policy's columns, one per parameter (see ``Policy``)."""
        return [param.column() for param in self.params]

    def active(self, raw: np.ndarray) -> np.ndarray:
        """Which parameters ``raw`` uses: all but those of the branches it did not choose."""
        active = np.ones(len(self.params), dtype=bool)
        for index, choice, branch in self._conditions:  # parents first
            active[index] = active[choice] and raw[choice] == branch
        return active

    def mask_inactive(self, raw: np.ndarray) -> np.ndarray:
        """``raw`` with NaN for the parameters of every branch that was not chosen."""
        return np.where(self.active(raw), raw, np.nan) if self._conditions else raw

    def decode(self, raw: np.ndarray) -> dict:
        """Raw vector -> full config: every active domain resolved, constants kept."""
        return self._fill(self.config, (), raw)

    def _fill(self, node: Any, path: Path, raw: np.ndarray) -> Any:
        index = self._index.get(path)
        if index is not None:
            param = self.params[index]
            value = param.decode(raw[index])
            if isinstance(param, ChoiceParam) and int(raw[index]) in param.branches:
                return self._fill(value, path + (Branch(int(raw[index])),), raw)
            return value
        if isinstance(node, dict):
            return {key: self._fill(child, path + (key,), raw) for key, child in node.items()}
        if isinstance(node, list):
            return [self._fill(child, path + (i,), raw) for i, child in enumerate(node)]
        return node

    def encode(self, config: dict) -> np.ndarray:
        """A (possibly partial) config -> raw vector, NaN where a parameter is not given.

        Keys may be nested or flattened paths ("a/b"); constants of the space may be
        repeated. A conditional choice is named by its branch's values (nested):
        the one branch whose constants, keys and values they fit. Raises ValueError
        for a value that the domain could not produce, a key that is not in the
        space, or values that fit no branch or several.
        """
        raw = np.full(len(self.params), np.nan)
        self._encode_into(config, (), raw)
        return raw

    def _encode_into(self, node: Any, path: Path, raw: np.ndarray) -> None:
        index = self._index.get(path, self._index_by_name.get(path_name(path)))
        constants = self._constants
        if index is not None:
            param = self.params[index]
            if isinstance(param, ChoiceParam) and param.branches:
                raw[:] = self._encode_branch(index, node, raw)
            else:
                raw[index] = param.encode(node)
        elif isinstance(node, dict) and node:
            for key, child in node.items():
                self._encode_into(child, path + (key,), raw)
        elif isinstance(node, list) and node and not _same(constants.get(path), node):
            for i, child in enumerate(node):
                self._encode_into(child, path + (i,), raw)
        elif path not in constants:
            raise ValueError(f"{path_name(path)!r} is not a parameter of the search space; "
                             f"its parameters are {list(self._index_by_name)}")
        elif not _same(constants[path], node):
            raise ValueError(f"{path_name(path)!r} is the constant {constants[path]!r} in the search space, "
                             f"got {node!r}")

    def _encode_branch(self, index: int, value: Any, raw: np.ndarray) -> np.ndarray:
        """``raw`` with the one category of a conditional choice that ``value`` fits."""
        param = self.params[index]
        fits, reasons = [], []
        for i, category in enumerate(param.categories):
            candidate = raw.copy()
            candidate[index] = i
            if i not in param.branches:
                if _same(category, value):
                    fits.append(candidate)
                continue
            try:
                self._encode_into(value, param.path + (Branch(i),), candidate)
                fits.append(candidate)
            except ValueError as exc:
                reasons.append(f"branch {i}: {exc}")
        if len(fits) == 1:
            return fits[0]
        name = path_name(param.path)
        if not fits:
            raise ValueError(f"{name!r}: {value!r} fits none of the choices; " + "; ".join(reasons))
        raise ValueError(f"{name!r}: {value!r} fits {len(fits)} choices; add a value that tells them apart")

    def describe(self, columns: list) -> dict[str, float]:
        """The policy in parameter units, from ``Policy.columns()``."""
        described: dict[str, float] = {}
        for param, column in zip(self.params, columns):
            described.update(param.describe(column))
        return described

    def signature(self) -> list[dict]:
        """A JSON description that tells whether a checkpoint belongs to this space."""
        return [param.signature() for param in self.params]
