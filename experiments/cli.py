"""Turn a dataclass of arguments into a command line, as CleanRL's scripts do with tyro.

Each field ``foo_bar: T = default  # help`` becomes ``--foo-bar``, with the
comment after the field as its help text; tuple fields take several values;
bool fields take ``true``/``false``.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _to_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _converter(tp: Any) -> Any:
    if tp is bool:
        return _to_bool
    if tp in (int, float, str, Path):
        return tp
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return _converter(args[0])
    raise TypeError(f"unsupported argument type {tp!r}")


def _comments(cls: type) -> dict[str, str]:
    """``{field: comment}`` from the ``name: type = default  # comment`` lines of a class."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    return dict(re.findall(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", source, flags=re.M))


def parse(cls: type[T], argv: list[str] | None = None) -> T:
    """Parse ``argv`` into an instance of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    comments = _comments(cls)
    parser = argparse.ArgumentParser(description=(cls.__doc__ or "").strip().split("\n")[0])
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        flag = "--" + f.name.replace("_", "-")
        if typing.get_origin(tp) is tuple:
            item = typing.get_args(tp)[0]
            shown = " ".join(str(d) for d in default)
            help_text = f"{comments.get(f.name, '')} (default: {shown})"
            parser.add_argument(flag, nargs="+", type=_converter(item), default=default, help=help_text)
        else:
            help_text = f"{comments.get(f.name, '')} (default: {default})"
            parser.add_argument(flag, type=_converter(tp), default=default, help=help_text)
    ns = parser.parse_args(argv)
    values = {f.name: getattr(ns, f.name) for f in dataclasses.fields(cls)}
    for f in dataclasses.fields(cls):
        if typing.get_origin(hints[f.name]) is tuple:
            values[f.name] = tuple(values[f.name])
    return cls(**values)
