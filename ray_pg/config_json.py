"""A Tune search space as JSON data, with no pickle: a checkpoint is data and never runs code.

JSON-native values stay as they are: ``None``, bools, ints, finite floats,
strings, lists, and dicts whose keys are strings not starting with ``$``.
Everything else is a one-key dict tagged by a ``$`` key:

- ``{"$float": "inf" | "-inf" | "nan"}``, ``{"$tuple": [...]}``,
  ``{"$dict": [[key, value], ...]}`` (other keys, or a key starting with ``$``),
  ``{"$numpy": [dtype name, value]}`` for numpy numbers and bools;
- ``{"$domain": {"kind": ..., ...}}`` for a Tune domain and its arguments;
- ``{"$object": fingerprint}`` for anything else (functions, classes, objects):
  the type's module and qualified name, plus the function's or class's own
  (or an enum member's name). Never a repr, which may hold a memory address, so
  the description is the same in every process. The objects themselves cannot
  be rebuilt from it: they come from the space the user passes again.

Floats are written by ``repr`` (what ``json`` does), so they round-trip
exactly, and the output passes ``json.dumps(..., allow_nan=False)``.
"""

from __future__ import annotations

import enum
import functools
import math
import types
from typing import Any

import numpy as np
from ray.tune.search.sample import Categorical, Domain, Float, Function, Integer, LogUniform, Normal, Quantized, Uniform

_NUMPY_TYPES = {np.dtype(name).type: name for name in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64")}
_NAMED = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.BuiltinMethodType)


def fingerprint(obj: Any) -> dict:
    """What identifies an object across processes: its type, and its own name when it has one."""
    kind = type(obj)
    found: dict[str, Any] = {"type": f"{kind.__module__}.{kind.__qualname__}"}
    if isinstance(obj, _NAMED):
        found["name"] = f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', None)}"
    elif isinstance(obj, functools.partial):
        found["func"] = fingerprint(obj.func)
    elif isinstance(obj, enum.Enum):
        found["member"] = obj.name
    elif isinstance(getattr(obj, "__name__", None), str):  # e.g. numpy ufuncs: np.sin, np.tanh
        found["name"] = obj.__name__
    return found


def encode_value(value: Any) -> Any:
    """Any value of a search space -> JSON data (see the module docstring)."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if kind in _NUMPY_TYPES:
        return {"$numpy": [_NUMPY_TYPES[kind], encode_value(value.item())]}
    if isinstance(value, Domain):
        return {"$domain": _encode_domain(value)}
    # Containers that hold domains are resolved into plain ones, whatever their own type.
    if kind is list or isinstance(value, list) and holds_domain(value):
        return [encode_value(v) for v in value]
    if kind is tuple or isinstance(value, tuple) and holds_domain(value):
        return {"$tuple": [encode_value(v) for v in value]}
    if kind is dict or isinstance(value, dict) and holds_domain(value):
        if all(type(key) is str and not key.startswith("$") for key in value):
            return {key: encode_value(v) for key, v in value.items()}
        return {"$dict": [[encode_value(key), encode_value(v)] for key, v in value.items()]}
    return {"$object": fingerprint(value)}


def holds_domain(value: Any) -> bool:
    """Whether a value holds a Tune domain (or a ``tune.grid_search`` dict) at any depth."""
    if isinstance(value, Domain) or (isinstance(value, dict) and "grid_search" in value):
        return True
    values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return any(holds_domain(v) for v in values)


def _encode_domain(domain: Domain) -> dict:
    if isinstance(domain, Categorical):
        return {"kind": "choice", "categories": [encode_value(c) for c in domain.categories]}
    if isinstance(domain, Function):
        return {"kind": "sample_from", "func": fingerprint(domain.func)}
    sampler, q = domain.get_sampler(), None
    if isinstance(sampler, Quantized):
        q, sampler = sampler.q, sampler.get_sampler()
    if isinstance(domain, (Float, Integer)) and isinstance(sampler, (Uniform, LogUniform, Normal)):
        described = {"kind": "float" if isinstance(domain, Float) else "int", "lower": encode_value(domain.lower),
                     "upper": encode_value(domain.upper), "q": encode_value(q),
                     "sampler": {Uniform: "uniform", LogUniform: "loguniform", Normal: "normal"}[
                         next(base for base in (Uniform, LogUniform, Normal) if isinstance(sampler, base))]}
        if isinstance(sampler, Normal):
            described.update(mean=encode_value(sampler.mean), sd=encode_value(sampler.sd))
        return described
    raise ValueError(f"cannot describe the domain {fingerprint(domain)} with sampler {fingerprint(sampler)}")


def decode_value(data: Any, where: str = "config") -> Any:
    """JSON data from :func:`encode_value` -> the value; ValueError naming where it is malformed.

    Objects (``$object``, ``tune.sample_from``) cannot be rebuilt: see :func:`first_object`.
    """
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [decode_value(v, f"{where}[{i}]") for i, v in enumerate(data)]
    if kind is not dict:
        raise ValueError(f"malformed search space at {where}: {data!r} is not JSON data")
    if len(data) == 1 and next(iter(data)).startswith("$"):
        (tag, body), = data.items()
        try:
            return _decode_tagged(tag, body, where)
        except (TypeError, ValueError, AssertionError, KeyError, OverflowError) as exc:
            raise ValueError(f"malformed search space at {where}: {tag} {body!r}: {exc}") from None
    if any(key.startswith("$") for key in data):
        raise ValueError(f"malformed search space at {where}: keys starting with '$' must come as a '$dict'")
    return {key: decode_value(v, f"{where}[{key!r}]") for key, v in data.items()}


def _decode_tagged(tag: str, body: Any, where: str) -> Any:
    if tag == "$float" and body in ("inf", "-inf", "nan"):
        return float(body)
    if tag == "$tuple" and type(body) is list:
        return tuple(decode_value(v, f"{where}[{i}]") for i, v in enumerate(body))
    if tag == "$dict" and type(body) is list:
        pairs = [decode_value(pair, f"{where}[{i}]") for i, pair in enumerate(body)]
        if not all(type(pair) is list and len(pair) == 2 for pair in pairs):
            raise ValueError("expected [key, value] pairs")
        return {key: value for key, value in pairs}
    if tag == "$numpy" and type(body) is list and len(body) == 2 and body[0] in _NUMPY_TYPES.values():
        value = decode_value(body[1], where)
        if type(value) not in (bool, int, float):
            raise ValueError("expected a number")
        return np.dtype(body[0]).type(value)
    if tag == "$domain" and type(body) is dict:
        return _decode_domain(body, where)
    if tag == "$object":
        raise ValueError("an object cannot be rebuilt from a checkpoint; pass the search space")
    raise ValueError("unknown tag or body")


def _decode_domain(body: dict, where: str) -> Domain:
    kind = body.get("kind")
    if kind == "choice":
        categories = decode_value(body["categories"], f"{where}.categories")
        if type(categories) is not list:
            raise ValueError("categories must be a list")
        return Categorical(categories).uniform()
    if kind not in ("float", "int") or body.get("sampler") not in ("uniform", "loguniform", "normal"):
        raise ValueError(f"cannot rebuild a domain of kind {kind!r}")
    decode = functools.partial(decode_value, where=where)
    domain = (Float if kind == "float" else Integer)(decode(body["lower"]), decode(body["upper"]))
    if body["sampler"] == "normal":
        domain = domain.normal(decode(body["mean"]), decode(body["sd"]))
    else:
        domain = domain.uniform() if body["sampler"] == "uniform" else domain.loguniform()
    q = decode(body["q"])
    return domain if q is None else domain.quantized(q)


def first_object(data: Any, where: str = "config") -> str | None:
    """Where the JSON description holds something only the user's space can give back, or None."""
    if type(data) is list:
        return next((found for i, v in enumerate(data) if (found := first_object(v, f"{where}[{i}]"))), None)
    if type(data) is not dict:
        return None
    if set(data) == {"$object"}:
        return f"{where}: an object of type {data['$object'].get('type')}"
    if set(data) == {"$domain"} and type(data["$domain"]) is dict and data["$domain"].get("kind") == "sample_from":
        return f"{where}: a tune.sample_from function"
    return next((found for key, v in data.items() if (found := first_object(v, f"{where}[{key!r}]"))), None)


def first_difference(saved: Any, given: Any, where: str = "config") -> str | None:
    """The first place where two JSON descriptions differ, told with both values; None when equal."""
    if type(saved) is not type(given):
        return f"{where}: saved {_short(saved)}, given {_short(given)}"
    if type(saved) is dict:
        if list(saved) != list(given):
            return f"{where}: saved keys {list(saved)}, given keys {list(given)}"
        return next((found for key in saved
                     if (found := first_difference(saved[key], given[key], f"{where}[{key!r}]"))), None)
    if type(saved) is list:
        if len(saved) != len(given):
            return f"{where}: saved {len(saved)} entries, given {len(given)}"
        return next((found for i, (a, b) in enumerate(zip(saved, given))
                     if (found := first_difference(a, b, f"{where}[{i}]"))), None)
    return None if saved == given else f"{where}: saved {_short(saved)}, given {_short(given)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
