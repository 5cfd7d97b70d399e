"""Result files: the task a file belongs to, its path, tidy frames, atomic writes and loading.

Every benchmark run is one :class:`Task` and writes one parquet file of tidy
rows (one per completed trial) to
``<out>/<benchmark>/trials/<method>__<problem>__w<workers>__s<seed>.parquet``,
and, for searchers that have ``history()`` (PGSearcher), the policy's history
to ``.../history/<same name>``. Whatever the kind of benchmark, the rows carry
the task's keys (``KEYS``), ``trial`` (completion index, 1-based) and
``best_so_far``: the best score so far, lower is better (regret for a problem
with a known optimum, one minus the hypervolume ratio with several objectives),
so one analysis ranks every benchmark.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

#: Columns that name the run a row belongs to, first in every frame.
KEYS = ["method", "problem", "seed", "workers", "budget"]


@dataclass(frozen=True)
class Task:
    """One run: a method on a problem of a benchmark, with a seed, a concurrency and a budget.

    Attributes:
        benchmark: name in ``experiments.bench.benchmarks.BENCHMARKS``.
        method: method spec (``experiments.bench.methods``), e.g. ``"pg[batch_size=16]"``.
        problem: problem name within the benchmark.
        seed: seed of the searcher and of the simulated durations and noise.
        workers: trials in flight.
        budget: trials per run (training iterations for learning-curve benchmarks).
        history: keep the searcher's ``history()`` when it has one.
        time_cap_s: stop once the searcher used this much CPU (0: no cap).
    """

    benchmark: str
    method: str
    problem: str
    seed: int
    workers: int
    budget: int
    history: bool = False
    time_cap_s: float = 0.0

    def label(self) -> str:
        return f"{self.benchmark} {self.method} {self.problem} w={self.workers} seed={self.seed}"


def tidy(rows: list[dict[str, Any]], task: Task, columns: list[str]) -> pd.DataFrame:
    """Rows of one run as a frame: the task's ``KEYS`` first, then ``columns``."""
    frame = pd.DataFrame(rows, columns=columns)
    for position, key in enumerate(KEYS):
        frame.insert(position, key, getattr(task, key))
    return frame


def tag(frame: pd.DataFrame, task: Task) -> pd.DataFrame:
    """A copy of ``frame`` (e.g. a policy history) with string column names and the task's keys."""
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    for key in KEYS:
        frame[key] = getattr(task, key)
    return frame


def run_file(out: Path, task: Task, kind: str = "trials") -> Path:
    """Where a run's rows (``kind="trials"``) or policy history (``kind="history"``) go."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", task.method).strip("_")
    if safe != task.method:  # keep distinct specs in distinct files
        safe += "-" + hashlib.sha1(task.method.encode()).hexdigest()[:6]
    return Path(out) / task.benchmark / kind / f"{safe}__{task.problem}__w{task.workers}__s{task.seed}.parquet"


def write(frame: pd.DataFrame, path: Path) -> None:
    """Write a parquet file atomically (temporary file, then rename): readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # two runners may share a folder
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def load(out: Path, benchmark: str, kind: str = "trials") -> pd.DataFrame:
    """All rows of one kind of one benchmark under a results folder, as one frame."""
    files = sorted((Path(out) / benchmark / kind).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no {kind} files under {Path(out) / benchmark / kind}")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
