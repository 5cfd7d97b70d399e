"""One runner for every benchmark: fast simulated workers, or real Tune trials.

Fast mode drives a searcher in-process exactly as Tune does with
``max_concurrent_trials=workers``: the searcher is wrapped in Tune's own
``ConcurrencyLimiter``; it gets the space through ``set_search_properties(
metric, mode, space, num_samples=budget, stop={}, time_budget_s=None)`` unless
it was built with one; ``workers`` trials are kept in flight, each with an
exponential(1) duration in simulated time; completions come back in time
order (so in random order), each result through ``on_trial_result`` and then
``on_trial_complete(trial_id=..., result=...)``, as Tune sends the one result
of a trainable that reports once; ``suggest`` returning None means "wait for a
completion", and every call gets a new trial id. Durations and observation noise come from
streams seeded by the seed alone, so all methods see the same durations.

Tune mode (``--mode tune``) runs a real scikit-learn task as Tune trials on a
local Ray (see ``experiments/tune_task.py``) and writes the same rows.

Each run (method, problem, seed, workers) writes one parquet file of tidy rows
under ``<out>/trials/``: method, problem, seed, workers, budget, trial
(completion index, 1-based), suggest_index, sim_time, value (what the searcher
saw), true_value (noise-free), regret (true_value - optimum), best_so_far (best
regret so far), wall_time (searcher CPU seconds spent so far in
set_search_properties + suggest + on_trial_complete), invalid (parameters not
valid for their domain). Existing files are kept unless ``--overwrite true``,
so an interrupted benchmark resumes. For ``--history-seed``'s runs of
searchers that have ``history()`` (PGSearcher) the policy's history goes to
``<out>/history/``.

Examples:
    python -m experiments.runner --workers 8 --budget 200 --seeds 10 --processes 2
    python -m experiments.runner --methods random pg "pg[batch_size=32]" --problems train_net --seeds 3
    python -m experiments.runner --mode tune --methods random pg --budget 40 --workers 2
"""

from __future__ import annotations

import hashlib
import heapq
import multiprocessing
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import cli
from experiments.domains import invalid_paths
from experiments.methods import DEFAULT_METHODS, available, make
from experiments.problems import PROBLEMS, Problem, get_problem

MODE = "min"
# Regrets below -REGRET_TOL mean a wrong optimum; above it, float rounding.
REGRET_TOL = 1e-9

COLUMNS = [
    "method",
    "problem",
    "seed",
    "workers",
    "budget",
    "trial",
    "suggest_index",
    "sim_time",
    "value",
    "true_value",
    "regret",
    "best_so_far",
    "wall_time",
    "invalid",
]


@dataclass
class Args:
    """Run benchmark problems x methods x seeds x workers and write tidy rows."""

    problems: tuple[str, ...] = tuple(PROBLEMS)  # problem names (fast mode)
    methods: tuple[str, ...] = DEFAULT_METHODS  # method specs, e.g. pg "pg[batch_size=16]"
    seeds: int = 10  # number of seeds: first_seed, first_seed + 1, ...
    first_seed: int = 0  # first seed
    workers: tuple[int, ...] = (8,)  # trials in flight
    budget: int = 200  # trials per run
    out: Path = Path("results")  # results folder
    processes: int = 2  # parallel runs
    mode: str = "fast"  # "fast" (simulated workers) or "tune" (real Ray Tune trials)
    history_seed: int = 0  # seed whose PG policy history is saved (-1: none)
    overwrite: bool = False  # rerun runs whose file exists
    time_cap_s: float = 0.0  # stop a run once the searcher used this much CPU (0: no cap)


@dataclass(frozen=True)
class Task:
    method: str
    problem: str
    seed: int
    workers: int
    budget: int
    history: bool = False
    time_cap_s: float = 0.0


@dataclass(frozen=True)
class Completion:
    """A simulated trial that just completed."""

    suggest_index: int  # 1-based order of its suggestion
    sim_time: float  # simulated time of its completion
    outcome: Any  # what ``evaluate`` returned for its config
    cpu: float  # searcher CPU seconds spent so far


def simulate(searcher: Any, space: dict, metric: str | list[str], mode: str | list[str], workers: int, budget: int,
             seed: int, evaluate: Callable[[dict], tuple[dict, Any]], hand_space: bool = True) -> Iterator[Completion]:
    """Drive a searcher as Tune does with ``workers`` trials in flight (see the module docstring).

    ``evaluate(config) -> (metrics, outcome)`` is called when a config is
    suggested; ``metrics`` is the trial's one result, ``outcome`` comes back in
    its ``Completion``. Durations come from a stream seeded by ``seed`` alone.
    """
    from ray.tune.search import ConcurrencyLimiter, Searcher

    cpu = 0.0
    limiter = ConcurrencyLimiter(searcher, max_concurrent=workers)
    if hand_space:
        start = time.process_time()
        accepted = limiter.set_search_properties(metric, mode, space, num_samples=budget, stop={}, time_budget_s=None)
        cpu += time.process_time() - start
        if not accepted:
            raise RuntimeError(f"{type(searcher).__name__}: set_search_properties returned False")
    durations = np.random.default_rng([seed, 1])
    in_flight: list[tuple[float, int, str, dict, Any]] = []
    now, next_id, suggested, finished = 0.0, 0, 0, False
    while True:
        while not finished and suggested < budget and len(in_flight) < workers:
            trial_id = f"{next_id:05d}"  # a new id for every call, as Tune does
            next_id += 1
            start = time.process_time()
            config = limiter.suggest(trial_id)
            cpu += time.process_time() - start
            if config is None:
                break
            if config == Searcher.FINISHED:
                finished = True
                break
            metrics, outcome = evaluate(config)
            heapq.heappush(in_flight, (now + float(durations.exponential()), suggested, trial_id, metrics, outcome))
            suggested += 1
        if not in_flight:
            if finished or suggested >= budget:
                return
            raise RuntimeError(f"{type(searcher).__name__} returned None from suggest with no trial in flight")
        now, order, trial_id, metrics, outcome = heapq.heappop(in_flight)
        result = {**metrics, "training_iteration": 1, "trial_id": trial_id}
        start = time.process_time()
        limiter.on_trial_result(trial_id, {**result, "done": False})
        limiter.on_trial_complete(trial_id=trial_id, result={**result, "done": True}, error=False)
        cpu += time.process_time() - start
        yield Completion(order + 1, now, outcome, cpu)


def run_fast(task: Task) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Simulate one run; return its rows and, if asked and available, the policy history."""
    problem = get_problem(task.problem)
    metric = problem.metric
    searcher, space_in_constructor = make(task.method, problem.space, metric, MODE, task.seed)
    noise = np.random.default_rng([task.seed, 2])

    def evaluate(config: dict) -> tuple[dict, tuple[float, float, int]]:
        observed, true = problem.observe(config, noise)
        return {metric: observed}, (observed, true, len(invalid_paths(problem.space, config)))

    rows: list[dict[str, Any]] = []
    best = np.inf
    for done in simulate(searcher, problem.space, metric, MODE, task.workers, task.budget, task.seed, evaluate,
                         hand_space=not space_in_constructor):
        observed, true, bad = done.outcome
        regret = _regret(problem, true)
        best = min(best, regret)
        rows.append({"trial": len(rows) + 1, "suggest_index": done.suggest_index, "sim_time": done.sim_time,
                     "value": observed, "true_value": true, "regret": regret, "best_so_far": best,
                     "wall_time": done.cpu, "invalid": bad})
        if task.time_cap_s and done.cpu > task.time_cap_s:
            break
    history = None
    if task.history and callable(getattr(searcher, "history", None)):
        history = _tag(searcher.history(), task)
    return _frame(rows, task), history


def _regret(problem: Problem, true_value: float) -> float:
    regret = true_value - problem.optimum
    if regret < -REGRET_TOL:
        raise AssertionError(f"{problem.name}: value {true_value!r} beats the stated optimum {problem.optimum!r}")
    return max(regret, 0.0)


def _frame(rows: list[dict[str, Any]], task: Task) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS[5:])
    frame.insert(0, "budget", task.budget)
    frame.insert(0, "workers", task.workers)
    frame.insert(0, "seed", task.seed)
    frame.insert(0, "problem", task.problem)
    frame.insert(0, "method", task.method)
    return frame[COLUMNS]


def _tag(history: pd.DataFrame, task: Task) -> pd.DataFrame:
    history = history.copy()
    history.columns = [str(c) for c in history.columns]
    for key in ("method", "problem", "seed", "workers"):
        history[key] = getattr(task, key)
    return history


def run_file(out: Path, task: Task, kind: str = "trials") -> Path:
    """Where a run's rows (kind="trials") or policy history (kind="history") go."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", task.method).strip("_")
    if safe != task.method:  # keep distinct specs in distinct files
        safe += "-" + hashlib.sha1(task.method.encode()).hexdigest()[:6]
    return out / kind / f"{safe}__{task.problem}__w{task.workers}__s{task.seed}.parquet"


def _run_task(job: tuple[Task, str]) -> None:
    task, out = job
    frame, history = run_fast(task)
    _write(frame, run_file(Path(out), task))
    if history is not None:
        _write(history, run_file(Path(out), task, "history"))


def _timed(job: tuple[Callable[[Any], None], Any]) -> tuple[Any, float, str | None]:
    """Run ``work(arg)``; return (arg, seconds, traceback or None): one failed run does not end a benchmark."""
    work, arg = job
    start = time.perf_counter()
    try:
        work(arg)
        return arg, time.perf_counter() - start, None
    except Exception:  # noqa: BLE001 - reported per run, the benchmark goes on
        return arg, time.perf_counter() - start, traceback.format_exc()


def run_jobs(work: Callable[[Any], None], args: list, processes: int, label: Callable[[Any], str]) -> list:
    """``work(arg)`` for every arg, in a pool of ``processes`` when > 1; print progress; return (arg, error) failures.

    ``work`` must be importable by name (the pool spawns fresh interpreters).
    """
    print(f"{len(args)} runs to do", flush=True)
    jobs = [(work, arg) for arg in args]
    start = time.perf_counter()
    if processes > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            return _report(pool.imap_unordered(_timed, jobs), len(jobs), start, label)
    return _report(map(_timed, jobs), len(jobs), start, label)


def _report(results: Any, total: int, start: float, label: Callable[[Any], str]) -> list:
    failures = []
    for done, (arg, seconds, error) in enumerate(results, start=1):
        status = "FAILED" if error else "ok"
        print(f"[{done}/{total} {time.perf_counter() - start:7.1f}s] {label(arg)}: {status} in {seconds:.1f}s",
              flush=True)
        if error:
            print(error, file=sys.stderr, flush=True)
            failures.append((arg, error))
    return failures


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # two runners may share a folder
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def tasks_for(args: Args) -> list[Task]:
    for name in args.problems:
        get_problem(name)
    tasks = []
    for method in args.methods:
        for problem in args.problems:
            for workers in args.workers:
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    tasks.append(
                        Task(method, problem, seed, workers, args.budget, seed == args.history_seed, args.time_cap_s)
                    )
    # Slow model-based methods and big budgets first, so the pool ends evenly.
    order = {"tpe": 0, "hyperopt": 1}
    return sorted(tasks, key=lambda t: (order.get(t.method.split("[")[0], 2), -t.budget, -t.workers))


def run(args: Args) -> list[tuple[Task, str]]:
    """Run every missing (method, problem, seed, workers); return the failures."""
    if args.mode not in ("fast", "tune"):
        raise SystemExit(f"--mode must be fast or tune, got {args.mode!r}")
    missing = [m for m in args.methods if not available(m)]
    if missing:
        raise SystemExit(f"methods not importable here: {missing}")
    if args.mode == "tune":
        from experiments.tune_task import run_tune

        return run_tune(args)
    todo = [(t, str(args.out)) for t in tasks_for(args) if args.overwrite or not run_file(args.out, t).exists()]
    failures = run_jobs(_run_task, todo, args.processes,
                        lambda job: f"{job[0].method} {job[0].problem} w={job[0].workers} seed={job[0].seed}")
    return [(job[0], error) for job, error in failures]


def load_results(out: Path, kind: str = "trials") -> pd.DataFrame:
    """All rows of one kind under a results folder, as one DataFrame."""
    files = sorted((Path(out) / kind).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no {kind} files under {out}/{kind}")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv)
    failures = run(args)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
