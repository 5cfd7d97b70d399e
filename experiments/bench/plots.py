"""Figures of a simulated suite from result files only (the runner's and cost.py's parquet files).

- ``curves_w<workers>_b<budget>.png``: best regret so far against completed
  trials, median over seeds with an interquartile band, one subplot per
  problem, one line per method; one figure per (workers, budget).
- ``policy_<method>_<problem>_w<workers>_s<seed>.png``: how a PG policy moved
  over one run (``searcher.history()`` saved by the runner): category
  probabilities, and each numeric parameter's mean with a +-1 sd band (in the
  parameter's units, clipped to its domain; log axis for log domains, looked
  up in the problem registry), against the update number.
- ``cost.png``: searcher CPU time per trial against the number of trials
  (from ``<results>/cost/cost.parquet``, written by ``experiments.bench.cost``).

Example:
    python -m experiments.bench plots suite --out results --summary-dir experiments/results
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.bench.analysis import ordered  # noqa: E402
from experiments.bench.domains import domain_kind, path_name, value_range, walk  # noqa: E402
from experiments.bench.problems import PROBLEMS  # noqa: E402
from experiments.bench.results import load  # noqa: E402

# Regrets are drawn on a log axis; exact zeros are drawn at this floor.
REGRET_FLOOR = 1e-6


def _colors(methods: list[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(methods)}


def plot_curves(frame: pd.DataFrame, out: Path, dpi: int = 80) -> list[Path]:
    """One figure of regret curves per (workers, budget); returns the files written."""
    problems, methods = ordered(frame, PROBLEMS)
    colors = _colors(methods)
    written = []
    for (workers, budget), sub in frame.groupby(["workers", "budget"]):
        present = [p for p in problems if p in set(sub["problem"])]
        ncols = min(4, len(present))
        nrows = math.ceil(len(present) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.5 * nrows), squeeze=False)
        for ax, problem in zip(axes.flat, present):
            cell = sub[sub["problem"] == problem]
            wide = cell.pivot_table(index="trial", columns=["method", "seed"], values="best_so_far", aggfunc="first")
            for method in methods:
                if method not in wide.columns.get_level_values(0):
                    continue
                runs = wide[method].clip(lower=REGRET_FLOOR)
                q = runs.quantile([0.25, 0.5, 0.75], axis=1).T
                ax.plot(q.index, q[0.5], color=colors[method], label=method, lw=1.4)
                ax.fill_between(q.index, q[0.25], q[0.75], color=colors[method], alpha=0.2, lw=0)
            ax.set_yscale("log")
            ax.set_title(problem, fontsize=9)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3, which="both", lw=0.4)
        for ax in axes.flat[len(present):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("completed trials", fontsize=8)
        for ax in axes[:, 0]:
            ax.set_ylabel("best regret", fontsize=8)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
        seeds = sub.groupby(["method", "problem"])["seed"].nunique().max()
        fig.suptitle(f"{workers} workers, budget {budget}: median and IQR over {seeds} seeds", fontsize=10)
        fig.tight_layout(rect=(0, 0.04, 1, 0.97))
        path = out / f"curves_w{workers}_b{budget}.png"
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        written.append(path)
    return written


def plot_history(history: pd.DataFrame, path: Path, dpi: int = 80) -> Path:
    """Policy evolution of one PG run: category probabilities, numeric means +- sd, rewards."""
    x = history["update"].to_numpy()
    problem = PROBLEMS.get(str(history["problem"].iloc[0])) if "problem" in history else None
    domains = {path_name(p): d for p, d in walk(problem.space)} if problem else {}
    params: dict[str, list[str]] = {}
    for col in history.columns:
        match = re.match(r"^(.*):(p\[.*\]|mean|sd)$", col)
        if match:
            params.setdefault(match.group(1), []).append(col)
    panels = ["reward"] + list(params)
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.3 * nrows), squeeze=False)
    ax = axes.flat[0]
    for col in [c for c in history.columns if c.startswith(("mean_", "best_"))]:
        ax.plot(x, history[col], label=col.replace("_", " "), lw=1.2)
    ax.set_title("batch metric", fontsize=9)
    ax.legend(fontsize=6)
    for ax, name in zip(axes.flat[1:], params):
        cols = params[name]
        if f"{name}:mean" in cols:
            mean = history[f"{name}:mean"].to_numpy(dtype=float)
            sd = history[f"{name}:sd"].to_numpy(dtype=float) if f"{name}:sd" in cols else np.zeros_like(mean)
            lo, hi = mean - sd, mean + sd
            domain = domains.get(name)
            if domain is not None and domain_kind(domain) not in ("choice", "randn", "qrandn"):
                low, high = value_range(domain)  # the band is clipped to the domain
                lo, hi = np.clip(lo, low, high), np.clip(hi, low, high)
                if "log" in domain_kind(domain):
                    ax.set_yscale("log")
            ax.plot(x, mean, lw=1.2)
            ax.fill_between(x, lo, hi, alpha=0.25, lw=0)
            ax.set_title(f"{name}: mean +- sd", fontsize=9)
        else:
            for col in cols:
                ax.plot(x, history[col], lw=1.0, label=col.split(":", 1)[1][2:-1])
            ax.set_ylim(0, 1)
            ax.set_title(f"{name}: probabilities", fontsize=9)
            if len(cols) <= 8:
                ax.legend(fontsize=6, ncol=2)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("policy update", fontsize=8)
    tags = {k: history[k].iloc[0] for k in ("method", "problem", "workers", "seed") if k in history}
    fig.suptitle(" ".join(f"{k}={v}" for k, v in tags.items()), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_cost(cost: pd.DataFrame, path: Path, dpi: int = 80) -> Path:
    """Searcher CPU ms per trial against trials so far, one line per method (log-log; medians over repeats)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    methods = ordered(cost)[1]
    colors = _colors(methods)
    for method in methods:
        sub = cost[cost["method"] == method].groupby("trials")["ms_per_trial"].median()  # over repeats
        ax.plot(sub.index, sub.to_numpy(), marker="o", ms=3, label=method, color=colors[method])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("trials completed (window end)")
    ax.set_ylabel("searcher CPU ms per trial")
    problems = ", ".join(sorted(set(cost["problem"])))
    workers = ", ".join(str(w) for w in sorted(set(cost["workers"])))
    ax.set_title(f"searcher cost: {problems}, {workers} workers", fontsize=9)
    ax.grid(alpha=0.3, which="both", lw=0.4)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_all(results: Path, benchmark: str, out: Path, history_problems: tuple[str, ...] = ("train_net",),
              dpi: int = 80) -> int:
    """Regret curves and PG policy histories of one benchmark's result files, and the cost plot if any."""
    out.mkdir(parents=True, exist_ok=True)
    written = plot_curves(load(results, benchmark), out, dpi)
    history_dir = Path(results) / benchmark / "history"
    for file in sorted(history_dir.glob("*.parquet")) if history_dir.exists() else []:
        history = pd.read_parquet(file)
        if "all" in history_problems or history["problem"].iloc[0] in history_problems:
            written.append(plot_history(history, out / f"policy_{file.stem.replace('__', '_')}.png", dpi))
    cost_file = Path(results) / "cost" / "cost.parquet"
    if cost_file.exists():
        written.append(plot_cost(pd.read_parquet(cost_file), out / "cost.png", dpi))
    for path in written:
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0
