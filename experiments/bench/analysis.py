"""One analysis for every benchmark: scores at checkpoints, mean ranks, markdown tables.

Every result frame (``experiments.bench.results``) has the run's keys, an axis
(``trial``, or ``cum_budget`` for learning curves) and ``best_so_far``, the
best score so far, lower is better. From those alone:

- ``scores_at``: each run's best score at each checkpoint of the axis;
- ``ranks``: methods ranked within each (problem, workers, budget, seed)
  (1 = best, ties share the average rank; only seeds every method ran);
- ``mean_ranks``: ranks averaged over seeds per problem, then over the
  problems of each half (the tuning half, on which PGSearcher's defaults were
  chosen, and the held-out half), at every checkpoint.

``head_to_head`` sets one method against each other run with it: the share of runs where it
scores lower, and its rank minus the other's with that mean's sd (``python -m experiments.bench
compare``).

``summarize_suite`` writes the markdown summary of a single-objective problem
suite (``summary.md`` for ours, ``bbob_mixint.md`` for COCO's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from experiments.bench.methods import METHODS
from experiments.bench.results import KEYS

CHECKPOINTS = (25, 50, 100, 200, 400, 1000, 2000)
SETTING = ["problem", "workers", "budget", "seed"]


def scores_at(frame: pd.DataFrame, checkpoints: Iterable[float], axis: str = "trial") -> pd.DataFrame:
    """Best score of each run (rows: ``KEYS``) at each checkpoint (columns).

    The score at a checkpoint is ``best_so_far`` at the last row whose ``axis``
    is at most the checkpoint; inf before the first row or where a run has no
    score yet (NaN). With ``axis="trial"``, checkpoints past a run's last trial
    are NaN (the run stopped early), so it is left out of ranks there.
    """
    checkpoints = list(checkpoints)
    table = {}
    for key, run in frame.groupby(KEYS, sort=False):
        run = run.sort_values(axis)
        x = run[axis].to_numpy()
        y = run["best_so_far"].astype(float).fillna(np.inf).to_numpy()
        index = np.searchsorted(x, checkpoints, side="right") - 1
        values = np.where(index >= 0, y[np.maximum(index, 0)], np.inf)
        if axis == "trial":
            values = np.where(np.asarray(checkpoints) <= x[-1], values, np.nan)
        table[key] = values
    out = pd.DataFrame.from_dict(table, orient="index", columns=checkpoints)
    out.index = pd.MultiIndex.from_tuples(out.index, names=KEYS)
    return out


def ranks(scores: pd.Series) -> pd.DataFrame:
    """Ranks of methods (columns) per (problem, workers, budget, seed) (rows) from a score per run.

    1 = lowest score; ties share the average rank; settings that not every method ran are dropped.
    """
    table = scores.unstack("method")
    return table.dropna(how="any").rank(axis=1, method="average")


def mean_ranks(scores: pd.Series) -> pd.DataFrame:
    """Mean over seeds of each method's rank, per (problem, workers, budget) (rows) and method (columns)."""
    return ranks(scores).groupby(level=["problem", "workers", "budget"], sort=False).mean()


def rank_table(at: pd.DataFrame, halves: dict[str, Callable[[str], bool]]) -> pd.DataFrame:
    """Mean rank per (half, workers, budget, checkpoint) (rows) and method (columns).

    A problem's mean rank averages its seeds; a half's averages its problems.
    ``halves`` maps a name to a test of the problem name (e.g. tuning / held-out).
    """
    rows = {}
    for n in at.columns:
        per_problem = mean_ranks(at[n])
        if not len(per_problem):
            continue
        problems = per_problem.index.get_level_values("problem")
        for half, member in halves.items():
            chosen = per_problem[[member(p) for p in problems]]
            for (workers, budget), part in chosen.groupby(level=["workers", "budget"]):
                rows[(half, workers, budget, n)] = part.mean(axis=0)
    table = pd.DataFrame.from_dict(rows, orient="index")
    if len(table):
        table.index = pd.MultiIndex.from_tuples(table.index, names=["half", "workers", "budget", "checkpoint"])
    return table


def head_to_head(at: pd.DataFrame, first: str) -> pd.DataFrame:
    """``first`` against each other method of ``at`` (``scores_at`` of their runs), at each checkpoint.

    Rows (other method, statistic), columns the checkpoints. ``share``: the share of runs where
    ``first`` scores lower (ties count half), over the seeds both ran per problem, then averaged over
    problems. ``rank difference``: ``first``'s rank among all of ``at``'s methods minus the other's,
    averaged over the runs every method finished, and ``sd``: that mean's standard error over the runs
    (a lead of two of them is unlikely under no difference).
    """
    rows: dict[tuple[str, str], dict] = {}
    for n in at.columns:
        table, ranked = at[n].unstack("method"), ranks(at[n])
        for other in (m for m in table.columns if m != first):
            pair = table[[first, other]].dropna(how="any")
            wins = (pair[first] < pair[other]) + 0.5 * (pair[first] == pair[other])
            per_problem = wins.groupby(level=["problem", "workers", "budget"]).mean()
            rows.setdefault((other, "share"), {})[n] = per_problem.mean()
            difference = ranked[first] - ranked[other]
            rows.setdefault((other, "rank difference"), {})[n] = difference.mean()
            rows.setdefault((other, "sd"), {})[n] = difference.std(ddof=1) / np.sqrt(len(difference))
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["against", "statistic"])
    return out


def ordered(frame: pd.DataFrame, problems: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """Problems in the given order and methods in registry order, then any others sorted."""
    present = set(frame["problem"])
    first = [p for p in problems if p in present]
    methods = [m for m in METHODS if m in set(frame["method"])]
    return first + sorted(present - set(first)), methods + sorted(set(frame["method"]) - set(methods))


def fmt(x: float) -> str:
    if pd.isna(x):
        return ""
    if x == 0:
        return "0"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
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


def cpu_ms_per_trial(frame: pd.DataFrame) -> pd.Series:
    last = frame.sort_values("trial").groupby(KEYS).last()
    per_run = 1000 * last["wall_time"] / last["trial"]
    return per_run.groupby(level=["problem", "workers", "budget", "method"]).median()


def summarize_suite(frame: pd.DataFrame, *, title: str, source: str, problems: Iterable[str],
                    tuning: Callable[[str], bool], tuning_note: str,
                    checkpoints: tuple[int, ...] = CHECKPOINTS) -> str:
    """The markdown summary of a single-objective suite's rows (regret = value - known optimum)."""
    problems, methods = ordered(frame, problems)
    budgets = sorted(set(frame["budget"]))
    shown_all = sorted({n for n in checkpoints if n <= max(budgets)} | set(budgets))
    at = scores_at(frame, shown_all)
    medians = at.groupby(level=["problem", "workers", "budget", "method"]).median()
    cpu = cpu_ms_per_trial(frame)
    seeds = frame.groupby(["problem", "workers", "budget", "method"])["seed"].nunique()
    halves = {"all problems": lambda p: True, "tuning half": tuning, "held-out half": lambda p: not tuning(p)}
    by_checkpoint = rank_table(at, halves)
    lines = [
        f"# {title}",
        "",
        f"Generated by `python -m experiments.bench summary` from `{source}`: {frame.groupby(KEYS).ngroups} runs, "
        f"{len(frame)} trials. Regret = noise-free value - known optimum (minimisation); "
        "entries are medians over seeds of the best regret after n completed trials. "
        "`cpu ms/trial`: median searcher CPU time (set_search_properties + suggest + on_trial_complete) per trial. "
        "Mean rank: per problem and seed, methods are ranked by best regret (1 = best, ties averaged), then "
        "averaged over seeds (only seeds every method finished), then over the problems of a half. "
        f"{tuning_note} `problems won`: problems where the method's mean rank at the end is the best "
        "(ties count for each).",
    ]
    for (workers, budget), _ in frame.groupby(["workers", "budget"]):
        shown = [n for n in shown_all if n <= budget and (n in checkpoints or n == budget)]
        lines += ["", f"## {workers} workers, budget {budget}", "", "### Mean rank at every checkpoint", ""]
        index = by_checkpoint.index
        if len(by_checkpoint) and ((index.get_level_values("workers") == workers)
                                   & (index.get_level_values("budget") == budget)).any():  # no seed every method ran
            part = by_checkpoint.xs((workers, budget), level=("workers", "budget"))
            part = part[[m for m in methods if m in part.columns]]
            part = part[part.index.get_level_values("checkpoint").isin(shown)]
            lines.append(markdown_table(part, ["half", "trials"]))
        lines += ["", "### Median best regret", ""]
        rows = []
        for problem in problems:
            for method in methods:
                key = (problem, workers, budget, method)
                if key in medians.index:
                    row = {f"@{n}": medians.loc[key, n] for n in shown}
                    row["cpu ms/trial"] = cpu.loc[key]
                    row["seeds"] = str(seeds.loc[key])
                    rows.append(((problem, method), row))
        table = pd.DataFrame([r for _, r in rows], index=pd.MultiIndex.from_tuples([k for k, _ in rows]))
        lines.append(markdown_table(table, ["problem", "method"]))
        final = at[budget].xs((workers, budget), level=("workers", "budget"), drop_level=False) \
            if budget in at.columns else pd.Series(dtype=float)
        per_problem = mean_ranks(final).droplevel(["workers", "budget"]) if len(final) else pd.DataFrame()
        if len(per_problem):
            per_problem = per_problem.reindex([p for p in problems if p in per_problem.index])
            per_problem = per_problem[[m for m in methods if m in per_problem.columns]]
            table = per_problem.copy()
            table.loc["problems won"] = per_problem.eq(per_problem.min(axis=1), axis=0).sum(axis=0)
            lines += ["", f"### Mean rank per problem (by best regret at trial {budget}, averaged over seeds)", ""]
            lines.append(markdown_table(table, ["problem"]))
    return "\n".join(lines) + "\n"
