"""Searcher cost per trial as the number of trials grows.

Each method is driven by the simulated workers (same async protocol, same problem)
for up to ``max_trials`` trials; methods in ``capped`` stop once the searcher
has used ``time_cap_s`` seconds of CPU (TPE's and HyperOpt's cost per trial
grows with the history, so they cannot reach 10,000 trials in reasonable time).
The searcher's CPU time (set_search_properties + suggest + on_trial_result + on_trial_complete)
is averaged over windows of trials with log-spaced edges, with its longest single call in each window
(``worst_ms``: a slow update blocks Tune; the first window includes set_search_properties where the
space is handed over by it), and written as rows (method, problem, workers, seed, repeat, window_start,
trials, ms_per_trial, worst_ms) to
``<results>/cost/cost.parquet``, then drawn to ``<out>/cost.png`` (medians over repeats). With
``--repeats`` the methods' runs alternate, and the last window's ratio of each method to the first is
printed per repeat: on a shared machine the load changes within seconds, so a ratio is read from runs
made side by side.

Example:
    python -m experiments.bench.cost --methods random pg tpe hyperopt --max-trials 10000 --time-cap-s 60
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import cli
from experiments.bench import simulate
from experiments.bench.problems import COST_PROBLEMS, PROBLEMS
from experiments.bench.results import Task, write

WINDOW_EDGES = (0, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)


@dataclass
class Args:
    """Measure searcher CPU time per trial in windows of trials."""

    methods: tuple[str, ...] = ("random", "pg", "tpe", "hyperopt")  # methods to time
    problem: str = "train_net"  # problem the searchers run on (the suite's, or wide10/70/200/500: that many parameters)
    workers: int = 8  # trials in flight
    max_trials: int = 10_000  # trials per method at most
    capped: tuple[str, ...] = ("tpe", "hyperopt")  # methods stopped by the time cap
    time_cap_s: float = 60.0  # searcher CPU seconds for capped methods
    seed: int = 0  # seed of every run
    results: Path = Path("results")  # rows go to <results>/cost/cost.parquet
    out: Path = Path("experiments/results")  # cost.png goes here
    processes: int = 2  # methods timed in parallel (1 gives the least noisy timings)
    repeats: int = 1  # runs of each method, alternated (each the same seed: the same work)


def windows(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean searcher ms per trial in each window of completed trials of one run."""
    cpu = np.concatenate([[0.0], frame["wall_time"].to_numpy()])
    longest = frame["longest_call"].to_numpy()  # before each completion, since the one before
    n = len(frame)
    rows = []
    edges = [e for e in WINDOW_EDGES if e < n] + [n]
    for start, end in zip(edges[:-1], edges[1:]):
        if end > start:
            rows.append({"window_start": start, "trials": end, "ms_per_trial": 1000 * (cpu[end] - cpu[start]) / (end - start),
                         "worst_ms": 1000 * longest[start:end].max()})
    return pd.DataFrame(rows)


def _time_one(task_and_repeat: tuple[Task, int]) -> pd.DataFrame:
    task, repeat = task_and_repeat
    frame = simulate.run_task(task, {**PROBLEMS, **COST_PROBLEMS}[task.problem])["trials"]
    table = windows(frame)
    table.insert(0, "repeat", repeat)
    for key in ("method", "problem", "workers", "seed"):
        table.insert(0, key, getattr(task, key))
    return table


def ratios(cost: pd.DataFrame) -> pd.DataFrame:
    """Per repeat, each method's ms per trial in the last window over the first method's (same repeat); NaN
    for a run that a time cap stopped before it (its windows are not the others')."""
    last = cost[cost["trials"] == cost["trials"].max()]
    table = last.pivot_table(index="repeat", columns="method", values="ms_per_trial", sort=False)
    table = table.reindex(columns=list(dict.fromkeys(cost["method"])))
    return table.div(table.iloc[:, 0], axis=0).iloc[:, 1:]


def main(argv: list[str] | None = None) -> int:
    from experiments.bench.plots import plot_cost

    args = cli.parse(Args, argv)
    tasks = [
        (Task("suite", m, args.problem, args.seed, args.workers, args.max_trials,
              time_cap_s=args.time_cap_s if m.split("[")[0] in args.capped else 0.0), repeat)
        for repeat in range(args.repeats) for m in args.methods
    ]
    start = time.perf_counter()
    if args.processes > 1:
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            tables = pool.map(_time_one, tasks, chunksize=1)
    else:
        tables = [_time_one(t) for t in tasks]
    cost = pd.concat(tables, ignore_index=True)
    path = args.results / "cost" / "cost.parquet"
    write(cost, path)
    args.out.mkdir(parents=True, exist_ok=True)
    png = plot_cost(cost, args.out / "cost.png")
    medians = cost.pivot_table(index="trials", columns="method", values="ms_per_trial", aggfunc="median")
    print(medians.round(3).to_string())
    if len(args.methods) > 1:
        table = ratios(cost)
        print(f"last window, ratio to {args.methods[0]} per repeat:\n{table.round(2).to_string()}\n"
              f"median {table.median().round(2).to_dict()}")
    print(f"wrote {path} and {png} in {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
