"""The one runner: every benchmark's tasks, resumable, in parallel, with a progress bar.

A task's result file is written atomically when the task ends, so a file
that exists is a finished run: the runner skips it (unless ``overwrite``) and
an interrupted benchmark resumes where it stopped. Tasks of simulated
benchmarks run in a pool of ``processes`` fresh interpreters; tasks of
benchmarks that run real Tune experiments share one local Ray (``num_cpus=2``)
started here and run one after the other. One failed task is reported and
the others go on.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path

from tqdm import tqdm

from experiments.bench.benchmarks import BENCHMARKS
from experiments.bench.results import Task, run_file, tag, write

ROOT = str(Path(__file__).resolve().parents[2])


def tasks_for(benchmark: str, *, methods: Sequence[str], problems: Sequence[str], seeds: Iterable[int],
              workers: Sequence[int], budget: int, history_seed: int = 0, time_cap_s: float = 0.0) -> list[Task]:
    """Every (method, problem, workers, seed) task, slow model-based methods and big settings first."""
    tasks = [Task(benchmark, m, p, s, w, budget, s == history_seed, time_cap_s)
             for m in methods for p in problems for w in workers for s in seeds]
    order = {"gp": 0, "tpe": 1, "hyperopt": 2}  # so that the pool ends evenly
    return sorted(tasks, key=lambda t: (order.get(t.method.split("[")[0], 3), -t.workers, t.seed))


def run_task(task: Task, out: Path) -> None:
    """Run one task and write its files (rows; the policy history when there is one)."""
    frames = BENCHMARKS[task.benchmark].run_task(task)
    if "history" in frames:
        write(tag(frames["history"], task), run_file(out, task, "history"))
    write(frames["trials"], run_file(out, task))  # last: its existence marks the run done


def _timed(job: tuple[Task, str]) -> tuple[Task, float, str | None]:
    task, out = job
    start = time.perf_counter()
    try:
        run_task(task, Path(out))
        return task, time.perf_counter() - start, None
    except Exception:  # noqa: BLE001 - reported per run, the benchmark goes on
        return task, time.perf_counter() - start, traceback.format_exc()


def run(tasks: list[Task], out: Path, *, processes: int = 2, overwrite: bool = False) -> list[tuple[Task, str]]:
    """Run every task whose file is missing (all with ``overwrite``); return the failures (task, traceback)."""
    todo = [(t, str(out)) for t in tasks if overwrite or not run_file(out, t).exists()]
    if not todo:
        return []
    uses_ray = any(BENCHMARKS[t.benchmark].uses_ray for t, _ in todo)
    failures = []
    with tqdm(total=len(todo), desc="runs", unit="run", file=sys.stderr, dynamic_ncols=True) as bar:
        for task, seconds, error in _results(todo, processes, uses_ray):
            bar.update()
            bar.set_postfix_str(f"{task.label()}: {'FAILED' if error else 'ok'} in {seconds:.1f}s")
            if error:
                tqdm.write(f"{task.label()} FAILED:\n{error}", file=sys.stderr)
                failures.append((task, error))
    return failures


def _results(todo: list[tuple[Task, str]], processes: int, uses_ray: bool) -> Iterable:
    if uses_ray:
        yield from _with_ray(todo)
    elif processes > 1 and len(todo) > 1:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            yield from pool.imap_unordered(_timed, todo)
    else:
        yield from map(_timed, todo)


def _with_ray(todo: list[tuple[Task, str]]) -> Iterable:
    import ray

    # Ray workers import trainables by reference: put the repository on their path.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # verbose=0 then prints no banner per run
    own = not ray.is_initialized()
    if own:  # address="local": a fresh Ray of our own even if a `ray start` cluster runs here
        ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        yield from map(_timed, todo)
    finally:
        if own:
            ray.shutdown()
