"""Report of the two-objective benchmark (``zdt``): markdown summary and figure, from result rows only.

``write_reports`` writes one ``multiobjective.md`` (+ ``.png``) per (workers,
budget) setting: ``multiobjective.md`` for 8 workers, ``multiobjective_w<n>.md``
otherwise. Mean ranks are by final hypervolume (``analysis.mean_ranks`` on
``best_so_far`` = 1 - HV ratio).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.bench.analysis import fmt, markdown_table, mean_ranks, ordered
from experiments.bench.zdt import HV_TRUE, METRICS, MODES, REFERENCE, true_front
from ray_pg.pareto import pareto_front

CHECKPOINTS = (50, 100, 200, 400)


def ratio_at(frame: pd.DataFrame, checkpoints: tuple[int, ...]) -> pd.DataFrame:
    """HV / HV_TRUE after each checkpoint, one row per (method, seed); NaN past a run's end."""
    wide = frame.pivot_table(index=["method", "seed"], columns="trial", values="hv_so_far", aggfunc="first")
    return pd.DataFrame({n: wide[n] / HV_TRUE if n in wide.columns else np.nan for n in checkpoints},
                        index=wide.index)


def final_hv(frame: pd.DataFrame) -> pd.Series:
    """Hypervolume at the end of each run's budget (NaN for a run that stopped early)."""
    last = frame.sort_values("trial").groupby(["method", "seed"]).last()
    return last["hv_so_far"].where(last["trial"] >= last["budget"])


def front_size(frame: pd.DataFrame) -> pd.Series:
    """Non-dominated trials strictly inside the reference box at the end of each (method, seed)."""
    def inside(run: pd.DataFrame) -> int:
        front = pareto_front(run, METRICS, MODES)
        return int(((front["f1"] < REFERENCE[0]) & (front["f2"] < REFERENCE[1])).sum())

    return pd.Series({key: inside(run) for key, run in frame.groupby(["method", "seed"])})


def _methods_in(frame: pd.DataFrame) -> list[str]:
    return ordered(frame)[1]


def summarize(frame: pd.DataFrame, checkpoints: tuple[int, ...], command: str, png_name: str) -> str:
    """Markdown text for the rows of one (workers, budget) setting."""
    settings = frame[["workers", "budget"]].drop_duplicates()
    if len(settings) != 1:
        raise ValueError(f"expected rows of one (workers, budget) setting, got {settings.values.tolist()}")
    workers, budget = (int(v) for v in settings.iloc[0])
    methods = _methods_in(frame)
    at = ratio_at(frame, checkpoints)
    final = 1.0 - final_hv(frame) / HV_TRUE  # lower is better, as best_so_far
    final.index = pd.MultiIndex.from_tuples([(m, s, "zdt1_mixed", workers, budget) for m, s in final.index],
                                            names=["method", "seed", "problem", "workers", "budget"])
    ranks = mean_ranks(final).mean(axis=0)
    last = frame.sort_values("trial").groupby(["method", "seed"]).last()
    ms = (1000 * last["wall_time"] / last["trial"]).groupby(level="method").median()
    invalid = frame.groupby("method")["invalid"].sum()
    sizes = front_size(frame).groupby(level=0).median()
    seeds = frame.groupby("method")["seed"].nunique()
    shown = [n for n in checkpoints if n <= budget]
    rows = {}
    for method in methods:
        runs = at.xs(method, level="method")
        row: dict[str, Any] = {}
        for n in shown:
            q = runs[n].quantile([0.25, 0.5, 0.75])
            row[f"HV ratio @{n}: median [IQR]"] = f"{fmt(q[0.5])} [{fmt(q[0.25])}, {fmt(q[0.75])}]"
        row["mean rank"] = ranks.get(method, np.nan)
        row["front points in box"] = sizes[method]
        row["searcher ms/trial"] = ms[method]
        row["invalid params"] = str(int(invalid[method]))
        row["seeds"] = str(int(seeds[method]))
        rows[method] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    date = datetime.date.today().isoformat()
    header = (f"Produced on {date} by `{command}` ({workers} asynchronous simulated workers, "
              f"budget {budget} trials, {frame['seed'].nunique()} seeds).")
    problem = ("Problem (see `experiments/bench/zdt.py`): minimise f1 = x1 and f2 = g (1 - sqrt(f1 / g)), "
               "g = 1 + 9 mean(u, q, n/10, log-scaled lr) + offset[variant] over uniform, quniform, randint, "
               "loguniform and a 4-way choice (offsets 0.6, 0, 0.3, 1; the best is second). True front "
               f"f2 = 1 - sqrt(f1); reference point {REFERENCE}; HV_true = 0.1 + 2/3 + 0.11 = {HV_TRUE:.6f}.")
    legend = ("`HV ratio @n`: hypervolume of all trials completed after n completions / HV_true, median and "
              "interquartile range over seeds. `mean rank`: per seed, methods ranked by final hypervolume "
              "(1 = largest, ties averaged), averaged over the seeds every method finished. `front points in "
              "box`: median over seeds of the final non-dominated trials inside the reference box (a front "
              "spread along f1 has many). `searcher ms/trial`: median over seeds of the searcher's CPU time "
              "(set_search_properties + suggest + on_trial_result + on_trial_complete) per trial. `invalid params`: parameters "
              "suggested outside their domain, summed over runs.")
    lines = [f"# Two-objective benchmark (ZDT1-like, mixed Tune space): {workers} workers, {budget} trials", "",
             header, "", problem, "", legend, "",
             markdown_table(table, ["method"]), "", f"![HV ratio and final fronts]({png_name})"]
    return "\n".join(lines) + "\n"


def plot(frame: pd.DataFrame, path: Path, front_seed: int, dpi: int = 80) -> Path:
    """HV ratio curves (median, IQR band) and the final fronts of one seed per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = _methods_in(frame)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {m: cycle[i % len(cycle)] for i, m in enumerate(methods)}
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.8))
    wide = frame.pivot_table(index="trial", columns=["method", "seed"], values="hv_so_far", aggfunc="first")
    for method in methods:
        q = (wide[method] / HV_TRUE).quantile([0.25, 0.5, 0.75], axis=1).T
        left.plot(q.index, q[0.5], color=colors[method], label=method, lw=1.4)
        left.fill_between(q.index, q[0.25], q[0.75], color=colors[method], alpha=0.2, lw=0)
    left.set_xlabel("completed trials", fontsize=8)
    left.set_ylabel("HV / HV_true", fontsize=8)
    left.set_ylim(0, 1)
    left.set_title(f"hypervolume ratio: median and IQR over {frame['seed'].nunique()} seeds", fontsize=9)
    left.legend(fontsize=7)
    curve = true_front()
    right.plot(curve[:, 0], curve[:, 1], color="black", lw=1.2, label="true front")
    for method in methods:
        run = frame[(frame["method"] == method) & (frame["seed"] == front_seed)]
        if not len(run):
            continue
        front = pareto_front(run, METRICS, MODES)
        right.step(front["f1"], front["f2"], where="post", color=colors[method], lw=0.8, alpha=0.8)
        right.plot(front["f1"], front["f2"], "o", ms=3, color=colors[method], label=method)
    right.set_xlim(0, REFERENCE[0])
    right.set_ylim(0, REFERENCE[1])
    right.set_xlabel("f1", fontsize=8)
    right.set_ylabel("f2", fontsize=8)
    right.set_title(f"final non-dominated trials, seed {front_seed} (inside the reference box)", fontsize=9)
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, lw=0.4)
    workers, budget = frame["workers"].iloc[0], frame["budget"].iloc[0]
    fig.suptitle(f"ZDT1-like mixed space, {workers} workers, budget {budget}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path




def write_reports(frame: pd.DataFrame, out_dir: Path, command: str) -> list[Path]:
    """One markdown summary and figure per (workers, budget) setting; return the files written."""
    written = []
    for (workers, budget), part in frame.groupby(["workers", "budget"]):
        name = "multiobjective" if workers == 8 else f"multiobjective_w{workers}"
        md, png = Path(out_dir) / f"{name}.md", Path(out_dir) / f"{name}.png"
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(summarize(part, CHECKPOINTS, command, png.name))
        plot(part, png, front_seed=int(part["seed"].min()))
        written += [md, png]
    return written
