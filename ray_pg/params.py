"""One parameter per Tune domain: its policy column, and the maps raw <-> value.

- ``tune.choice``                      -> category index, categorical actor;
- bounded numerics (uniform, loguniform, randint, lograndint and their
  quantized forms)                     -> Gaussian ``z``; ``u = sigmoid(z)`` is
  placed on the range (in log space for log domains), then floored or snapped
  to the quantization grid exactly as Tune's own ``sample()`` does;
- ``tune.randn`` / ``tune.qrandn``     -> Gaussian on the standardised value.

Every decoded value is one the domain's own ``sample()`` could produce.
``encode`` takes a given value (a point to evaluate) and returns the raw value
for the policy, clipped to a finite range so that no point can push the policy
to infinity, with the value itself as a plain int or float: it reaches the
trial unchanged. A value the domain cannot produce is refused.

Over 300 lines: three parameter kinds, each with its encode, decode, describe and
signature kept side by side, since each pair must invert the other exactly.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np
from ray.tune.search.sample import Categorical, Domain, Float, Integer, LogUniform, Normal, Quantized, Uniform

from ray_pg.config_json import encode_value, fingerprint


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
# Bound on a given randn value's raw encoding, in sds: gradients stay finite.
NORMAL_RAW_LIMIT = 50.0


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


def _round(x: float) -> float:
    """``np.round`` of a finite float (half to even, -0.0 for -0.5 <= x < 0) without its 2 us a call."""
    return math.copysign(round(x), x)


def _logit(u: float) -> float:
    u = min(max(u, _U_EPS), 1.0 - _U_EPS)
    return math.log(u / (1.0 - u))


def _grid_index(bound: float, q: float, round_fn: Callable[[float], float]) -> float:
    """Index of ``bound`` on the grid of multiples of ``q``, rounded inwards (as Tune does)."""
    scaled = bound / q
    nearest = round(scaled)
    return nearest if math.isclose(scaled, nearest) else round_fn(scaled)


def plain(value: Any) -> Any:
    """numpy scalars (from Tune's dataframes) as the Python values they stand for."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def matches(category: Any, value: Any) -> bool:
    """Whether a given value names a category: equal and of the same kind (True is not 1, 4.0 is not 4)."""
    category, value = plain(category), plain(value)
    if type(category) is not type(value):
        return False
    if type(value) is float and math.isnan(value):
        return math.isnan(category)
    try:
        return bool(category == value)
    except (TypeError, ValueError):  # values whose == is not a bool (arrays)
        return category is value


def _number(name: str, value: Any) -> int | float:
    value = plain(value)
    if type(value) not in (int, float):
        raise ValueError(f"{name!r}: expected a number, got {value!r}")
    if type(value) is float and not math.isfinite(value):
        raise ValueError(f"{name!r}: expected a finite number, got {value!r}")
    return value


def _float(name: str, value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name!r}: {value!r} is too large for a float") from None


def _label(category: Any) -> str:
    named = isinstance(category, type) or callable(category) and hasattr(category, "__qualname__")
    return category.__qualname__ if named else str(category)


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

    def encode(self, value: Any) -> tuple[float, None]:
        for index, category in enumerate(self.categories):
            if matches(category, value):
                return float(index), None
        raise ValueError(f"{path_name(self.path)!r}: {value!r} is not one of the choices {list(self.categories)!r}")

    def category_labels(self) -> list[str]:
        """One label per category, unique: its value; in a conditional choice, a dict's string constants
        (``adam`` for ``{"name": "adam", "beta1": ...}``), ``branch <i>`` for a branch without any;
        prefixed by the index where two agree."""
        names = []
        for i, category in enumerate(self.categories):
            named = self.branches and isinstance(category, dict)
            strings = [v for v in category.values() if type(v) is str] if named else []
            names.append(",".join(strings) if strings else f"branch {i}" if i in self.branches else _label(category))
        if len(set(names)) < len(names):
            names = [f"{i}={label}" for i, label in enumerate(names)]
        return names

    def labels(self, name: str) -> list[str]:
        """history() column names, one per category, unique."""
        return [f"{name}:p[{label}]" for label in self.category_labels()]

    def describe(self, probs: np.ndarray) -> list[float]:
        """The values of the columns of :meth:`labels`."""
        return [float(p) for p in probs]

    def signature(self) -> dict:
        return {"path": path_name(self.path), "kind": "choice",
                "categories": [encode_value(c) for c in self.categories]}


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
    @functools.cached_property
    def _range(self) -> tuple[float, float]:
        """Where u in [0, 1] starts and its span: log(low), log(high) - log(low) when ``log``, else low,
        high - low (once: every decoded value needs them; a property, so that older pickles compute it)."""
        start, end = (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)
        return start, end - start

    def column(self) -> tuple[float, float]:
        """The policy column: a Gaussian over z, (mean, log sd)."""
        return 0.0, math.log(BOUNDED_INITIAL_SD)

    def _x(self, z: float) -> float:
        start, span = self._range
        t = start + _sigmoid(z) * span
        return math.exp(t) if self.log else t

    def _u(self, x: float) -> float:
        start, span = self._range
        return ((math.log(x) if self.log else x) - start) / span

    def decode(self, raw: float) -> int | float:
        x = self._x(raw)
        if self.integer:
            index = min(max(math.floor(x), self.first), self.last)
            return int(index * (self.q or 1))
        if self.q:
            index = min(max(_round(x / self.q), self.first), self.last)
            return float(index * self.q)
        return float(min(max(x, self.first), self.last))

    def encode(self, value: Any) -> tuple[float, int | float]:
        """(raw z, the value as given): the value must be one the domain can produce."""
        name, value = path_name(self.path), _number(path_name(self.path), value)
        if self.integer:
            step = self.q or 1
            if type(value) is float:
                if not value.is_integer():
                    raise ValueError(f"{name!r}: expected an integer multiple of {step}, got {value!r}")
                value = int(value)
            index, rest = divmod(value, step)
            if rest or not self.first <= index <= self.last:
                raise ValueError(f"{name!r}: {value!r} is not a multiple of {step} in "
                                 f"[{self.first * step}, {self.last * step}]")
            # The centre of the index's bin [index, index + 1).
            x = math.sqrt(index * (index + 1)) if self.log else index + 0.5
            return _logit(self._u(x)), int(value)
        value = _float(name, value)
        if self.q:
            index = np.round(value / self.q)
            if not (self.first <= index <= self.last and math.isclose(index * self.q, value)):
                raise ValueError(f"{name!r}: {value!r} is not a multiple of {self.q} in "
                                 f"[{self.first * self.q}, {self.last * self.q}]")
        elif not self.first <= value <= self.last:
            raise ValueError(f"{name!r}: {value!r} is outside [{self.low}, {self.high}) (upper bound excluded)")
        return _logit(self._u(value)), value

    def labels(self, name: str) -> list[str]:
        return [f"{name}:mean", f"{name}:sd"]

    def describe(self, gaussian: tuple[float, float]) -> list[float]:
        (mean, sd), unit = gaussian, (self.q or 1) if self.integer else 1  # integers: grid index -> value
        spread = (self._x(mean + sd) - self._x(mean - sd)) / 2.0
        return [unit * self._x(mean), unit * spread]

    def signature(self) -> dict:
        return {"path": path_name(self.path), "kind": "bounded", "low": self.low, "high": self.high,
                "log": self.log, "integer": self.integer, "q": None if self.q is None else float(self.q)}


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
        return float(_round(value / self.q) * self.q) if self.q else float(value)

    def encode(self, value: Any) -> tuple[float, float]:
        """(raw, the value as given); the raw value is clipped to +-NORMAL_RAW_LIMIT sds."""
        name = path_name(self.path)
        value = _float(name, _number(name, value))
        if self.q and not math.isclose(np.round(value / self.q) * self.q, value):
            raise ValueError(f"{name!r}: {value!r} is not a multiple of {self.q}")
        standard = (value - self.mean) / self.sd  # may overflow to +-inf: clipped below
        return min(max(standard, -NORMAL_RAW_LIMIT), NORMAL_RAW_LIMIT), value

    def labels(self, name: str) -> list[str]:
        return [f"{name}:mean", f"{name}:sd"]

    def describe(self, gaussian: tuple[float, float]) -> list[float]:
        mean, sd = gaussian
        return [self.mean + self.sd * mean, self.sd * sd]

    def signature(self) -> dict:
        return {"path": path_name(self.path), "kind": "normal", "mean": self.mean, "sd": self.sd,
                "q": None if self.q is None else float(self.q)}


Param = Union[ChoiceParam, BoundedParam, NormalParam]


def to_param(path: Path, domain: Domain, branches: frozenset[int] = frozenset()) -> Param:
    """The one dispatch from a Tune domain to a parameter; anything else is refused.

    ``branches``: for a choice, the categories that hold domains of their own.
    """
    name = path_name(path)
    if domain.is_grid():
        raise ValueError(f"{name!r}: tune.grid_search is not supported by PGSearcher; use "
                         "tune.choice([...]) to let the policy pick among the values")
    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, Quantized):
        q, sampler = sampler.q, sampler.get_sampler()
        if not _real(q) or not (math.isfinite(q) and q > 0):
            raise ValueError(f"{name!r}: the quantization step must be a finite number > 0, got {q=}")
    if isinstance(domain, Categorical):
        if not domain.categories:
            raise ValueError(f"{name!r}: tune.choice needs at least one category")
        return ChoiceParam(path, tuple(domain.categories), branches)
    if isinstance(domain, Float) and isinstance(sampler, Normal):
        mean, sd = sampler.mean, sampler.sd
        if not (_real(mean) and _real(sd) and math.isfinite(mean) and math.isfinite(sd) and sd > 0):
            raise ValueError(f"{name!r}: tune.randn needs a finite mean and a finite sd > 0, got {mean=}, {sd=}")
        return NormalParam(path, float(mean), float(sd), q)
    if isinstance(domain, (Float, Integer)) and isinstance(sampler, (Uniform, LogUniform)):
        lower, upper = domain.lower, domain.upper
        if not (_real(lower) and _real(upper)):
            raise ValueError(f"{name!r}: bounds must be numbers, got {lower=!r}, {upper=!r}")
        try:
            float(lower), float(upper)
        except OverflowError:
            raise ValueError(f"{name!r}: bounds must fit a float, got {lower=}, {upper=}") from None
        return _bounded(path, domain, isinstance(sampler, LogUniform), q)
    raise ValueError(f"{name!r}: unsupported domain {domain!r} with sampler {sampler!r}; use one of "
                     "tune.choice, uniform, quniform, loguniform, qloguniform, randn, qrandn, "
                     "randint, qrandint, lograndint, qlograndint, sample_from")


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


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
        _check_width(path, float(low), float(high), log, lower, upper)
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
    _check_width(path, float(low), float(high), log, lower, upper)
    return BoundedParam(path, float(low), float(high), log, False, q, first, last)


def _check_width(path: Path, low: float, high: float, log: bool, lower: Any, upper: Any) -> None:
    """A range spread on a float scale needs a width that is itself a finite float."""
    if not log and not math.isfinite(high - low):
        raise ValueError(f"{path_name(path)!r}: the range is too wide: upper - lower overflows a float "
                         f"(the most is {np.finfo(float).max:.3g}), got {lower=}, {upper=}")


def derived_signature(path: Path, function: Any) -> dict:
    """The signature of a ``tune.sample_from`` value: its path and its function's fingerprint."""
    return {"path": path_name(path), "kind": "sample_from", "func": fingerprint(function.func)}
