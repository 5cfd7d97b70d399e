"""Translate a Ray Tune search space into parameters with actors, and back.

With ``params.py`` (one parameter per domain) and ``config_json.py`` (the
space as JSON data), this is the only place that reads Tune's domain types.
Each domain becomes a parameter that owns one raw variable of the policy.

A ``tune.choice`` whose categories hold their own domains (a conditional
space) is a categorical over its branches; each branch's domains get parameters
of their own, active only in the samples that chose that branch. An inactive
parameter's raw value is NaN, which the policy reads as "not drawn". Lists and
tuples holding domains are resolved element by element; a tuple comes back as
a tuple, as Tune resolves it.

``tune.sample_from`` is not a parameter: it is a value derived from the
suggested config, computed as Tune computes it (``Function.sample(config=...)``)
once the parameters are decoded, in the order the space lists them. Other
libraries' search-space objects (Optuna's distributions, HyperOpt's ``hp.*``...)
are refused by name: kept as constants, they would tune nothing.

Over 300 lines: walking a nested space, decoding, encoding points and matching
conditional branches all follow the same paths, so they stay together.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from ray.tune.search.sample import Categorical, Domain, Function

from ray_pg.config_json import decode_value, encode_value, first_difference, first_object, holds_domain
from ray_pg.params import Branch, ChoiceParam, Param, Path, derived_signature, matches, path_name, to_param

_FORMAT = "ray_pg.space/1"
_MISSING = object()
# Modules of other libraries' search-space objects: kept as constants, they would tune nothing.
# Known by the module of their type, so that none of these libraries is imported.
_FOREIGN = ("optuna.distributions", "hyperopt.pyll", "ConfigSpace", "nevergrad.parametrization", "skopt.space",
            "syne_tune.config_space", "flaml.tune.sample")


def _same(a: Any, b: Any) -> bool:
    """Equality that tolerates values whose == is not a bool (arrays), with NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _key_repr(path: Path) -> str:
    """``("a", Branch(1), 0)`` -> ``config['a'][<branch 1>][0]``: a path with the keys' own types."""
    return "config" + "".join(f"[<branch {k.index}>]" if isinstance(k, Branch) else f"[{k!r}]" for k in path)


def _foreign(value: Any) -> Any:
    """Another library's search-space object in ``value`` (in containers and choices too), or None."""
    module = type(value).__module__
    if any(module == name or module.startswith(name + ".") for name in _FOREIGN):
        return value
    values = (value.categories if isinstance(value, Categorical) else value.values() if isinstance(value, dict)
              else value if isinstance(value, (list, tuple)) else ())
    return next((found for v in values if (found := _foreign(v)) is not None), None)


def _tune_name(path: Path) -> tuple:
    """A path's name as Tune flattens its keys (``"a/b"`` for ``("a", "b")``), with branch steps kept
    as ``Branch``: no key, however spelt, names a branch."""
    name: list = []
    for key in path:
        if isinstance(key, Branch) or not name or isinstance(name[-1], Branch):
            name.append(key if isinstance(key, Branch) else str(key))
        else:
            name[-1] += f"/{key}"
    return tuple(name)


def _assign(node: Any, at: tuple, value: Any) -> Any:
    """``node`` with ``value`` at ``at``, rebuilding tuples on the way (as Tune's ``assign_value``)."""
    if not at:
        return value
    child = _assign(node[at[0]], at[1:], value)
    if isinstance(node, tuple):
        return node[:at[0]] + (child,) + node[at[0] + 1:]
    node[at[0]] = child
    return node


class Space:
    """A Tune search space as an ordered list of parameters plus its constant skeleton.

    Parameters come in walk order, so a conditional choice precedes the
    parameters of its branches. Paths are tuples of keys and ``Branch`` steps;
    keys that Tune itself flattens to one name (``"a/b"`` beside
    ``{"a": {"b": ...}}``, ``1`` beside ``"1"``) are refused. A flattened point
    key (``path_name``: ``"opt[1]/b1"`` for a branch) is only a way to name a
    path: one that could name two (a key ``"opt[1]"`` beside a choice ``"opt"``)
    is refused in the point that uses it.
    """

    def __init__(self, config: dict):
        if not isinstance(config, dict):
            raise ValueError(f"the search space must be a dict, got {type(config).__name__}")
        self.config = config
        self.params: list[Param] = []
        # Parameter index -> (its choice, the branch it belongs to).
        self._parent: dict[int, tuple[int, int]] = {}
        self._constants: dict[Path, Any] = {}
        self._derived: dict[Path, Function] = {}
        self._tuples: set[Path] = set()
        self._walk(config, (), None)
        self._conditions = [(index, *parent) for index, parent in self._parent.items()]  # parents first
        self._index = {param.path: i for i, param in enumerate(self.params)}
        self._check_names()
        self._columns, self._evidence_columns = self._history_columns()
        self._named: dict[str, list[Path]] = {}  # flattened point key -> the paths it could name
        for path in [*self._index, *self._constants, *self._derived]:
            self._named.setdefault(path_name(path), []).append(path)

    def _walk(self, node: Any, path: Path, parent: tuple[int, int] | None) -> None:
        """Collect the parameters with the branch each depends on, the constants and derived values."""
        if isinstance(node, dict) and set(node) == {"grid_search"}:
            to_param(path, Categorical(node["grid_search"]).grid())  # raises the grid_search error
        elif isinstance(node, Function):
            self._derived[path] = node
        elif isinstance(node, Domain):
            index = len(self.params)
            branches = frozenset(i for i, c in enumerate(getattr(node, "categories", ())) if holds_domain(c))
            param = to_param(path, node, branches)
            self.params.append(param)
            if parent is not None:
                self._parent[index] = parent
            for branch in sorted(branches):
                self._walk(param.categories[branch], path + (Branch(branch),), (index, branch))
        elif isinstance(node, dict) and node:
            for key, child in node.items():
                self._walk(child, path + (key,), parent)
        elif isinstance(node, list) and node or isinstance(node, tuple) and holds_domain(node):
            if isinstance(node, tuple):
                self._tuples.add(path)
            for i, child in enumerate(node):
                self._walk(child, path + (i,), parent)
        else:
            self._constants[path] = node
        if not isinstance(node, (dict, list)) and (found := _foreign(node)) is not None:  # (their items: walked)
            kind = type(found)
            raise ValueError(f"{path_name(path)!r}: {kind.__module__}.{kind.__qualname__} is not a Ray Tune domain: "
                             "PGSearcher would keep it as a constant and tune nothing. Use Tune's own: "
                             "tune.uniform(low, high), tune.loguniform(low, high), tune.randint(low, high), "
                             "tune.choice([...]), ...")

    def _check_names(self) -> None:
        """Keys that Tune flattens to one name would share one in its results, and in points too."""
        seen: dict[tuple, Path] = {}
        for path in [*self._index, *self._constants, *self._derived]:
            other = seen.setdefault(_tune_name(path), path)
            if other != path:
                raise ValueError(f"the keys {_key_repr(other)} and {_key_repr(path)} both flatten to "
                                 f"{path_name(path)!r}; rename one (flattened names must be unique)")

    def _display(self, path: Path) -> str:
        """``("opt", Branch(1), "beta1")`` -> ``"opt=adam/beta1"``: a branch by its label in ``opt:p[adam]``."""
        parts: list[str] = []
        for i, key in enumerate(path):
            if isinstance(key, Branch):
                parts[-1] += "=" + self.params[self._index[path[:i]]].category_labels()[key.index]
            else:
                parts.append(str(key))
        return "/".join(parts)

    def _history_columns(self) -> tuple[list[list[str]], list[str]]:
        """history() column names, unique: per parameter its policy's, and its evidence's (``evidence.py``).
        Readable names, or the keys' reprs where those collide (``_key_repr`` tells every path apart, and
        its ``]`` cannot run on into a suffix)."""
        readable = [True] * len(self.params)
        while True:
            bases = [self._display(param.path) if readable[i] else _key_repr(param.path)
                     for i, param in enumerate(self.params)]
            columns = [[*param.labels(base), f"{base}:evidence"] for param, base in zip(self.params, bases)]
            counts = Counter(name for names in columns for name in names)
            clashes = [i for i, names in enumerate(columns) if readable[i] and any(counts[n] > 1 for n in names)]
            if not clashes:
                return [names[:-1] for names in columns], [names[-1] for names in columns]
            for i in clashes:
                readable[i] = False

    def columns(self) -> list[int | tuple[float, float]]:
        """The policy's columns, one per parameter (see ``Policy``)."""
        return [param.column() for param in self.params]

    def active(self, raw: np.ndarray) -> np.ndarray:
        """Which parameters ``raw`` uses (one sample, or one per row): all but those of the branches it did
        not choose."""
        active = np.ones(np.shape(raw), dtype=bool)
        for index, choice, branch in self._conditions:  # parents first
            active[..., index] = active[..., choice] & (raw[..., choice] == branch)
        return active

    def raw_problem(self, raw: np.ndarray, complete: bool) -> tuple[int, str] | None:
        """The first row of ``raw`` (n, parameters) that is not a vector this space's policy draws, and why,
        or None: a choice's value that is not one of its indices, or (``complete``) a parameter of a taken
        branch left empty. A checkpoint's samples are checked so (``state.decode``); a point may leave
        values empty."""
        for j, param in enumerate(self.params):
            if isinstance(param, ChoiceParam):
                values = raw[:, j]
                bad = ~np.isnan(values) & ((values != np.floor(values)) | (values < 0) | (values >= len(param.categories)))
                if bad.any():
                    row = int(np.argmax(bad))
                    return row, (f"{path_name(param.path)!r}: {values[row]!r} is not the index of one of its "
                                 f"{len(param.categories)} choices")
        empty = np.isnan(raw) & self.active(raw) if complete else np.zeros(raw.shape, dtype=bool)
        if empty.any():
            row, j = (int(k) for k in np.argwhere(empty)[0])
            return row, f"{path_name(self.params[j].path)!r} is used and has no value"
        return None

    def given_problem(self, given: dict[int, Any]) -> str | None:
        """Why ``given`` (parameter index -> value, as ``given_values`` makes) is not one this space's
        points could give, or None."""
        for index, value in given.items():
            param = self.params[index]
            if isinstance(param, ChoiceParam):
                return f"{path_name(param.path)!r}: a choice's index is its raw value, not a given value"
            try:
                param.encode(value)
            except (TypeError, ValueError) as exc:
                return str(exc)
        return None

    def mask_inactive(self, raw: np.ndarray) -> np.ndarray:
        """``raw`` (one sample, or one per row) with NaN for the parameters of every branch that was not
        chosen."""
        return np.where(self.active(raw), raw, np.nan) if self._conditions else raw

    def decode(self, raw: np.ndarray, given: dict[int, int | float] | None = None) -> dict:
        """Raw vector -> full config: every active domain resolved, constants kept.

        ``given`` (from :meth:`given_values`): values that replace the decoding of
        their parameters, so that a point's values reach the trial unchanged.
        ``tune.sample_from`` values are computed last, from the decoded config.
        """
        derived: list[tuple[tuple, Function]] = []
        # Python floats: the decoders' scalar arithmetic on numpy scalars cost as much again
        config = self._fill(self.config, (), (), np.asarray(raw, dtype=float).tolist(), given or {}, derived)
        for at, function in derived:
            config = _assign(config, at, function.sample(config=config))
        return config

    def _fill(self, node: Any, path: Path, at: tuple, raw: list[float], given: dict, derived: list) -> Any:
        """``at``: the path in the decoded config, where a branch's category replaces its choice."""
        index = self._index.get(path)
        if index is not None:
            if index in given:
                return given[index]
            param = self.params[index]
            value = param.decode(raw[index])
            if isinstance(param, ChoiceParam) and int(raw[index]) in param.branches:
                return self._fill(value, path + (Branch(int(raw[index])),), at, raw, given, derived)
            return value
        if path in self._derived:
            derived.append((at, node))
            return node
        if isinstance(node, dict):
            return {key: self._fill(child, path + (key,), at + (key,), raw, given, derived)
                    for key, child in node.items()}
        if isinstance(node, list) or path in self._tuples:
            filled = [self._fill(child, path + (i,), at + (i,), raw, given, derived) for i, child in enumerate(node)]
            return filled if isinstance(node, list) else tuple(filled)
        return node

    def encode(self, config: dict) -> np.ndarray:
        """A (possibly partial) config -> raw vector for the policy, NaN where a parameter is not given.

        Keys may be nested or flattened paths (``"a/b"``, ``"opt[1]/b1"``: a branch's
        parameter chooses its branch); constants of the space may be repeated and
        ``tune.sample_from`` values are computed again. A conditional choice is
        named by its branch's values (nested): the one branch whose constants,
        keys and values they fit. Raises ValueError for a value that the domain
        could not produce, a key that is not in the space, or values that fit no
        branch or several. Numeric raw values are clipped to a finite range: use
        :meth:`given_values` for the values themselves.
        """
        return self._encode(config)[0]

    def given_values(self, config: dict) -> dict[int, int | float]:
        """Parameter index -> numeric value exactly as given in ``config``, as a plain int or float.

        Choices are not in it: their index is exact. Same checks as :meth:`encode`.
        """
        return self._encode(config)[1]

    def _encode(self, config: dict) -> tuple[np.ndarray, dict[int, int | float]]:
        if not isinstance(config, dict) or not config:
            raise ValueError("a point (an entry of points_to_evaluate) is a non-empty dict of parameter values, "
                             f"nested or with flattened keys such as 'model/lr'; got {config!r}")
        raw, given = np.full(len(self.params), np.nan), {}
        self._encode_into(config, (), raw, given)
        return raw, given

    def _resolve(self, path: Path) -> Path:
        """A point's key path -> the space's path: itself, or the one path its flattened name names."""
        if path in self._index or path in self._constants or path in self._derived:
            return path
        found = self._named.get(path_name(path), [path])
        if len(found) > 1:
            raise ValueError(f"{path_name(path)!r} could be {' or '.join(map(_key_repr, found))}; "
                             "give it nested to say which")
        return found[0]

    def _encode_into(self, node: Any, path: Path, raw: np.ndarray, given: dict) -> None:
        path = self._resolve(path)
        name = path_name(path)
        index = self._index.get(path)
        constant = self._constants.get(path, _MISSING)
        if index is not None:
            param = self.params[index]
            if isinstance(param, ChoiceParam) and param.branches:
                self._encode_branch(index, node, raw, given)
            else:
                value, exact = param.encode(node)
                self._choose(index, value, raw)
                if exact is not None:
                    given[index] = exact
        elif path in self._derived:
            return  # computed from the config by its function, as Tune does
        elif isinstance(node, dict) and node:
            for key, child in node.items():
                self._encode_into(child, path + (key,), raw, given)
        elif isinstance(node, (list, tuple)) and node and not _same(constant, node):
            for i, child in enumerate(node):
                self._encode_into(child, path + (i,), raw, given)
        elif constant is _MISSING:
            raise ValueError(f"{name!r} is not a parameter of the search space; "
                             f"its parameters are {[path_name(path) for path in self._index]}")
        elif not _same(constant, node):
            raise ValueError(f"{name!r} is the constant {constant!r} in the search space, got {node!r}")

    def _choose(self, index: int, value: float, raw: np.ndarray) -> None:
        """Set ``raw[index]``, and the branch of every choice above it (a flattened branch path)."""
        while True:
            if not np.isnan(raw[index]) and raw[index] != value:
                param = self.params[index]
                raise ValueError(f"{path_name(param.path)!r} is given twice with different values in one point")
            raw[index] = value
            if index not in self._parent:
                return
            index, value = self._parent[index]

    def _encode_branch(self, index: int, value: Any, raw: np.ndarray, given: dict) -> None:
        """Fill ``raw``/``given`` with the one category of a conditional choice that ``value`` fits."""
        param = self.params[index]
        fits, reasons = [], []
        for i, category in enumerate(param.categories):
            candidate, candidate_given = raw.copy(), dict(given)
            try:
                self._choose(index, float(i), candidate)
                if i in param.branches:
                    self._encode_into(value, param.path + (Branch(i),), candidate, candidate_given)
                elif not matches(category, value):
                    continue
                fits.append((candidate, candidate_given))
            except ValueError as exc:
                reasons.append(f"branch {i}: {exc}")
        if len(fits) == 1:
            raw[:] = fits[0][0]
            given.update(fits[0][1])
            return
        name = path_name(param.path)
        if not fits:
            raise ValueError(f"{name!r}: {value!r} fits none of the choices; " + "; ".join(reasons))
        raise ValueError(f"{name!r}: {value!r} fits {len(fits)} choices; add a value that tells them apart")

    def describe(self, columns: list) -> dict[str, float]:
        """The policy in parameter units, from ``Policy.columns()``."""
        described: dict[str, float] = {}
        for names, param, column in zip(self._columns, self.params, columns):
            described.update(zip(names, param.describe(column)))
        return described

    def describe_evidence(self, evidence: list[float | None]) -> dict[str, float | None]:
        """``Evidence.scores()`` by their history() columns."""
        return dict(zip(self._evidence_columns, evidence))

    def signature(self) -> list[dict]:
        """A JSON description that tells whether a checkpoint belongs to this space, the same in every process."""
        return ([param.signature() for param in self.params]
                + [derived_signature(path, function) for path, function in self._derived.items()])

    def to_json(self) -> dict:
        """The whole search space as JSON data (no pickle; see ``config_json``)."""
        return {"format": _FORMAT, "config": encode_value(self.config)}

    @classmethod
    def from_json(cls, data: dict, user_space: dict | None = None) -> Space:
        """The space of :meth:`to_json`'s ``data``.

        With ``user_space``: that space, once checked to match ``data`` (ValueError
        naming the first difference otherwise); objects such as functions come
        from it. Without: rebuilt from ``data``, which must then hold only
        JSON-native values and Tune domains.
        """
        if not isinstance(data, dict) or data.get("format") != _FORMAT or "config" not in data:
            raise ValueError(f"not a search space saved by Space.to_json (format {_FORMAT!r}): {str(data)[:200]}")
        if user_space is not None:
            space = cls(user_space)
            difference = first_difference(data["config"], space.to_json()["config"])
            if difference:
                raise ValueError(f"the search space given differs from the saved one at {difference}")
            return space
        found = first_object(data["config"])
        if found:
            raise ValueError(f"the saved search space holds objects that a checkpoint cannot carry ({found}); "
                             "pass the search space again: PGSearcher(space) or param_space to Tuner.restore")
        config = decode_value(data["config"])
        if not isinstance(config, dict):
            raise ValueError(f"malformed search space: {type(config).__name__} instead of a dict")
        return cls(config)
