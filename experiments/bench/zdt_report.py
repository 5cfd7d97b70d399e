"""Report of the multi-objective benchmark (``zdt``): markdown summaries and figures, from result rows only.

``write_reports`` writes one markdown file per (workers, budget) setting (one budget per worker count):
``multiobjective.md`` for 8 workers, ``multiobjective_w<n>.md`` otherwise. It
opens with the mean rank over the problems at each checkpoint (per seed and
problem, methods ranked by hypervolume so far: ``analysis.rank_table`` on
``best_so_far`` = 1 - HV ratio), then one section and figure per problem.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.bench.analysis import fmt, markdown_table, mean_ranks, ordered, rank_table
from experiments.bench.zdt import PROBLEMS, MOProblem, front_config
from ray_pg.pareto import pareto_front

CHECKPOINTS = (25, 50, 100, 200, 400)
_KEYS = ["method", "seed", "problem", "workers", "budget"]
_LEGEND = ("`HV ratio @n`: hypervolume of all trials completed after n completions / HV_true, median and "
           "interquartile range over seeds. `mean rank`: per seed, methods ranked by final hypervolume "
           "(1 = largest, ties averaged), averaged over the seeds every method finished. `front points in "
           "box`: median over seeds of the final non-dominated trials inside the reference box (a front "
           "spread out has many). `searcher ms/trial`: median over seeds of the searcher's CPU time "
           "(set_search_properties + suggest + on_trial_result + on_trial_complete) per trial. `invalid "
           "params`: parameters suggested outside their domain, summed over runs.")


def ratio_at(frame: pd.DataFrame, checkpoints: tuple[int, ...]) -> pd.DataFrame:
    """HV / hv_true after each checkpoint, one row per (method, seed, problem, workers, budget); NaN past a
    run's end."""
    wide = frame.pivot_table(index=_KEYS, columns="trial", values="hv_so_far", aggfunc="first")
    hv_true = np.array([PROBLEMS[p].hv_true for p in wide.index.get_level_values("problem")])
    return pd.DataFrame({n: wide[n] / hv_true if n in wide.columns else np.nan for n in checkpoints},
                        index=wide.index)


def final_hv(frame: pd.DataFrame) -> pd.Series:
    """Hypervolume at the end of each run's budget (NaN for a run that stopped early)."""
    last = frame.sort_values("trial").groupby(_KEYS).last()
    return last["hv_so_far"].where(last["trial"] >= last.index.get_level_values("budget"))


def front_size(frame: pd.DataFrame, problem: MOProblem) -> pd.Series:
    """Non-dominated trials strictly inside the reference box at the end of each (method, seed)."""
    metrics = problem.metrics

    def inside(run: pd.DataFrame) -> int:
        front = pareto_front(run, metrics, ["min"] * len(metrics))
        return int((front[metrics] < np.array(problem.reference)).all(axis=1).sum())

    return pd.Series({key: inside(run) for key, run in frame.groupby(["method", "seed"])})


def overview(frame: pd.DataFrame, checkpoints: tuple[int, ...]) -> str:
    """Markdown table: mean rank over the problems at each checkpoint (one (workers, budget) setting; every
    checkpoint within the budget)."""
    at = 1.0 - ratio_at(frame, checkpoints)  # lower is better, as best_so_far
    table = rank_table(at, {"all": lambda problem: True})
    table = table.reset_index().set_index("checkpoint")[ordered(frame)[1]].T
    table.columns = [f"@{n}" for n in table.columns]
    return markdown_table(table, ["method"])


def summarize(frame: pd.DataFrame, checkpoints: tuple[int, ...], png_name: str) -> str:
    """Markdown section for the rows of one problem and one (workers, budget) setting."""
    settings = frame[["problem", "workers", "budget"]].drop_duplicates()
    if len(settings) != 1:
        raise ValueError(f"expected rows of one (problem, workers, budget), got {settings.values.tolist()}")
    name, workers, budget = settings.iloc[0]
    problem = PROBLEMS[name]
    methods = ordered(frame)[1]
    at = ratio_at(frame, checkpoints)
    ranks = mean_ranks(1.0 - final_hv(frame) / problem.hv_true).mean(axis=0)
    last = frame.sort_values("trial").groupby(["method", "seed"]).last()
    ms = (1000 * last["wall_time"] / last["trial"]).groupby(level="method").median()
    invalid = frame.groupby("method")["invalid"].sum()
    sizes = front_size(frame, problem).groupby(level=0).median()
    seeds = frame.groupby("method")["seed"].nunique()
    rows = {}
    for method in methods:
        runs = at.xs(method, level="method")
        row: dict[str, Any] = {}
        for n in checkpoints:
            q = runs[n].quantile([0.25, 0.5, 0.75])
            row[f"HV ratio @{n}: median [IQR]"] = f"{fmt(q[0.5])} [{fmt(q[0.25])}, {fmt(q[0.75])}]"
        row["mean rank"] = ranks.get(method, np.nan)
        row["front points in box"] = sizes[method]
        row["searcher ms/trial"] = ms[method]
        row["invalid params"] = str(int(invalid[method]))
        row["seeds"] = str(int(seeds[method]))
        rows[method] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    lines = [f"## {name}", "", f"Reference point {problem.reference}, HV_true = {problem.hv_true:.6f}.", "",
             markdown_table(table, ["method"]), "", f"![HV ratio and final fronts]({png_name})"]
    return "\n".join(lines) + "\n"


def report(frame: pd.DataFrame, checkpoints: tuple[int, ...], command: str, png_names: dict[str, str]) -> str:
    """The markdown file of one (workers, budget) setting: overview, legend, one section per problem."""
    workers, budget = (int(v) for v in frame[["workers", "budget"]].iloc[0])
    problems = ordered(frame, PROBLEMS)[0]
    header = (f"Produced on {datetime.date.today().isoformat()} by `{command}` ({workers} asynchronous "
              f"simulated workers, budget {budget} trials, {frame['seed'].nunique()} seeds, problems "
              f"{', '.join(problems)}: see `experiments/bench/zdt.py`).")
    lines = [f"# Multi-objective benchmark (ZDT1-3, DTLZ2; mixed Tune space): {workers} workers, {budget} trials",
             "", header, "", "Mean rank over the problems by hypervolume so far (1 = largest; per problem, "
             "averaged over its seeds):", "", overview(frame, checkpoints), "", _LEGEND, ""]
    for name in problems:
        lines.append(summarize(frame[frame["problem"] == name], checkpoints, png_names[name]))
    return "\n".join(lines)


def plot(frame: pd.DataFrame, path: Path, front_seed: int, dpi: int = 80) -> Path:
    """HV ratio curves (median, IQR band) of one problem; with two objectives, the final fronts of one seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = frame["problem"].iloc[0]
    problem = PROBLEMS[name]
    methods = ordered(frame)[1]
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {m: cycle[i % len(cycle)] for i, m in enumerate(methods)}
    two = len(problem.metrics) == 2
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(9.6 if two else 4.8, 3.8), squeeze=False)
    left = axes[0, 0]
    wide = frame.pivot_table(index="trial", columns=["method", "seed"], values="hv_so_far", aggfunc="first")
    for method in methods:
        q = (wide[method] / problem.hv_true).quantile([0.25, 0.5, 0.75], axis=1).T
        left.plot(q.index, q[0.5], color=colors[method], label=method, lw=1.4)
        left.fill_between(q.index, q[0.25], q[0.75], color=colors[method], alpha=0.2, lw=0)
    left.set_xlabel("completed trials", fontsize=8)
    left.set_ylabel("HV / HV_true", fontsize=8)
    left.set_ylim(0, 1)
    left.set_title(f"hypervolume ratio: median and IQR over {frame['seed'].nunique()} seeds", fontsize=9)
    left.legend(fontsize=7)
    if two:
        right = axes[0, 1]
        curve = pd.DataFrame([problem.evaluate(front_config(x1)) for x1 in np.linspace(0, 1, 2001)],
                             columns=problem.metrics)
        curve = pareto_front(curve, problem.metrics, ["min", "min"])
        right.plot(curve["f1"], curve["f2"], ".", ms=0.8, color="black", label="true front")
        for method in methods:
            run = frame[(frame["method"] == method) & (frame["seed"] == front_seed)]
            if not len(run):
                continue
            front = pareto_front(run, problem.metrics, ["min", "min"])
            right.step(front["f1"], front["f2"], where="post", color=colors[method], lw=0.8, alpha=0.8)
            right.plot(front["f1"], front["f2"], "o", ms=3, color=colors[method], label=method)
        right.set_xlim(0, problem.reference[0])
        right.set_ylim(min(0.0, curve["f2"].min() - 0.05), problem.reference[1])
        right.set_xlabel("f1", fontsize=8)
        right.set_ylabel("f2", fontsize=8)
        right.set_title(f"final non-dominated trials, seed {front_seed} (inside the reference box)", fontsize=9)
        right.legend(fontsize=7)
    for ax in axes.ravel():
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.4)
    workers, budget = frame["workers"].iloc[0], frame["budget"].iloc[0]
    fig.suptitle(f"{name}, {workers} workers, budget {budget}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_reports(frame: pd.DataFrame, out_dir: Path, command: str) -> list[Path]:
    """One markdown file per (workers, budget) setting and one figure per problem; return the files written."""
    written = []
    for (workers, budget), part in frame.groupby(["workers", "budget"]):
        name = "multiobjective" if workers == 8 else f"multiobjective_w{workers}"
        md = Path(out_dir) / f"{name}.md"
        pngs = {problem: f"{name}_{problem}.png" for problem in part["problem"].unique()}
        for problem, png in pngs.items():
            rows = part[part["problem"] == problem]
            written.append(plot(rows, Path(out_dir) / png, front_seed=int(rows["seed"].min())))
        md.parent.mkdir(parents=True, exist_ok=True)
        checkpoints = tuple(sorted({n for n in CHECKPOINTS if n <= budget} | {int(budget)}))  # and the end
        md.write_text(report(part, checkpoints, command, pngs))
        written.insert(0, md)
    return written
