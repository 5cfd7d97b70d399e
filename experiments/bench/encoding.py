"""Tune domains as the plain parameters other optimisers take, and back: one translator for TPE, SMAC, HEBO, NGOpt.

Those libraries know categories, bounded floats and bounded integers (each
optionally on a log scale), not Tune's quantized or Gaussian domains. Each
domain becomes one :class:`Param`, so that every rival samples exactly the
values the domain's own ``sample()`` can produce:

- ``choice`` -> a categorical over the category *indices* (categories may be
  unhashable or of mixed types);
- ``uniform`` / ``loguniform`` -> a float on ``[lower, upper]`` (log scale);
- ``randint`` / ``lograndint`` -> an integer on ``[lower, upper - 1]`` (log scale);
- ``quniform``, ``qrandint``, ``qlograndint`` -> an integer *grid index*
  ``k`` (log scale for ``qlograndint``), the value being ``k * q``, as Tune
  draws it;
- ``qloguniform`` -> a log-scale float on the grid's span, rounded to the grid;
- ``randn`` / ``qrandn`` -> kind ``"normal"``: a library with a Gaussian
  parameter takes ``mean`` and ``sd`` as they are (Nevergrad); the others take
  a float ``u`` on ``[U_EPS, 1 - U_EPS]`` mapped through the inverse normal
  CDF (``normal_value``), so a uniform draw of ``u`` is a draw from the
  domain's Gaussian; ``qrandn`` is then rounded to ``q``.

A domain with a single value becomes kind ``"const"`` (no library takes an
empty range). Anything else raises ``ValueError`` naming the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from ray.tune.search.sample import Categorical, Domain, Float, Integer, LogUniform, Normal

from experiments.bench.domains import Path, grid_bounds, path_name, set_path, split_sampler, walk

U_EPS = 1e-12  # u in [U_EPS, 1 - U_EPS] reaches about 7 sd
_STD_NORMAL = NormalDist()


@dataclass(frozen=True)
class Param:
    """One Tune domain as a library parameter.

    Attributes:
        path: where the value goes in the config; ``name`` is Tune's flattened ``"a/b"``.
        kind: ``"cat"`` (an index into ``values``), ``"int"``, ``"float"``,
            ``"normal"`` (``mean``, ``sd``) or ``"const"`` (``values[0]``).
        low, high: inclusive bounds of an ``"int"`` or ``"float"`` parameter.
        log: the library should search ``low..high`` on a log scale.
        q: ``"int"``: the value is the integer times ``q`` (a grid index);
            ``"float"`` and ``"normal"``: the value is rounded to a multiple of ``q``.
        integer: the Tune value is an int.
    """

    path: Path
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    q: float | None = None
    values: tuple = ()
    mean: float = 0.0
    sd: float = 1.0
    integer: bool = False

    @property
    def name(self) -> str:
        return path_name(self.path)

    def value(self, raw: Any) -> Any:
        """The Tune value of the library's value ``raw`` (a Gaussian value, not ``u``, for ``"normal"``)."""
        if self.kind == "const":
            return self.values[0]
        if self.kind == "cat":
            return self.values[int(raw)]
        if self.kind == "int":  # clipped: a library's float-to-int rounding may step past a bound
            k = min(max(int(round(float(raw))), int(self.low)), int(self.high))
            if self.q is None:
                return k
            return int(k * self.q) if self.integer else float(k * self.q)
        value = float(raw)
        if self.kind == "float":  # exp(log(upper)) may exceed upper by an ulp
            value = min(max(value, self.low), self.high)
        return float(round(value / self.q) * self.q) if self.q else value

    def normal_value(self, u: float) -> Any:
        """The Tune value of a ``"normal"`` parameter searched as a uniform ``u`` in ``[U_EPS, 1 - U_EPS]``."""
        u = min(max(float(u), U_EPS), 1 - U_EPS)
        return self.value(self.mean + self.sd * _STD_NORMAL.inv_cdf(u))


def to_param(path: Path, domain: Domain) -> Param:
    """The :class:`Param` of one Tune domain (see the module docstring)."""
    sampler, q = split_sampler(domain)
    if isinstance(domain, Categorical):
        if not domain.categories:
            raise ValueError(f"parameter {path_name(path)!r}: a choice with no category")
        kind = "cat" if len(domain.categories) > 1 else "const"
        return Param(path, kind, values=tuple(domain.categories))
    if isinstance(sampler, Normal):
        return Param(path, "normal", q=q, mean=float(sampler.mean), sd=float(sampler.sd))
    log = isinstance(sampler, LogUniform)
    if isinstance(domain, Integer):
        if q is None:
            low, high, step = domain.lower, domain.upper - 1, None
        else:
            low, high = (int(b) for b in grid_bounds(domain, q))
            high, step = high - 1 if q == 1 else high, q
        return _bounded(Param(path, "int", low, high, log, step, integer=True))
    if isinstance(domain, Float):
        if q is None:
            return _bounded(Param(path, "float", domain.lower, domain.upper, log))
        low, high = grid_bounds(domain, q)
        if log:  # Tune: log-uniform on the grid's span, then rounded to the grid
            return _bounded(Param(path, "float", low * q, high * q, True, q))
        return _bounded(Param(path, "int", int(low), int(high), False, q))
    raise ValueError(f"parameter {path_name(path)!r}: unsupported domain {domain!r}")


def _bounded(param: Param) -> Param:
    if param.high < param.low:
        raise ValueError(f"parameter {param.name!r}: empty range {param.low}..{param.high}")
    if param.high == param.low:
        return Param(param.path, "const", values=(param.value(param.low),))
    return param


def to_params(space: dict) -> list[Param]:
    """One :class:`Param` per domain of a nested Tune space, in ``walk`` order."""
    params = [to_param(path, domain) for path, domain in walk(space)]
    if not params:
        raise ValueError("the search space has no Tune domain")
    return params


def config_from(params: list[Param], raw: dict[str, Any], *, normal_as_unit: bool = True) -> dict:
    """The nested Tune config of a library's flat values ``{name: raw}``.

    ``normal_as_unit``: ``"normal"`` parameters come as ``u`` (see ``Param.normal_value``).
    """
    config: dict = {}
    for param in params:
        if param.kind == "const":
            value = param.values[0]
        elif param.kind == "normal" and normal_as_unit:
            value = param.normal_value(raw[param.name])
        else:
            value = param.value(raw[param.name])
        set_path(config, param.path, value)
    return config

