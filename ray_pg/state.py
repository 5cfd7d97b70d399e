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

Over 300 lines: every field of the searcher's state is checked here, each with
an error that names it, before any is assigned.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np

from ray_pg.policy import Adam
from ray_pg.results import Finished, Sample, as_list, check_objectives, finite

STATE_VERSION = 3
SPACE_FILE = "ray_pg-space-{digest}.json"
HISTORY_FILE = "ray_pg-history-{run}.json"

logger = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A searcher state that cannot be restored: another version or space, or corrupted."""


def to_json(x: Any) -> Any:
    """Arrays as lists; NaN as None and +-inf as "inf"/"-inf" (JSON has neither), recursively."""
    if isinstance(x, np.ndarray):
        return to_json(x.tolist())  # nested lists, or a scalar for a 0-d array
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
    try:
        return float(x)
    except OverflowError as exc:  # a JSON integer beyond a float's range
        raise CheckpointError(f"checkpoint field {field!r}: {x!r} is beyond a float's range") from exc


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
        """The first ``rows`` rows of a history file, or those it holds when it holds fewer.

        Tune syncs a checkpoint's files one by one, so the history file may be older than the
        state, or missing. The history is diagnostics: a warning says what is missing.
        """
        path = folder / name
        try:
            with open(path) as f:
                lines = f.readlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        history = []
        for line in lines[:rows]:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                break  # a row being appended when the file was copied
            if not isinstance(row, dict):
                break
            history.append(row)
        if len(history) < rows:
            logger.warning("the PGSearcher history file %r holds %d of the %d rows the checkpoint expects (it is "
                           "older than the state, or missing): history() lacks the last %d updates", str(path),
                           len(history), rows, rows - len(history))
        # Rows past ours were saved after this checkpoint, or ours are missing: the next save rewrites the file.
        if len(lines) == rows == len(history):
            self._written[path] = rows
        else:
            self._written.pop(path, None)
        return history


def write_checkpoint(path: str, state: dict, space_json: dict, space_digest: str, log: HistoryLog,
                     history: list[dict]) -> None:
    """Write ``state`` (without its history) to ``path`` atomically, with the space and history files beside it."""
    folder = Path(path).parent
    state = {**state, "space": {"file": write_space(folder, space_json, space_digest)},
             "history": {"file": log.write(folder, state["run"], history), "rows": len(history)}}
    write_atomic(path, json.dumps(state, allow_nan=False))


def read_checkpoint(path: str, log: HistoryLog) -> dict:
    """The state ``write_checkpoint`` wrote, with its space and history read back in."""
    state = read_json(path)
    folder = Path(path).parent
    try:
        space, history = state["space"], state["history"]
        if isinstance(space, dict) and set(space) == {"file"}:
            state["space"] = read_json(folder / Path(str(space["file"])).name)
        if isinstance(history, dict) and set(history) == {"file", "rows"}:
            state["history"] = log.read(folder, Path(str(history["file"])).name, count(history["rows"], "history.rows"))
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"corrupted PGSearcher checkpoint {path!r}: {exc!r}") from exc
    return state


def _row_line(row: dict) -> str:
    return json.dumps(to_json(row), allow_nan=False) + "\n"


def sample_json(sample: Sample) -> dict:
    found = {"raw": to_json(sample.raw), "log_prob": sample.log_prob}
    if sample.blocks is not None:
        found["blocks"] = to_json(sample.blocks)
    return found


def finished_json(entry: Finished) -> dict:
    return {"trial_id": entry.trial_id, **sample_json(entry.sample), "rewards": to_json(entry.rewards),
            "level": to_json(entry.level), **({} if entry.rungs is None else {"rungs": to_json(entry.rungs)})}


def encode(searcher: Any) -> dict:
    """A ``PGSearcher``'s state but its history (which ``save`` appends to a file of its own)."""
    if searcher._space is None:
        raise RuntimeError("PGSearcher has no search space yet, so it has no state to save")
    learner = searcher._learner
    return {
        "version": STATE_VERSION,
        "signature": searcher._space.signature(),
        "space": searcher._space_json,
        "run": searcher._run,
        "metric": searcher._metric,
        "mode": searcher._mode,
        "max_concurrent": searcher._max_concurrent,
        "synchronous": searcher._synchronous,
        "num_samples": searcher._num_samples,
        "stop": searcher._stop,
        "policy": to_json(learner.policy.params),
        "adam": {"m": to_json(learner.adam.m), "v": to_json(learner.adam.v), "t": learner.adam.t},
        "pending": {tid: sample_json(sample) for tid, sample in searcher._pending.items()},
        "pool": [sample_json(sample) for sample in learner.pool],
        "last": to_json(searcher._last),
        "curves": to_json(searcher._curves),
        "rung_levels": learner.rung_levels,
        "evidence": learner.evidence.to_json(),
        "full_iterations": learner.full_iterations,
        "batch": [finished_json(entry) for entry in learner.batch],
        "unscored": [{"trial_id": tid, **sample_json(sample), "value": to_json(value), "level": to_json(level)}
                     for tid, sample, value, level in searcher._unscored],
        "queue": [{"raw": to_json(raw), "given": to_json(given)} for raw, given in searcher._queue],
        "num_updates": learner.num_updates,
        "num_suggested": searcher._num_suggested,
        "num_failed": learner.num_failed,
        "trials_used": learner.trials_used,
        "peak_in_flight": searcher._peak_in_flight,
        "rng": searcher._rng.bit_generator.state,
        "update": searcher._update_rule,
        "evaluated_ids": sorted(searcher._evaluated_ids),
        **({"window": [finished_json(e) for e in learner.window]} if searcher._update_rule == "natural" else {}),
    }


def decode(searcher: Any, state: Any) -> tuple[Any, dict]:
    """The search space of ``state`` and the ``PGSearcher`` attributes it sets, every field checked
    (``CheckpointError`` naming the first bad one); nothing is assigned here."""
    from ray_pg.space import Space

    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        found = state.get("version") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"not a PGSearcher state of version {STATE_VERSION}: got version {found!r}")
    try:
        space = Space.from_json(state.get("space"), None if searcher._space is None else searcher._space.config)
    except ValueError as exc:
        raise CheckpointError(f"cannot restore the search space of this PGSearcher checkpoint: {exc}") from exc
    if state.get("signature") != space.signature():
        raise CheckpointError("this PGSearcher checkpoint was saved for a different search space: "
                              f"saved {state.get('signature')}, current {space.signature()}")
    saved = state.get("update", "pg")
    if saved not in ("pg", "natural"):
        raise CheckpointError(f"checkpoint field 'update': expected 'pg' or 'natural', got {saved!r}")
    rule = searcher._update_choice or saved  # a searcher left to its default takes the checkpoint's rule
    if saved != rule:
        raise CheckpointError(f"this PGSearcher checkpoint was saved with update={saved!r}, this searcher "
                              f"has update={rule!r}: restore it into PGSearcher(update={saved!r}) or "
                              "PGSearcher() (update=None takes the checkpoint's)")
    # A searcher given no metric takes the checkpoint's; the prior's sds follow its number of metrics
    # (checked with the rest by parse_state below).
    learner = searcher._new_learner(space, rule, state.get("metric"))
    policy = learner.policy
    parsed = parse_state(state, width=len(space.params), size=policy.params.size)
    window = expect(state.get("window"), list, "window") if rule == "natural" else []
    parsed["_window"] = [finished_from_json(b, f"window[{i}]", len(space.params)) for i, b in enumerate(window)]
    _check_samples(space, parsed, 1 + len(policy.sizes) if rule == "natural" else None)
    # Saved before Tune passed a metric or mode: keep the searcher's own.
    for key in ("_metric", "_mode"):
        parsed[key] = getattr(searcher, key) if parsed[key] is None else parsed[key]
    try:
        check_objectives(parsed["_metric"], parsed["_mode"])
    except ValueError as exc:
        raise CheckpointError(f"checkpoint fields 'metric'/'mode' do not fit this searcher's: {exc}") from exc
    metrics = len(as_list(parsed["_metric"])) if parsed["_metric"] is not None else None
    for name in ("batch", "window") if metrics else ():
        for i, entry in enumerate(parsed[f"_{name}"]):
            if len(entry.rewards) != metrics:
                raise CheckpointError(f"checkpoint field '{name}[{i}].rewards': expected one per metric "
                                      f"({metrics}), got {len(entry.rewards)}")
    # The natural update keeps each marginal sd within max_sd, or at its prior's if that is wider.
    max_sd = np.maximum(learner.options.settings.max_sd, np.sqrt(policy.variances())) if rule == "natural" else None
    try:
        policy.params = parsed.pop("policy")
    except ValueError as exc:  # the natural policy checks its parameters
        raise CheckpointError(f"checkpoint field 'policy': {exc}") from exc
    if max_sd is not None and (policy.sigma * np.sqrt(policy.variances()) > max_sd * (1 + 1e-9)).any():
        raise CheckpointError(f"checkpoint field 'policy': natural policy parameter 'cov': marginal sds "
                              f"{policy.sigma * np.sqrt(policy.variances())} above the update's bound {max_sd}")
    evaluated_ids = expect(state.get("evaluated_ids", []), list, "evaluated_ids")  # absent in older states
    rng = np.random.default_rng()
    try:
        rng.bit_generator.state = state["rng"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint field 'rng': not a PCG64 state: {exc!r}") from exc
    for key in ("adam", "batch", "window", "pool", "history", "num_updates", "num_failed", "trials_used",
                "full_iterations", "rung_levels"):
        setattr(learner, key, parsed.pop(f"_{key}"))
    learner.evidence.load(_evidence(state.get("evidence"), learner.evidence.widths))
    learner.rng = rng
    learner.rank_model = learner.fit_rank_model()  # as it was fitted after the checkpoint's last update
    return space, {**parsed, "_update_rule": rule, "_rng": rng, "_learner": learner,
                   "_evaluated_ids": {str(trial_id) for trial_id in evaluated_ids}}


def _check_samples(space: Any, parsed: dict, blocks: int | None) -> None:
    """Every sample and queued point of ``parsed`` one that ``space`` could hold (``Space.raw_problem``), each
    sample's block log-probabilities ``blocks`` long (the natural policy's: 1 + its categoricals)."""
    samples = [*((f"pending[{tid}]", s) for tid, s in parsed["_pending"].items()),
               *((f"pool[{i}]", s) for i, s in enumerate(parsed["_pool"])),
               *((f"{name}[{i}]", e.sample) for name in ("batch", "window") for i, e in enumerate(parsed[f"_{name}"])),
               *((f"unscored[{i}]", u[1]) for i, u in enumerate(parsed["_unscored"]))]
    queue = parsed["_queue"]
    for rows, complete, fields in ((np.array([s.raw for _, s in samples]), True, [f for f, _ in samples]),
                                   (np.array([raw for raw, _ in queue]), False, [f"queue[{i}]" for i in range(len(queue))])):
        problem = space.raw_problem(rows, complete) if len(rows) else None
        if problem is not None:
            raise CheckpointError(f"checkpoint field '{fields[problem[0]]}.raw': {problem[1]}")
    for field, sample in samples:
        if blocks is not None and sample.blocks is not None and len(sample.blocks) != blocks:
            raise CheckpointError(f"checkpoint field '{field}.blocks': expected {blocks} numbers, "
                                  f"got {len(sample.blocks)}")
    for i, (_, given) in enumerate(queue):
        problem = space.given_problem(given)
        if problem is not None:
            raise CheckpointError(f"checkpoint field 'queue[{i}].given': {problem}")


def _evidence(entries: Any, widths: list[int]) -> list[list]:
    """A state's evidence sums (``evidence.py``), one ``[S, V]`` per parameter of ``widths`` features, checked;
    zeros where the state has none (saved before it was kept)."""
    if entries is None:
        return [[[0.0] * width, [[0.0] * width] * width] for width in widths]
    entries = expect(entries, list, "evidence")
    if len(entries) != len(widths):
        raise CheckpointError(f"checkpoint field 'evidence': expected {len(widths)} parameters, got {len(entries)}")
    checked = []
    for i, (entry, width) in enumerate(zip(entries, widths)):
        field = f"evidence[{i}]"
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list) and len(entry[1]) == width):
            raise CheckpointError(f"checkpoint field {field!r}: expected [S, V] of {width} features, got {entry!r}")
        s = array_from_json(entry[0], field, width, finite=True)
        v = np.array([array_from_json(row, field, width, finite=True) for row in entry[1]])
        if width and (not np.allclose(v, v.T) or np.linalg.eigvalsh(v)[0] < -1e-9 * max(np.abs(v).max(), 1.0)):
            raise CheckpointError(f"checkpoint field {field!r}: V must be symmetric positive semi-definite, got {v}")
        checked.append([s.tolist(), v.tolist()])
    return checked


def parse_state(state: dict, *, width: int, size: int) -> dict:
    """Every field of a state checked and decoded into the searcher's attributes (CheckpointError otherwise)."""
    try:
        adam = expect(state["adam"], dict, "adam")
        metric, mode = state["metric"], state["mode"]
        try:
            check_objectives(metric, mode)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint fields 'metric'/'mode': {exc}") from exc
        stop = expect(state["stop"], dict, "stop", allow_none=True)
        if stop is not None:
            stop = {str(k): float_from_json(v, "stop") for k, v in stop.items()}
        pending = expect(state["pending"], dict, "pending")
        pool = expect(state.get("pool", []), list, "pool")  # absent in older states
        last = expect(state["last"], dict, "last")
        curves = expect(state.get("curves", {}), dict, "curves")  # absent in older states
        rung_levels = array_from_json(state.get("rung_levels", []), "rung_levels", finite=True)
        if (rung_levels <= 0).any() or (np.diff(rung_levels) <= 0).any():
            raise CheckpointError(f"checkpoint field 'rung_levels': expected ascending levels > 0, got {rung_levels}")
        batch, unscored, queue = (expect(state[key], list, key) for key in ("batch", "unscored", "queue"))
        history = expect(state["history"], list, "history")
        full_iterations = float_from_json(state["full_iterations"], "full_iterations")
        if not (math.isfinite(full_iterations) and full_iterations >= 1):
            raise CheckpointError(f"checkpoint field 'full_iterations': expected a finite number >= 1, "
                                  f"got {state['full_iterations']!r}")
        parsed = {
            "_metric": metric, "_mode": mode,
            "_max_concurrent": expect(state["max_concurrent"], int, "max_concurrent", allow_none=True),
            "_synchronous": expect(state["synchronous"], bool, "synchronous"),
            "_num_samples": expect(state["num_samples"], int, "num_samples", allow_none=True),
            "_stop": stop,
            "_run": expect(state["run"], str, "run"),
            "policy": array_from_json(state["policy"], "policy", size, finite=True),
            "_adam": Adam(array_from_json(adam.get("m"), "adam.m", size, finite=True),
                          array_from_json(adam.get("v"), "adam.v", size, finite=True),
                          count(adam.get("t"), "adam.t")),
            "_pending": {str(tid): sample_from_json(p, f"pending[{tid}]", width) for tid, p in pending.items()},
            "_pool": [sample_from_json(p, f"pool[{i}]", width) for i, p in enumerate(pool)],
            "_last": {str(tid): {str(k): float_from_json(v, f"last[{tid}]") for k, v in
                                 expect(r, dict, f"last[{tid}]").items()} for tid, r in last.items()},
            "_curves": {str(tid): _curve(c, f"curves[{tid}]") for tid, c in curves.items()},
            "_rung_levels": [float(level) for level in rung_levels],
            "_full_iterations": full_iterations,
            "_batch": [finished_from_json(b, f"batch[{i}]", width) for i, b in enumerate(batch)],
            "_unscored": [_unscored(u, f"unscored[{i}]", width) for i, u in enumerate(unscored)],
            "_queue": [_queued(q, f"queue[{i}]", width) for i, q in enumerate(queue)],
            "_num_updates": count(state["num_updates"], "num_updates"),
            "_num_suggested": count(state["num_suggested"], "num_suggested"),
            "_num_failed": count(state["num_failed"], "num_failed"),
            "_trials_used": count(state["trials_used"], "trials_used"),
            "_peak_in_flight": count(state["peak_in_flight"], "peak_in_flight"),
            "_history": [_history_row(expect(row, dict, "history")) for row in history],
        }
    except KeyError as exc:
        raise CheckpointError(f"checkpoint field {exc.args[0]!r} is missing") from exc
    for key in ("num_samples", "max_concurrent"):
        if parsed[f"_{key}"] is not None and parsed[f"_{key}"] < 1:
            raise CheckpointError(f"checkpoint field {key!r}: expected None or >= 1, got {parsed[f'_{key}']}")
    if not np.all(parsed["_adam"].v >= 0):
        raise CheckpointError("checkpoint field 'adam.v': second moments must be >= 0")
    return parsed


def _history_row(row: dict) -> dict:
    """A history row as the learner keeps it: its ``trial_ids`` a tuple (``Learner.update`` says why)."""
    row = dict(row)
    if isinstance(row.get("trial_ids"), list):
        row["trial_ids"] = tuple(row["trial_ids"])
    return row


def finished_from_json(x: Any, field: str, width: int) -> Finished:
    x = expect(x, dict, field)
    rewards = array_from_json(x.get("rewards"), f"{field}.rewards")
    level = float_from_json(x.get("level"), f"{field}.level")
    if len(rewards) < 1 or np.isinf(rewards).any() or not level > 0:
        raise CheckpointError(f"checkpoint field {field!r}: expected finite or null rewards and a level > 0, got {x!r}")
    rungs = None
    if x.get("rungs") is not None:
        rungs = np.array([array_from_json(pair, f"{field}.rungs", 2) for pair in expect(x["rungs"], list, f"{field}.rungs")])
        if not len(rungs) or not (np.isfinite(rungs[:, 0]).all() and (rungs[:, 0] > 0).all()) or np.isinf(rungs[:, 1]).any():
            raise CheckpointError(f"checkpoint field {field!r}: expected rungs as [iteration > 0, reward] pairs, got {x['rungs']!r}")
    return Finished(expect(x.get("trial_id"), str, f"{field}.trial_id", allow_none=True),
                    sample_from_json(x, field, width), rewards, level, rungs)


def _curve(x: Any, field: str) -> dict[float, float]:
    """A pending trial's rewards by iteration (``PGSearcher._curves``)."""
    try:
        curve = {float(t): float_from_json(v, field) for t, v in expect(x, dict, field).items()}
    except ValueError as exc:
        raise CheckpointError(f"checkpoint field {field!r}: iterations must be numbers, got {x!r}") from exc
    if not all(math.isfinite(t) and t > 0 for t in curve) or any(math.isinf(v) for v in curve.values()):
        raise CheckpointError(f"checkpoint field {field!r}: expected iterations > 0 and finite or null rewards")
    return curve


def _unscored(x: Any, field: str, width: int) -> tuple[str | None, Sample, Any, float]:
    x = expect(x, dict, field)
    level = float_from_json(x.get("level"), f"{field}.level")
    if not level > 0:
        raise CheckpointError(f"checkpoint field {field!r}: expected a level > 0, got {x.get('level')!r}")
    value = x.get("value")
    values = value if isinstance(value, list) else [value]
    return (expect(x.get("trial_id"), str, f"{field}.trial_id", allow_none=True),
            sample_from_json(x, field, width),
            [float_from_json(v, f"{field}.value") for v in values] if isinstance(value, list)
            else float_from_json(value, f"{field}.value"), level)


def _queued(x: Any, field: str, width: int) -> tuple[np.ndarray, dict]:
    x = expect(x, dict, field)
    raw = array_from_json(x.get("raw"), f"{field}.raw", width)
    given = expect(x.get("given"), dict, f"{field}.given")
    try:
        given = {int(k): v for k, v in given.items()}
    except ValueError as exc:
        raise CheckpointError(f"checkpoint field {field!r}: given values are keyed by parameter index") from exc
    if np.isinf(raw).any() or any(not 0 <= k < width or not finite(v) for k, v in given.items()):
        raise CheckpointError(f"checkpoint field {field!r}: expected finite raw values and given numbers, got {x!r}")
    return raw, given
