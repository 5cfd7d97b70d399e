"""Markdown summary of benchmark results; reads result files only.

For every (workers, budget) setting found under ``<results>/trials`` it writes:

1. the median over seeds of the best regret so far after 25/50/100/200/400
   completed trials, per problem and method, with the searcher's median CPU
   milliseconds per trial;
2. the mean rank of each method per problem and overall. Ranks are computed
   per seed: on each problem and seed, methods are ranked by their best regret
   at the end of the budget (1 = best, ties share the average rank); a
   problem's mean rank averages those over its seeds (only seeds every method
   ran), and the overall rank averages the problems' mean ranks.

Then it appends the summaries that the other benchmarks write next to it
(``EXTRA_SUMMARIES``: two-objective search, ASHA), each under its own
heading, so that one file holds every figure.

Example:
    python -m experiments.summary --results results --out experiments/results/summary.md
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import cli
from experiments.methods import METHODS
from experiments.problems import PROBLEMS, TUNING_PROBLEMS
from experiments.runner import load_results

CHECKPOINTS = (25, 50, 100, 200, 400)
# Written by experiments.multiobjective and experiments.asha next to summary.md.
EXTRA_SUMMARIES = ("multiobjective.md", "multiobjective_w64.md", "asha.md", "asha_parallel.md")


@dataclass
class Args:
    """Write a markdown summary of a results folder."""

    results: Path = Path("results")  # folder the runner wrote
    out: Path = Path("experiments/results/summary.md")  # markdown file to write
    checkpoints: tuple[int, ...] = CHECKPOINTS  # trial counts to report


def regret_at(frame: pd.DataFrame, checkpoints: tuple[int, ...]) -> pd.DataFrame:
    """Best regret so far after each checkpoint, one row per run (NaN past a run's end)."""
    keys = ["problem", "workers", "budget", "method", "seed"]
    wide = frame.pivot_table(index=keys, columns="trial", values="best_so_far", aggfunc="first")
    cols = {n: wide[n] if n in wide.columns else np.nan for n in checkpoints}
    return pd.DataFrame(cols, index=wide.index)


def final_regret(frame: pd.DataFrame) -> pd.Series:
    """Best regret at the end of each run's budget (NaN when the run stopped early)."""
    keys = ["problem", "workers", "budget", "method", "seed"]
    last = frame.sort_values("trial").groupby(keys).last()
    return last["best_so_far"].where(last["trial"] >= last.index.get_level_values("budget"))


def mean_ranks(final: pd.Series) -> pd.DataFrame:
    """Mean over seeds of each method's rank per problem (rows) and method (columns)."""
    table = final.unstack("method")  # index: problem, workers, budget, seed
    table = table.dropna(how="any")  # seeds that every method finished
    ranks = table.rank(axis=1, method="average")
    return ranks.groupby(level="problem", sort=False).mean()


def cpu_ms_per_trial(frame: pd.DataFrame) -> pd.Series:
    keys = ["problem", "workers", "budget", "method", "seed"]
    last = frame.sort_values("trial").groupby(keys).last()
    per_run = 1000 * last["wall_time"] / last["trial"]
    return per_run.groupby(level=["problem", "workers", "budget", "method"]).median()


def ordered(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Problems in registry order and methods in table order, then any others sorted."""
    problems = [p for p in PROBLEMS if p in set(frame["problem"])]
    problems += sorted(set(frame["problem"]) - set(problems))
    methods = [m for m in METHODS if m in set(frame["method"])]
    methods += sorted(set(frame["method"]) - set(methods))
    return problems, methods


def fmt(x: float) -> str:
    if pd.isna(x):
        return ""
    if x == 0:
        return "0"
    if abs(x) >= 100 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.3g}"


def markdown_table(frame: pd.DataFrame, index_names: list[str]) -> str:
    header = index_names + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx, row in frame.iterrows():
        idx = idx if isinstance(idx, tuple) else (idx,)
        cells = [str(i) for i in idx] + [v if isinstance(v, str) else fmt(v) for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summarize(frame: pd.DataFrame, checkpoints: tuple[int, ...] = CHECKPOINTS, source: str = "") -> str:
    """The markdown text for all rows of ``frame``."""
    problems, methods = ordered(frame)
    at = regret_at(frame, checkpoints)
    medians = at.groupby(level=["problem", "workers", "budget", "method"]).median()
    cpu = cpu_ms_per_trial(frame)
    seeds = frame.groupby(["problem", "workers", "budget", "method"])["seed"].nunique()
    final = final_regret(frame)
    lines = [
        "# Benchmark summary",
        "",
        f"Generated by `python -m experiments.summary` from `{source}`: {frame.groupby(['method', 'problem', 'workers', 'budget', 'seed']).ngroups} runs, "
        f"{len(frame)} trials. Regret = noise-free value - known optimum (minimisation); "
        "entries are medians over seeds of the best regret after n completed trials. "
        "`cpu ms/trial`: median searcher CPU time (set_search_properties + suggest + on_trial_complete) per trial. "
        "Mean rank: per problem and seed, methods are ranked by best regret at the end of the budget "
        "(1 = best, ties averaged), then averaged over seeds (only seeds every method finished); "
        "`overall` averages the problems' mean ranks. PGSearcher's defaults were chosen on "
        f"{', '.join(TUNING_PROBLEMS)} only; `held-out half` averages the other problems. "
        "`problems won`: problems where the method's mean rank is the best (ties count for each).",
    ]
    for (workers, budget), _ in frame.groupby(["workers", "budget"]):
        shown = [n for n in checkpoints if n <= budget]
        lines += ["", f"## {workers} workers, budget {budget}", "", "### Median best regret", ""]
        rows = []
        for problem in problems:
            for method in methods:
                key = (problem, workers, budget, method)
                if key not in medians.index:
                    continue
                row = {f"@{n}": medians.loc[key, n] for n in shown}
                row["cpu ms/trial"] = cpu.loc[key]
                row["seeds"] = str(seeds.loc[key])
                rows.append(((problem, method), row))
        table = pd.DataFrame([r for _, r in rows], index=pd.MultiIndex.from_tuples([k for k, _ in rows]))
        lines.append(markdown_table(table, ["problem", "method"]))
        sub = final.xs((workers, budget), level=("workers", "budget"), drop_level=False)
        ranks = mean_ranks(sub)
        ranks = ranks.reindex([p for p in problems if p in ranks.index])
        ranks = ranks[[m for m in methods if m in ranks.columns]]
        if len(ranks):
            per_problem = ranks.copy()
            ranks.loc["overall"] = per_problem.mean(axis=0)
            held_out = [p for p in per_problem.index if p not in TUNING_PROBLEMS]
            if held_out:
                ranks.loc["held-out half"] = per_problem.loc[held_out].mean(axis=0)
            ranks.loc["problems won"] = per_problem.eq(per_problem.min(axis=1), axis=0).sum(axis=0)
            lines += ["", f"### Mean rank (by best regret at trial {budget}, averaged over seeds)", ""]
            lines.append(markdown_table(ranks, ["problem"]))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = cli.parse(Args, argv)
    frame = load_results(args.results)
    text = summarize(frame, args.checkpoints, source=str(args.results))
    for name in EXTRA_SUMMARIES:
        extra = args.out.parent / name
        if extra.exists():  # demote its headings one level under ours
            text += "\n" + "\n".join("#" + line if line.startswith("#") else line
                                      for line in extra.read_text().splitlines()) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
