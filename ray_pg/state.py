"""The searcher's state as versioned JSON: encode, validate, decode, and write files.

A checkpoint is data: it holds no pickle, and loading it never runs code. The
search space is described by ``Space.to_json`` (objects JSON cannot hold are
named by a stable fingerprint and taken from the space the user passes). Every
float is finite or encoded explicitly (NaN as null, infinities as strings), so
nothing a trial reports can make a save fail.

``save`` writes three files into the checkpoint's folder: the small state
(``path``), the space once (``ray_pg-space-<digest>.json``, shared by every save
of the same space), and the policy history, appended and never rewritten
(``ray_pg-history-<run>.json``, one JSON row per line; ``.json`` because Tune
brings back only ``.json`` and ``.pkl`` files when it restores an experiment).
So a save costs the same at trial 10,000 as at trial 200.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from numbers import Real
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

STATE_VERSION = 3
SPACE_FILE = "ray_pg-space-{digest}.json"
HISTORY_FILE = "ray_pg-history-{run}.json"


class CheckpointError(ValueError):
    """A searcher state that cannot be restored: another version or space, or corrupted."""


def to_json(x: Any) -> Any:
    """Arrays as lists; NaN as None and +-inf as "inf"/"-inf" (JSON has neither), recursively."""
    if isinstance(x, np.ndarray):
        return [to_json(v) for v in x.tolist()]
    if isinstance(x, dict):
        return {str(k): to_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_json(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isnan(x):
            return None
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")
    return x


def float_from_json(x: Any, field: str) -> float:
    """The inverse of ``to_json`` for one float; CheckpointError naming ``field`` otherwise."""
    if x is None:
        return math.nan
    if x in ("inf", "-inf"):
        return float(x)
    if isinstance(x, bool) or not isinstance(x, Real):
        raise CheckpointError(f"checkpoint field {field!r}: expected a number, got {x!r}")
    return float(x)


def array_from_json(x: Any, field: str, length: int | None = None, finite: bool = False) -> np.ndarray:
    """A float vector from ``to_json``'s list, of ``length`` if given, all finite if asked."""
    if not isinstance(x, list):
        raise CheckpointError(f"checkpoint field {field!r}: expected a list of numbers, got {type(x).__name__}")
    array = np.array([float_from_json(v, field) for v in x], dtype=float)
    if length is not None and len(array) != length:
        raise CheckpointError(f"checkpoint field {field!r}: expected {length} numbers, got {len(array)}")
    if finite and not np.isfinite(array).all():
        raise CheckpointError(f"checkpoint field {field!r}: expected finite numbers, got {x!r}")
    return array


def expect(value: Any, kind: type | tuple[type, ...], field: str, allow_none: bool = False) -> Any:
    """``value`` if it is of ``kind`` (bool is never an int here), else CheckpointError naming the field."""
    if value is None and allow_none:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds) + (" or null" if allow_none else "")
        raise CheckpointError(f"checkpoint field {field!r}: expected {names}, got {value!r}")
    return value


def count(value: Any, field: str) -> int:
    """A non-negative int field."""
    if expect(value, int, field) < 0:
        raise CheckpointError(f"checkpoint field {field!r}: expected a count >= 0, got {value!r}")
    return value


class Sample(NamedTuple):
    """A suggestion in flight or in the batch: its raw vector and log-probability under the drawing policy.

    ``blocks``: per-block log-probabilities (``NaturalPolicy.block_log_prob``), for a natural-gradient searcher.
    """

    raw: np.ndarray
    log_prob: float
    blocks: np.ndarray | None = None


def sample_from_json(x: Any, field: str, width: int) -> Sample:
    x = expect(x, dict, field)
    log_prob = float_from_json(x.get("log_prob"), f"{field}.log_prob")
    if not math.isfinite(log_prob):
        raise CheckpointError(f"checkpoint field {field!r}: log_prob must be finite, got {log_prob}")
    raw = array_from_json(x.get("raw"), f"{field}.raw", width)
    if np.isinf(raw).any():
        raise CheckpointError(f"checkpoint field {field!r}: raw values must be finite or null, got {x.get('raw')!r}")
    blocks = None if x.get("blocks") is None else array_from_json(x["blocks"], f"{field}.blocks")
    if blocks is not None and np.isinf(blocks).any():
        raise CheckpointError(f"checkpoint field {field!r}: blocks must be finite or null, got {x['blocks']!r}")
    return Sample(raw, log_prob, blocks)


def digest(data: Any) -> str:
    """A short content hash of JSON data (the name of the space file)."""
    text = json.dumps(data, sort_keys=True, allow_nan=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename: a failed save keeps the old file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_json(path: str | os.PathLike) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read a PGSearcher checkpoint file {str(path)!r}: {exc}") from exc


def write_space(folder: Path, space_json: dict, space_digest: str) -> str:
    """Write the space file once (its name is its content's ``digest``); return its name."""
    name = SPACE_FILE.format(digest=space_digest)
    if not (folder / name).exists():
        write_atomic(folder / name, json.dumps(space_json, allow_nan=False))
    return name


class HistoryLog:
    """Appends history rows to the history file of a folder; rewrites it only when it holds other rows."""

    def __init__(self) -> None:
        self._written: dict[Path, int] = {}  # file -> rows of ours it holds

    def write(self, folder: Path, run: str, rows: list[dict]) -> str:
        name = HISTORY_FILE.format(run=run)
        path = folder / name
        done = self._written.get(path)
        if done is None or done > len(rows) or not path.exists():
            write_atomic(path, "".join(_row_line(row) for row in rows))
        elif done < len(rows):
            with open(path, "a") as f:
                f.write("".join(_row_line(row) for row in rows[done:]))
        self._written[path] = len(rows)
        return name

    def read(self, folder: Path, name: str, rows: int) -> list[dict]:
        """The first ``rows`` rows of a history file; CheckpointError if it holds fewer."""
        path = folder / name
        try:
            with open(path) as f:
                lines = f.readlines()
            history = [json.loads(line) for line in lines[:rows]]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"cannot read the PGSearcher history file {str(path)!r}: {exc}") from exc
        if len(history) != rows or not all(isinstance(row, dict) for row in history):
            raise CheckpointError(f"the PGSearcher history file {str(path)!r} holds {len(history)} rows, "
                                  f"the checkpoint expects {rows}")
        # Rows past ours were saved after this checkpoint: the next save rewrites the file.
        if len(lines) == rows:
            self._written[path] = rows
        else:
            self._written.pop(path, None)
        return history


def _row_line(row: dict) -> str:
    return json.dumps(to_json(row), allow_nan=False) + "\n"
