"""Two-objective benchmark: a ZDT1-like problem over a mixed Tune space with a known front.

Usage (one subcommand, then the flags of ``Args``; ``--help`` lists them):
    python -m experiments.multiobjective run --seeds 10 --workers 8 --budget 200
    python -m experiments.multiobjective summary --workers 8 --budget 200
    python -m experiments.multiobjective all          # run, then summary (the defaults above)

The problem (both objectives minimised): ``f1 = x1`` and
``f2 = g * (1 - sqrt(f1 / g))`` with ``g = 1 + 9 * mean(u, q, n / 10,
(log10(lr) + 3) / 3) + OFFSETS[variant]``, where ``x1, u`` are uniform on
[0, 1], ``q`` a quniform grid, ``n`` a randint on 0..10, ``lr`` a loguniform on
[1e-3, 1] and ``variant`` a choice of four categories whose offsets are
0.6, 0.0, 0.3, 1.0 (the best one is not first). Every mean term is >= 0 and
vanishes at the lower bounds, so the Pareto front is ``g = 1``,
``f2 = 1 - sqrt(f1)``. With the fixed reference point (1.1, 1.1) the front's
hypervolume is ``int_0^1 (1.1 - (1 - sqrt f)) df + 0.1 * 1.1
= 0.1 + 2/3 + 0.11 = 0.876667`` (``HV_TRUE``).

``run`` drives each method with ``experiments.runner.simulate``, as the
single-objective benchmark does (Tune's ``ConcurrencyLimiter``, ``workers``
simulated trials in flight, the same durations for every method), handing the
space over as a Tuner without a metric does: ``set_search_properties(None,
None, space, num_samples=budget, ...)``; the searchers are built with
``metric=["f1", "f2"], mode=["min", "min"]``.
Methods: ``random`` (``experiments.methods.RandomSearcher``), ``optuna_tpe``
and ``optuna_nsga2`` (``OptunaSearch`` with ``TPESampler`` / ``NSGAIISampler``
and Ray's own space conversion, as users get it), ``pg`` (``PGSearcher``
defaults). The driver refuses to report a run in which the metric/mode lists
did not reach the searcher, Optuna did not record every completed trial, or
PGSearcher counted a failed trial; suggested configs are checked against
their domains (``invalid`` counts the parameters that were not valid; such
configs are scored clipped into their domains, as ``experiments.problems``
does).

One tidy row per completed trial goes to
``<out>/multiobjective/<method>__seed<k>.parquet``: method, seed, workers,
budget, trial (completion index, 1-based), suggest_index, sim_time, f1, f2,
invalid, hv_so_far (hypervolume of all completed trials so far, reference
(1.1, 1.1)), wall_time (the searcher's cumulative CPU seconds). Existing files
are skipped unless ``--overwrite true``.

``summary`` reads those files only and writes ``experiments/results/
multiobjective.md`` (median and IQR of HV / HV_TRUE at the checkpoints, mean
rank by final hypervolume, searcher ms per trial) and ``multiobjective.png``.
"""

from __future__ import annotations

import datetime
import math
import shlex
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ray import tune

from experiments import cli
from experiments.domains import clip_config, invalid_paths
from experiments.runner import _write, run_jobs, simulate
from experiments.summary import fmt, markdown_table
from ray_pg.pareto import hypervolume, pareto_front

METRICS = ["f1", "f2"]
MODES = ["min", "min"]
REFERENCE = (1.1, 1.1)
#: Hypervolume of the true front f2 = 1 - sqrt(f1), f1 in [0, 1], up to REFERENCE.
HV_TRUE = (REFERENCE[1] - 1.0) + 2.0 / 3.0 + (REFERENCE[0] - 1.0) * REFERENCE[1]
OFFSETS = {"a": 0.6, "b": 0.0, "c": 0.3, "d": 1.0}
LR_LOW, LR_HIGH = 1e-3, 1.0
N_HIGH = 10  # randint(0, N_HIGH + 1): 0..N_HIGH

SPACE: dict[str, Any] = {
    "x1": tune.uniform(0.0, 1.0),
    "u": tune.uniform(0.0, 1.0),
    "q": tune.quniform(0.0, 1.0, 0.05),
    "n": tune.randint(0, N_HIGH + 1),
    "lr": tune.loguniform(LR_LOW, LR_HIGH),
    "variant": tune.choice(list(OFFSETS)),
}

COLUMNS = ["method", "seed", "workers", "budget", "trial", "suggest_index", "sim_time",
           "f1", "f2", "invalid", "hv_so_far", "wall_time"]
CHECKPOINTS = (50, 100, 200)


# ---------------------------------------------------------------------- problem


def objectives(config: dict) -> tuple[float, float]:
    """``(f1, f2)`` of a config; numeric parameters are first clipped into their domains."""
    c = clip_config(SPACE, config)
    lr_term = (math.log10(c["lr"]) - math.log10(LR_LOW)) / (math.log10(LR_HIGH) - math.log10(LR_LOW))
    terms = [c["u"], c["q"], c["n"] / N_HIGH, lr_term]
    g = 1.0 + 9.0 * float(np.mean(terms)) + OFFSETS[c["variant"]]
    f1 = float(c["x1"])
    return f1, g * (1.0 - math.sqrt(f1 / g))


def true_front(num: int = 200) -> np.ndarray:
    """``num`` points (f1, f2) on the Pareto front, f1 evenly spaced on [0, 1]."""
    f1 = np.linspace(0.0, 1.0, num)
    return np.column_stack([f1, 1.0 - np.sqrt(f1)])


def front_config(x1: float) -> dict:
    """A config on the front: every g term at its lower bound, best variant."""
    best = min(OFFSETS, key=OFFSETS.get)
    return {"x1": x1, "u": 0.0, "q": 0.0, "n": 0, "lr": LR_LOW, "variant": best}


# ---------------------------------------------------------------------- methods


def _optuna(sampler_name: str) -> Callable[[int], Any]:
    def make(seed: int) -> Any:
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        sampler = getattr(optuna.samplers, sampler_name)(seed=seed)
        return OptunaSearch(metric=list(METRICS), mode=list(MODES), sampler=sampler)

    return make


def _random(seed: int) -> Any:
    from experiments.methods import RandomSearcher

    return RandomSearcher(metric=list(METRICS), mode=list(MODES), seed=seed)


def _pg(seed: int) -> Any:
    from ray_pg import PGSearcher

    return PGSearcher(metric=list(METRICS), mode=list(MODES), seed=seed)


#: name -> factory(seed) of a searcher built without a space.
METHODS: dict[str, Callable[[int], Any]] = {
    "random": _random,
    "optuna_tpe": _optuna("TPESampler"),
    "optuna_nsga2": _optuna("NSGAIISampler"),
    "pg": _pg,
}


# ----------------------------------------------------------------------- driver


@dataclass
class Args:
    """Run and/or summarise the two-objective benchmark (subcommand: run, summary or all)."""

    methods: tuple[str, ...] = tuple(METHODS)  # methods to run or summarise
    seeds: int = 10  # number of seeds: first_seed, first_seed + 1, ...
    first_seed: int = 0  # first seed
    workers: int = 8  # trials in flight
    budget: int = 200  # trials per run
    out: Path = Path("results")  # results folder; rows go to <out>/multiobjective/
    processes: int = 2  # parallel runs
    overwrite: bool = False  # rerun runs whose file exists
    checkpoints: tuple[int, ...] = CHECKPOINTS  # trial counts reported by the summary
    summary_out: Path = Path("experiments/results/multiobjective.md")  # markdown; the PNG goes next to it
    front_seed: int = 0  # seed whose final fronts the figure draws
    dpi: int = 80  # PNG resolution


def run_one(method: str, seed: int, workers: int, budget: int) -> pd.DataFrame:
    """Simulate one run of ``method``; return one row per completed trial."""
    searcher = METHODS[method](seed)

    def evaluate(config: dict) -> tuple[dict, tuple[float, float, int]]:
        f1, f2 = objectives(config)
        return {"f1": f1, "f2": f2}, (f1, f2, len(invalid_paths(SPACE, config)))

    rows: list[dict[str, Any]] = []
    points: list[tuple[float, float]] = []
    for done in simulate(searcher, SPACE, None, None, workers, budget, seed, evaluate):
        if not rows and (searcher.metric != METRICS or searcher.mode != MODES):
            raise RuntimeError(f"{method}: metric/mode did not arrive, got {searcher.metric=}, {searcher.mode=}")
        f1, f2, bad = done.outcome
        points.append((f1, f2))
        # A superset never has less volume; max() only absorbs the sweep's rounding (~1e-16).
        hv = max(rows[-1]["hv_so_far"] if rows else 0.0, hypervolume(np.array(points), reference=REFERENCE))
        rows.append({"trial": len(rows) + 1, "suggest_index": done.suggest_index, "sim_time": done.sim_time,
                     "f1": f1, "f2": f2, "invalid": bad, "hv_so_far": hv, "wall_time": done.cpu})
    _check_searcher(method, searcher, len(rows))
    frame = pd.DataFrame(rows, columns=COLUMNS[4:])
    for position, (key, value) in enumerate((("method", method), ("seed", seed), ("workers", workers),
                                             ("budget", budget))):
        frame.insert(position, key, value)
    return frame[COLUMNS]


def _check_searcher(method: str, searcher: Any, completed: int) -> None:
    """Refuse runs where results were silently lost inside the searcher."""
    study = getattr(searcher, "_ot_study", None)
    if study is not None:
        import optuna

        states = [t.state for t in study.get_trials(deepcopy=False)]
        told = sum(s == optuna.trial.TrialState.COMPLETE for s in states)
        if told != completed:
            raise RuntimeError(f"{method}: Optuna recorded {told} complete trials of {completed} ({states=})")
    if getattr(searcher, "num_failed", 0):
        raise RuntimeError(f"{method}: PGSearcher counted {searcher.num_failed} failed trials of {completed}")
    history = searcher.history() if callable(getattr(searcher, "history", None)) else None
    if history is not None and "stopped_early" in history and history["stopped_early"].sum():
        raise RuntimeError(f"{method}: {history['stopped_early'].sum()} trials counted as stopped early")


def run_file(out: Path, method: str, seed: int) -> Path:
    return Path(out) / "multiobjective" / f"{method}__seed{seed}.parquet"


def _run_job(job: tuple[str, int, int, int, str]) -> None:
    method, seed, workers, budget, out = job
    _write(run_one(method, seed, workers, budget), run_file(Path(out), method, seed))


def run(args: Args) -> list[tuple[str, int, str]]:
    """Run every missing (method, seed); return the failures."""
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; known: {list(METHODS)}")
    todo = []
    for method in args.methods:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            path = run_file(args.out, method, seed)
            if path.exists() and not args.overwrite:
                old = pd.read_parquet(path, columns=["workers", "budget"]).iloc[0]
                if (old["workers"], old["budget"]) != (args.workers, args.budget):
                    raise SystemExit(f"{path} holds workers={old['workers']}, budget={old['budget']}, not "
                                     f"{args.workers}, {args.budget}: pass --overwrite true or another --out")
                continue
            todo.append((method, seed, args.workers, args.budget, str(args.out)))
    todo.sort(key=lambda job: not job[0].startswith("optuna"))  # slow ones first
    failures = run_jobs(_run_job, todo, args.processes, lambda job: f"{job[0]} seed={job[1]}")
    return [(job[0], job[1], error) for job, error in failures]


def load(out: Path, methods: tuple[str, ...] | None = None) -> pd.DataFrame:
    """All rows under ``<out>/multiobjective`` (of ``methods`` if given)."""
    files = sorted((Path(out) / "multiobjective").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no result files under {out}/multiobjective")
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    if methods is not None:
        frame = frame[frame["method"].isin(methods)]
    return frame


# ---------------------------------------------------------------------- summary


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


def mean_ranks(final: pd.Series) -> pd.Series:
    """Mean over seeds of each method's rank by final HV (1 = largest; seeds every method finished)."""
    table = final.unstack("method").dropna(how="any")
    return table.rank(axis=1, ascending=False, method="average").mean(axis=0)


def _methods_in(frame: pd.DataFrame) -> list[str]:
    present = set(frame["method"])
    return [m for m in METHODS if m in present] + sorted(present - set(METHODS))


def summarize(frame: pd.DataFrame, checkpoints: tuple[int, ...], command: str, png_name: str) -> str:
    """Markdown text for the rows of one (workers, budget) setting."""
    settings = frame[["workers", "budget"]].drop_duplicates()
    if len(settings) != 1:
        raise ValueError(f"expected rows of one (workers, budget) setting, got {settings.values.tolist()}")
    workers, budget = (int(v) for v in settings.iloc[0])
    methods = _methods_in(frame)
    at = ratio_at(frame, checkpoints)
    final = final_hv(frame)
    ranks = mean_ranks(final)
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
    problem = ("Problem (see `experiments/multiobjective.py`): minimise f1 = x1 and f2 = g (1 - sqrt(f1 / g)), "
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


def write_summary(args: Args, command: str) -> tuple[Path, Path]:
    frame = load(args.out, args.methods)
    frame = frame[(frame["workers"] == args.workers) & (frame["budget"] == args.budget)]
    if not len(frame):
        raise SystemExit(f"no rows with workers={args.workers}, budget={args.budget} under {args.out}/multiobjective")
    png = args.summary_out.with_suffix(".png")
    args.summary_out.parent.mkdir(parents=True, exist_ok=True)
    args.summary_out.write_text(summarize(frame, args.checkpoints, command, png.name))
    plot(frame, png, args.front_seed, args.dpi)
    print(f"wrote {args.summary_out} and {png}", flush=True)
    return args.summary_out, png


SUBCOMMANDS = ("run", "summary", "all")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        print(f"usage: python -m experiments.multiobjective {{{','.join(SUBCOMMANDS)}}} [flags]; "
              "add --help after a subcommand for its flags", file=sys.stderr)
        return 2
    command, args = argv[0], cli.parse(Args, argv[1:])
    failures = run(args) if command in ("run", "all") else []
    if failures:
        print(f"{len(failures)} runs failed; no summary written", file=sys.stderr)
    elif command in ("summary", "all"):
        write_summary(args, shlex.join(["python", "-m", "experiments.multiobjective", *argv]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
