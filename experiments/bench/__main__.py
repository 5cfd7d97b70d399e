"""Command line of the benchmarks: ``python -m experiments.bench COMMAND BENCHMARK [flags]``.

Commands:
    run      run every missing task (method x problem x workers x seed), with a progress bar
    summary  write the benchmark's markdown summary (and figures) from its result files
    compare  the first of --methods head to head with each other one, from the result files (printed)
    all      run, then summary
    plots    regret curves and PG policy histories of a simulated suite (and the cost plot)
    list     the benchmarks, their problems and defaults, and the methods

Examples:
    python -m experiments.bench run suite --workers 8 --budget 200 --seeds 10
    python -m experiments.bench run suite --methods "pg[batch_size=32]" --workers 64 --budget 400
    python -m experiments.bench all asha --seeds 20
    python -m experiments.bench summary suite && python -m experiments.bench plots suite
    python -m experiments.bench compare suite-noisy --methods pg hebo smac tpe catcma ngopt random
"""

from __future__ import annotations

import fnmatch
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments import cli
from experiments.bench import analysis, plots
from experiments.bench.benchmarks import BENCHMARKS
from experiments.bench.methods import METHODS, available, parse_method
from experiments.bench.results import load
from experiments.bench.runner import run, tasks_for

COMMANDS = ("run", "summary", "all", "plots", "compare", "list")


@dataclass
class Args:
    """Run or summarise a benchmark (``python -m experiments.bench COMMAND BENCHMARK --help``)."""

    methods: tuple[str, ...] = ()  # method specs, e.g. pg "pg[batch_size=16]" (default: the benchmark's)
    problems: tuple[str, ...] = ()  # problem names or shell patterns, e.g. "*_i0[1-5]_*" (default: the benchmark's)
    seeds: int = 0  # number of seeds: first_seed, first_seed + 1, ... (0: the benchmark's)
    first_seed: int = 0  # first seed
    workers: tuple[int, ...] = ()  # trials in flight (default: the benchmark's)
    budget: int = 0  # trials per run; training iterations for asha (0: the benchmark's)
    out: Path = Path("results")  # results folder; files go to <out>/<benchmark>/
    processes: int = 2  # parallel runs of simulated benchmarks
    overwrite: bool = False  # rerun runs whose file exists
    history_seed: int = 0  # seed whose PG policy history is kept (-1: none)
    time_cap_s: float = 0.0  # stop a run once the searcher used this much CPU (0: no cap)
    summary_dir: Path = Path("experiments/results")  # where summaries and figures go


def select_problems(names: tuple[str, ...], patterns: tuple[str, ...]) -> list[str]:
    """The problems of ``names`` matching any pattern (a name or a shell pattern), in order."""
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in names)]
    if unmatched:
        raise SystemExit(f"no problem matches {unmatched}; e.g. {list(names)[:5]}")
    return chosen


def do_run(name: str, args: Args) -> int:
    bench = BENCHMARKS[name]
    methods = args.methods or bench.methods
    for spec in methods:
        parse_method(spec)  # refuses unknown names before any run
    missing = [m for m in methods if not available(m)]
    if missing:
        raise SystemExit(f"methods not importable here: {missing}")
    problems = select_problems(bench.problems(), args.problems) if args.problems else \
        list((bench.default_problems or bench.problems)())
    seeds = range(args.first_seed, args.first_seed + (args.seeds or bench.seeds))
    tasks = tasks_for(name, methods=methods, problems=problems, seeds=seeds, workers=args.workers or bench.workers,
                      budget=args.budget or bench.budget, history_seed=args.history_seed,
                      time_cap_s=args.time_cap_s)
    failures = run(tasks, args.out, processes=args.processes, overwrite=args.overwrite)
    print(f"{len(tasks)} tasks, {len(failures)} failed", flush=True)
    return 1 if failures else 0


def do_summary(name: str, args: Args, command: str) -> int:
    bench = BENCHMARKS[name]
    if bench.report is None:
        raise SystemExit(f"benchmark {name!r} has no report of its own")
    trials = load(args.out, name)
    if args.methods:
        trials = trials[trials["method"].isin(args.methods)]
    if args.problems:
        trials = trials[trials["problem"].isin(select_problems(tuple(trials["problem"].unique()), args.problems))]
    if args.workers:
        trials = trials[trials["workers"].isin(args.workers)]
    try:
        history = load(args.out, name, "history")
        history = history[history.set_index(["method", "problem"]).index.isin(
            trials.set_index(["method", "problem"]).index.unique())]
    except FileNotFoundError:
        history = pd.DataFrame()
    args.summary_dir.mkdir(parents=True, exist_ok=True)
    for path in bench.report(trials, history, args.summary_dir, command):
        print(f"wrote {path}")
    return 0


def do_compare(name: str, args: Args) -> int:
    """Print ``analysis.head_to_head`` of the first of ``--methods`` against the others as a markdown table."""
    if len(args.methods) < 2:
        raise SystemExit("compare needs --methods: the method to compare first, then at least one other")
    trials = load(args.out, name)
    trials = trials[trials["method"].isin(args.methods)]
    if args.problems:
        trials = trials[trials["problem"].isin(select_problems(tuple(trials["problem"].unique()), args.problems))]
    if args.workers:
        trials = trials[trials["workers"].isin(args.workers)]
    absent = [m for m in args.methods if m not in set(trials["method"])]
    if absent:
        raise SystemExit(f"no runs of {absent} in {args.out / name}")
    budget = args.budget or int(trials["budget"].max())
    checkpoints = [n for n in analysis.CHECKPOINTS if n < budget] + [budget]
    table = analysis.head_to_head(analysis.scores_at(trials, checkpoints), args.methods[0])
    table = table.loc[[(m, s) for m in args.methods[1:] for s in ("share", "rank difference", "sd")]]
    runs = trials.groupby(["problem", "seed"]).ngroups
    print(f"{args.methods[0]} against each other method, {runs} (problem, seed) pairs, at {checkpoints} trials:")
    print(analysis.markdown_table(table.apply(lambda column: column.map("{:.2f}".format)), ["against", "statistic"]))
    return 0


def do_list() -> int:
    for name, bench in BENCHMARKS.items():
        problems = bench.problems()
        print(f"{name}: {len(problems)} problems ({', '.join(problems[:4])}{', ...' if len(problems) > 4 else ''}); "
              f"default methods {', '.join(bench.methods)}; workers {bench.workers}, budget {bench.budget}, "
              f"{bench.seeds} seeds")
    print(f"methods: {', '.join(METHODS)} (ablations: name[knob=value, ...])")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["list"]:
        return do_list()
    if len(argv) < 2 or argv[0] not in COMMANDS or argv[1] not in BENCHMARKS:
        print(f"usage: python -m experiments.bench {{{','.join(COMMANDS)}}} {{{','.join(BENCHMARKS)}}} [flags]; "
              "add --help for the flags", file=sys.stderr)
        return 2
    command, name = argv[:2]
    args = cli.parse(Args, argv[2:])
    status = do_run(name, args) if command in ("run", "all") else 0
    if command in ("summary", "all") and status == 0:
        status = do_summary(name, args, shlex.join(["python", "-m", "experiments.bench", *argv]))
    if command == "compare":
        status = do_compare(name, args)
    if command == "plots":
        status = plots.write_all(args.out, name, args.summary_dir)
    return status


if __name__ == "__main__":
    sys.exit(main())
