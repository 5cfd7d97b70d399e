"""Checkpoint size and save time of PGSearcher as trials accumulate (issue 11).

Drives ``PGSearcher()`` (default arguments) through the simulated
asynchronous workers (``simulate.simulate``, as Tune drives it) on the
24-parameter ``mixed_hd24`` problem and, after each checkpoint number of
completed trials, calls ``searcher.save(path)`` as Tune does on every
experiment checkpoint: the size of the file in bytes and the wall time of that
one save. Writes a markdown table (``experiments/results/checkpoint.md``).

Example:
    python -m experiments.bench.checkpoint
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments import cli
from experiments.bench.domains import walk
from experiments.bench.problems import PROBLEMS
from experiments.bench.simulate import simulate


@dataclass
class Args:
    """Measure PGSearcher's checkpoint size and save time at growing numbers of trials."""

    problem: str = "mixed_hd24"  # problem whose space the searcher tunes
    checkpoints: tuple[int, ...] = (200, 2000, 10000)  # completed trials at which to report a save
    every: int = 50  # completed trials between saves (Tune saves every >= 10 s)
    workers: int = 8  # trials in flight
    seed: int = 0  # seed of the searcher and the simulated durations
    out: Path = Path("experiments/results/checkpoint.md")  # markdown table to write


def measure(args: Args) -> list[dict]:
    """One row per checkpoint: trials, bytes, save seconds, history file bytes, policy updates so far.

    Saves into one folder every ``args.every`` trials, as Tune does on its
    periodic experiment checkpoints, so a save appends only the newest history rows.
    """
    from ray_pg import PGSearcher

    problem = PROBLEMS[args.problem]
    searcher = PGSearcher(metric=problem.metric, mode="min", seed=args.seed)
    rng = np.random.default_rng([args.seed, 2])
    rows, done = [], 0
    todo = sorted(args.checkpoints)
    with tempfile.TemporaryDirectory(prefix="pg_checkpoint_") as folder:
        path = os.path.join(folder, "searcher-state.json")
        for _ in simulate(searcher, problem.space, problem.metric, "min", args.workers, todo[-1], args.seed,
                          lambda config: ({problem.metric: problem.observe(config, rng)[0]}, None)):
            done += 1
            if done in todo or done % args.every == 0:
                start = time.perf_counter()
                searcher.save(path)
                seconds = time.perf_counter() - start
            if done in todo:
                history = sum(os.path.getsize(p) for p in Path(folder).glob("ray_pg-history-*"))
                rows.append({"trials": done, "bytes": os.path.getsize(path), "save_s": seconds,
                             "history_bytes": history, "updates": searcher.num_updates})
    return rows


def markdown(rows: list[dict], args: Args, command: str) -> str:
    lines = [
        "# PGSearcher checkpoint size and save time",
        "",
        f"Generated {datetime.date.today().isoformat()} by `{command}` on {platform.machine()} "
        f"(Python {platform.python_version()}): `PGSearcher()` defaults on `{args.problem}` "
        f"({sum(1 for _ in walk(PROBLEMS[args.problem].space))} parameters), {args.workers} simulated asynchronous "
        f"workers, seed {args.seed}, a save every {args.every} trials into one folder (as Tune's periodic experiment "
        "checkpoints). `bytes`: size of the state file `searcher.save(path)` writes; `save ms`: wall time of that "
        "call; `history bytes`: the policy history beside it, appended to by each save, never rewritten.",
        "",
        "| completed trials | policy updates | bytes | save ms | history bytes |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['trials']:,} | {row['updates']} | {row['bytes']:,} | {1000 * row['save_s']:.1f} "
                     f"| {row['history_bytes']:,} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = cli.parse(Args, argv)
    rows = measure(args)
    text = markdown(rows, args, shlex.join(["python", "-m", "experiments.bench.checkpoint", *argv]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
