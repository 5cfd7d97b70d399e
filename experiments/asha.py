"""PGSearcher with ASHA: learning curves, equal training budgets, through real Tune.

The question: does PGSearcher + ASHA reach a given regret with less training
than PGSearcher alone (FIFO, every trial trains to the end) and than random
search + ASHA? Every method gets the same total training budget ``B``,
counted in training iterations (reported results), not in trials.

**Problem.** A synthetic "network training" with a mixed space (optimiser
choice, log learning rate, integer layers, quantized dropout) and an analytic,
deterministic learning curve, so trials cost no real compute and the true
final value of every config is known:

    loss_t = final_loss + exp(-t / tau) - exp(-MAX_T / tau),   t = 1..MAX_T

so ``loss_MAX_T == final_loss`` exactly, ``final_loss >= 0`` with its minimum 0
at ``OPTIMUM`` (adam, lr 1e-3, 4 layers, dropout 0.2), and regret =
final_loss. ``tau`` (how slowly a run converges) falls with the learning rate
relative to the optimiser's best one, and grows with depth and dropout. So
curves cross: a too-high learning rate converges fast to a worse value and
looks best after one or three iterations (e.g. adam at lr 1e-2 beats the
optimum at t=1 and loses at t=27). Low rungs are informative but imperfect:
over uniform random configs the Spearman correlation between loss_t and
final_loss is about 0.5 at t=1, 0.7 at t=3 and 0.92 at t=9 (``fidelity``);
the optimiser, depth and dropout offsets show early, the learning rate's
final effect shows late. The constants were set once from that diagnostic
(informative rungs, crossing curves), not from benchmark outcomes.

**Methods** (``METHODS``): ``pg`` (PGSearcher, FIFO: every trial runs MAX_T
iterations), ``pg_asha`` (PGSearcher + ASHA, max_t=27, grace 1, reduction 3),
``random_asha`` (``experiments.methods.RandomSearcher`` + the same ASHA) and
``random`` (FIFO). All run through ``tune.Tuner`` with ``max_concurrent_trials
= workers`` (4 trials in flight; on ``num_cpus=2`` at most 2 run at once) and
``reuse_actors=True``. FIFO methods get ``B / MAX_T`` trials. ASHA methods get
``pg_asha_samples`` / ``random_asha_samples`` trials and a stopper that ends
the experiment once ``B`` iterations have been reported. Random + ASHA spends
~3 iterations per trial (pilot: 451-578 trials for B=1620, so 800 is ample;
random search ignores num_samples otherwise). PG + ASHA spends ~9 (pilots: 168,
174, 174, 241 trials), as PG learns configs that pass rungs, and its exploit
phase follows Tune's ``num_samples``: 175 (the pilot median) left 3 of 10 seeds
short of B, so the default is 300 (2 of 10 seeds still ran out, at 1530 and
1550 iterations); the summary reports the budget each method used.
``--curves parallel`` is the other regime: every config converges at the
optimum's rate, so curves never cross and every rung ranks configs exactly as
the end does (summarised in its own file, ``asha_parallel.md``). The two
bracket real learning curves, whose early rungs are more or less faithful.

**Budget accounting.** A Tune callback counts every reported result (one
training iteration) as it arrives, over all trials, and records that count
when a trial completes. A trial's ``cum_budget`` is therefore all the
training spent up to its completion, including the partial work of trials
still in flight at that moment (they run concurrently); rows are ordered by
completion. Trials completing after ``B`` and trials the stopper cut off
mid-flight are dropped.

**Rows** (one per completed trial, ``results/asha/<method>__seed<k>.parquet``):
``method, seed, trial, trial_id, iterations, cum_budget, loss, final_loss,
reached_max_t, incumbent_regret, optimizer, lr, layers, dropout, budget,
run_seconds, started, num_samples, curves, command``. ``incumbent_regret`` is the final_loss of the trial a
user would pick: the best reported loss among trials that reached MAX_T so
far (NaN until one exists). PG's ``history()`` goes to ``history/``.

Example:
    python -m experiments.asha --seeds 10          # run (skips existing files), then summarise
    python -m experiments.asha --run false         # summary and plot only
    python -m experiments.asha --methods pg_asha random_asha --seeds 5 --curves parallel \
        --out results/asha_parallel --summary results/asha_parallel.md --plot results/asha_parallel.png
    python -m experiments.asha --run false --also results/asha_parallel:parallel   # variants as extra rows
"""

from __future__ import annotations

import datetime
import math
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ray import tune
from ray.tune.stopper import Stopper

from experiments import cli

METRIC = "loss"
MAX_T = 27
OPTIMISERS = ("sgd", "momentum", "adam", "rmsprop")
SPACE: dict[str, Any] = {
    "optimizer": tune.choice(list(OPTIMISERS)),
    "lr": tune.loguniform(1e-5, 1.0),
    "layers": tune.randint(1, 7),  # 1..6
    "dropout": tune.quniform(0.0, 0.6, 0.05),
}
OPTIMUM: dict[str, Any] = {"optimizer": "adam", "lr": 1e-3, "layers": 4, "dropout": 0.2}

# Per optimiser: final-loss offset, best learning rate, convergence slowness.
_OFFSET = {"sgd": 0.12, "momentum": 0.05, "adam": 0.0, "rmsprop": 0.03}
_BEST_LR = {"sgd": 0.1, "momentum": 0.03, "adam": 1e-3, "rmsprop": 3e-4}
_SLOWNESS = {"sgd": 1.6, "momentum": 1.0, "adam": 0.8, "rmsprop": 0.9}
_TAU0 = 1.5  # time constant scale, iterations
_LR_SPEED = 0.35  # tau ~ (best_lr / lr) ** _LR_SPEED


def final_loss(config: dict) -> float:
    """The loss after MAX_T iterations: >= 0, and 0 exactly at ``OPTIMUM``."""
    opt = config["optimizer"]
    return float(
        _OFFSET[opt]
        + 0.08 * math.log10(float(config["lr"]) / _BEST_LR[opt]) ** 2
        + 0.02 * (int(config["layers"]) - 4) ** 2
        + 0.8 * (float(config["dropout"]) - 0.2) ** 2
    )


def time_constant(config: dict) -> float:
    """Iterations a run needs to shed 1/e of its excess loss; small means fast.

    With ``config["curves"] == "parallel"`` (a diagnostic) every config gets the
    optimum's time constant: curves never cross and every rung ranks configs
    exactly as the end does.
    """
    if config.get("curves", "crossing") == "parallel":
        config = OPTIMUM
    elif config.get("curves", "crossing") != "crossing":
        raise ValueError(f"curves must be 'crossing' or 'parallel', got {config['curves']!r}")
    opt = config["optimizer"]
    tau = (
        _TAU0
        * _SLOWNESS[opt]
        * (_BEST_LR[opt] / float(config["lr"])) ** _LR_SPEED
        * (1 + 0.15 * (int(config["layers"]) - 1))
        * (1 + float(config["dropout"]))
    )
    return float(min(max(tau, 0.2), 500.0))


def loss_at(config: dict, t: int | np.ndarray) -> float | np.ndarray:
    """The loss reported at iteration ``t`` (1..MAX_T); equals final_loss at MAX_T."""
    tau = time_constant(config)
    return final_loss(config) + np.exp(-np.asarray(t) / tau) - math.exp(-MAX_T / tau)


def trainable(config: dict) -> None:
    """Function trainable: reports the analytic learning curve, one result per iteration."""
    for t in range(1, MAX_T + 1):
        tune.report({METRIC: float(loss_at(config, t))})


def fidelity(num_configs: int = 2000, seed: int = 0, rungs: tuple[int, ...] = (1, 3, 9)) -> dict[int, float]:
    """Spearman correlation of loss_t with final_loss over uniform random configs, per rung."""
    from experiments.methods import RandomSearcher

    searcher = RandomSearcher(SPACE, seed=seed)
    configs = [searcher.suggest(str(i)) for i in range(num_configs)]
    final = pd.Series([final_loss(c) for c in configs])
    return {t: float(pd.Series([float(loss_at(c, t)) for c in configs]).corr(final, method="spearman"))
            for t in rungs}


# ----------------------------------------------------------------- methods


@dataclass(frozen=True)
class AshaMethod:
    searcher: str  # a name from experiments.methods.METHODS
    asha: bool


METHODS: dict[str, AshaMethod] = {
    "pg": AshaMethod("pg", asha=False),
    "pg_asha": AshaMethod("pg", asha=True),
    "random_asha": AshaMethod("random", asha=True),
    "random": AshaMethod("random", asha=False),
}


def method_of(name: str) -> AshaMethod:
    """A name of ``METHODS``, or an ablation ``"pg_asha[batch_size=16]"``: that method, its
    searcher built with those arguments (``experiments.methods`` parses them)."""
    base, bracket, knobs = name.partition("[")
    if base not in METHODS or (bracket and not knobs.endswith("]")):
        raise ValueError(f"unknown method {name!r}: use one of {sorted(METHODS)}, optionally with [knob=value, ...]")
    spec = METHODS[base]
    return AshaMethod(spec.searcher + bracket + knobs, spec.asha)


class BudgetTracker(tune.Callback):
    """Counts reported results (training iterations) and records each trial's completion."""

    def __init__(self) -> None:
        self.spent = 0
        self.completions: list[dict[str, Any]] = []

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.spent += 1

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        # Tune calls this from the controller right after the result that ended
        # the trial; trials cut by a stopper's stop_all never get here.
        self.completions.append({"trial_id": trial.trial_id, "cum_budget": self.spent})


class BudgetStopper(Stopper):
    """Ends the experiment once ``budget`` iterations have been reported."""

    def __init__(self, tracker: BudgetTracker, budget: int) -> None:
        self.tracker = tracker
        self.budget = budget

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.tracker.spent >= self.budget


def tidy_rows(completions: list[dict], results: pd.DataFrame, budget: int) -> pd.DataFrame:
    """One row per trial completed within ``budget``, in completion order, with the incumbent."""
    done = pd.DataFrame(completions, columns=["trial_id", "cum_budget"])
    done = done[done["cum_budget"] <= budget]
    names = list(SPACE)
    columns = ["trial_id", "training_iteration", METRIC, *(f"config/{n}" for n in names)]
    frame = done.merge(results[columns], on="trial_id", how="left", validate="one_to_one")
    frame = frame.rename(columns={"training_iteration": "iterations", **{f"config/{n}": n for n in names}})
    frame.insert(0, "trial", np.arange(1, len(frame) + 1))
    frame["final_loss"] = [final_loss(row) for row in frame[names].to_dict("records")]
    frame["reached_max_t"] = frame["iterations"] >= MAX_T
    best_loss, incumbent, regrets = math.inf, math.nan, []
    for loss, final, reached in zip(frame[METRIC], frame["final_loss"], frame["reached_max_t"]):
        if reached and loss < best_loss:
            best_loss, incumbent = loss, final
        regrets.append(incumbent)
    frame["incumbent_regret"] = regrets
    return frame


def run_one(method: str, seed: int, args: Args, storage: str,
            command: str = "") -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One Tune experiment; returns its tidy rows and PG's policy history (None for random)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from experiments.methods import make

    spec = method_of(method)
    searcher, _ = make(spec.searcher, SPACE, METRIC, "min", seed)
    tracker = BudgetTracker()
    if spec.asha:
        scheduler = ASHAScheduler(max_t=MAX_T, grace_period=1, reduction_factor=3)
        num_samples = args.pg_asha_samples if spec.searcher.startswith("pg") else args.random_asha_samples
        stop = BudgetStopper(tracker, args.budget)
    else:
        scheduler, num_samples, stop = FIFOScheduler(), args.budget // MAX_T, None
    started = datetime.datetime.now().isoformat(timespec="seconds")
    start = time.perf_counter()
    tuner = tune.Tuner(
        trainable,
        param_space=SPACE if args.curves == "crossing" else {**SPACE, "curves": args.curves},
        tune_config=tune.TuneConfig(metric=METRIC, mode="min", search_alg=searcher, scheduler=scheduler,
                                    num_samples=num_samples, max_concurrent_trials=args.workers,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=f"{method}__seed{seed}", storage_path=storage, verbose=0, stop=stop,
                                  callbacks=[tracker]),
    )
    grid = tuner.fit()
    seconds = time.perf_counter() - start
    if grid.errors:
        raise RuntimeError(f"{method} seed {seed}: {len(grid.errors)} trials failed, first: {grid.errors[0]!r}")
    frame = tidy_rows(tracker.completions, grid.get_dataframe(), args.budget)
    frame.insert(0, "seed", seed)
    frame.insert(0, "method", method)
    frame["budget"] = args.budget
    frame["run_seconds"] = seconds
    frame["started"] = started
    frame["num_samples"] = num_samples
    frame["curves"] = args.curves
    frame["command"] = command
    history = searcher.history() if hasattr(searcher, "history") else None
    return frame, history


def run_file(out: Path, method: str, seed: int) -> Path:
    return out / f"{method}__seed{seed}.parquet"


def run_all(args: Args, command: str = "") -> list[Path]:
    """Run every method x seed whose file is missing (or all with --overwrite); return the files written."""
    import ray

    for method in args.methods:
        method_of(method)  # refuses unknown names before any run
    if args.budget % MAX_T:
        raise ValueError(f"budget must be a multiple of {MAX_T}, got {args.budget=}")
    out = Path(args.out)
    (out / "history").mkdir(parents=True, exist_ok=True)
    # Ray workers import the trainable by reference: put the repository on their path.
    root = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # verbose=0 then prints no banner per run
    own_ray = not ray.is_initialized()
    if own_ray:
        ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False,
                 log_to_driver=False)
    written = []
    try:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for method in args.methods:  # methods interleaved: a machine slowdown hits them alike
                path = run_file(out, method, seed)
                if path.exists() and not args.overwrite:
                    continue
                with tempfile.TemporaryDirectory(prefix="asha_tune_") as storage:
                    frame, history = run_one(method, seed, args, storage, command)
                frame.to_parquet(path, index=False)
                if history is not None:
                    history.to_parquet(out / "history" / path.name, index=False)
                written.append(path)
                last = frame.iloc[-1] if len(frame) else None
                early = "" if history is None or not len(history) else \
                    f", stopped_early {int(history['stopped_early'].sum())}/{int(history['trials_used'].iloc[-1])}"
                print(f"{method} seed={seed}: {len(frame)} trials, {last['cum_budget'] if last is not None else 0} "
                      f"iterations, regret {last['incumbent_regret'] if last is not None else math.nan:.4f}"
                      f"{early}, {frame['run_seconds'].iloc[0] if len(frame) else math.nan:.1f}s", flush=True)
    finally:
        if own_ray:
            ray.shutdown()
    return written


# ----------------------------------------------------------------- summary


def load(out: Path) -> pd.DataFrame:
    files = sorted(Path(out).glob("*__seed*.parquet"))
    if not files:
        raise FileNotFoundError(f"no result files under {out}")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def incumbent_at(frame: pd.DataFrame, budgets: np.ndarray) -> pd.DataFrame:
    """Incumbent regret of each run (rows: method, seed) at each budget (columns); inf before any."""
    rows = {}
    for (method, seed), run in frame.groupby(["method", "seed"]):
        run = run.sort_values("trial")
        regret = run["incumbent_regret"].fillna(np.inf).to_numpy()
        index = np.searchsorted(run["cum_budget"].to_numpy(), budgets, side="right") - 1
        rows[(method, seed)] = np.where(index >= 0, regret[np.maximum(index, 0)], np.inf)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(budgets))
    table.index = pd.MultiIndex.from_tuples(table.index, names=["method", "seed"])
    return table


def budget_to_target(frame: pd.DataFrame, target: float) -> pd.Series:
    """Per run, the cum_budget at which the incumbent first has regret <= target (inf if never)."""
    def first(run: pd.DataFrame) -> float:
        hit = run.loc[run["incumbent_regret"] <= target, "cum_budget"]
        return float(hit.min()) if len(hit) else math.inf

    return frame.groupby(["method", "seed"]).apply(first, include_groups=False)


def _median(values: pd.Series | np.ndarray) -> float:
    """Median that treats inf (never reached) as larger than any number."""
    values = np.sort(np.asarray(values, dtype=float))
    if not len(values):
        return math.nan
    n = len(values)
    lo, hi = values[(n - 1) // 2], values[n // 2]
    return float(hi) if math.isinf(hi) else float((lo + hi) / 2)


def _quantile(values: np.ndarray, q: float, axis: int = 0) -> np.ndarray:
    """Quantile with inf allowed (as a value above every number), inf where it lands on one."""
    big = 1e300
    result = np.quantile(np.where(np.isinf(values), big, values), q, axis=axis)
    return np.where(result >= big / 10, np.inf, result)


def _fmt(value: float, budget: int | None = None) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return f"> {budget}" if budget else "none"
    return f"{value:.0f}" if budget else f"{value:.4f}"


def _ratio(a: float, b: float, budget: int) -> str:
    """a / b for budgets where inf means "more than ``budget``": bounds when one side is inf."""
    if math.isinf(a) and math.isinf(b):
        return "n/a (neither)"
    if math.isinf(a):
        return f"> {budget / b:.2f}"
    if math.isinf(b):
        return f"< {a / budget:.2f}"
    return f"{a / b:.2f}"


def summarise(out: Path, md_path: Path, png_path: Path | None, command: str, also: tuple[str, ...] = ()) -> str:
    """Write the markdown summary (and the plot) from the result files; return the markdown.

    ``also``: extra result folders as ``DIR:SUFFIX``; their runs appear as
    ``METHOD@SUFFIX`` in the tables and plot, outside the mean ranks.
    """
    frames = [load(out)]
    for item in also:
        folder, _, suffix = item.rpartition(":")
        if not folder or not suffix:
            raise ValueError(f"--also takes DIR:SUFFIX, got {item!r}")
        extra = load(Path(folder))
        extra["method"] = extra["method"] + "@" + suffix
        frames.append(extra)
    frame = pd.concat(frames, ignore_index=True)
    budget = int(frame["budget"].max())
    if frame["budget"].nunique() != 1:
        raise ValueError(f"result files mix budgets {sorted(frame['budget'].unique())}: use one --out per budget")
    main_methods = [m for m in METHODS if m in set(frame["method"])]
    methods = main_methods + sorted(set(frame["method"]) - set(main_methods))
    checkpoints = np.array([budget // 4, budget // 2, budget])
    at = incumbent_at(frame, checkpoints)
    final = at[budget].unstack("method")  # seeds x methods
    common = final[main_methods].dropna().index  # seeds every method ran
    ranks = final.loc[common, main_methods].rank(axis=1, method="average").mean()
    reference = "random" if "random" in methods else methods[0]
    target = _median(final[reference].dropna())
    # Fixed rule, chosen before the benchmark ran: a looser, the reference's, a tighter target.
    targets = [(f"twice the median final regret of {reference}", 2 * target),
               (f"median final regret of {reference}", target), ("half of it", target / 2)]
    if "command" not in frame:
        frame["command"], frame["num_samples"] = "", np.nan
    runs = frame.groupby(["method", "seed"]).agg(trials=("trial", "size"), spent=("cum_budget", "max"),
                                                 seconds=("run_seconds", "first"), samples=("num_samples", "first"))
    commands = sorted(c for c in frame["command"].dropna().unique() if c)
    regime = frames[0]["curves"].fillna("crossing").iloc[0] if "curves" in frames[0] else "crossing"
    lines = [
        "# PGSearcher with ASHA: regret against total training budget, " + {
            "crossing": "crossing curves (early rungs mislead)",
            "parallel": "parallel curves (early rungs rank as the end does)"}[regime],
        "",
        f"Generated {datetime.date.today().isoformat()} by `{command}`",
        f"(runs started {frame['started'].min()} to {frame['started'].max()}). The runs came from:",
        "",
        *[f"    {c}" for c in commands],
        "",
        (f"Synthetic learning-curve problem of `experiments/asha.py` (regret = true loss after {MAX_T} "
        f"iterations, optimum 0), real Tune runs, {int(frame['seed'].nunique())} seeds, "
        f"total budget B = {budget} training iterations per run. Budget is counted over all trials "
        "(including the partial work of trials still running) at each trial's completion; the incumbent is "
        f"the trial with the best reported loss among those that reached {MAX_T} iterations "
        "(what a user would pick), inf/'-' until one exists."),
        "",
        "## Incumbent regret (median over seeds) and mean rank at B",
        "",
        (f"| method | runs | num_samples | trials (median) | regret @ {checkpoints[0]} | @ {checkpoints[1]} "
        f"| @ {budget} | mean rank @ B | budget used (median) | seconds/run (median) |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        cells = [_fmt(_median(at.loc[m][c])) for c in checkpoints]
        cells = ["-" if c == "none" else c for c in cells]
        r = runs.loc[m]
        rank = f"{ranks[m]:.2f}" if m in ranks else "-"
        lines.append(f"| {m} | {len(r)} | {_fmt(r['samples'].iloc[0], 1)} | {r['trials'].median():.0f} | "
                     + " | ".join(cells)
                     + f" | {rank} | {r['spent'].median():.0f} | {r['seconds'].median():.1f} |")
    lines += ["", (f"Mean ranks: among {', '.join(main_methods)}, over the {len(common)} seeds they all ran "
              "(1 = best; ties share); '@' rows are not ranked. Budget used: "
              "cumulative iterations at the last trial completed within B (in-flight work after it is cut)."), ""]
    if len(methods) > len(main_methods):
        lines += ["'@' rows come from other result folders (`--also`); their ratios below use the main rows as "
                  "references. " + ("Rows whose runs used `--curves parallel` are a diagnostic variant of the "
                                    "problem: the same final losses, but every config converges at the same rate, "
                                    "so every rung ranks configs exactly as the end does (FIFO runs would be "
                                    "unchanged; compare pg_asha@... with random_asha@... directly)."
                                    if "curves" in frame and (frame["curves"] == "parallel").any() else ""), ""]
    lines += ["## Training budget to reach a regret target", ""]
    refs = [r for r in ("pg", "random_asha") if r in methods]
    for name, value in targets:
        hits = {m: budget_to_target(frame[frame["method"] == m], value) for m in methods}
        medians = {m: _median(hits[m]) for m in methods}
        lines += [(f"Target regret {value:.4f} ({name}). Budget = cumulative iterations when the incumbent first "
                  f"reaches the target; runs that never do count as > {budget}."), "",
                  "| method | reached | median budget | " + " | ".join(f"ratio vs {r}" for r in refs) + " |",
                  "|---|---|---|" + "---|" * len(refs)]
        for m in methods:
            reached = int(np.isfinite(hits[m]).sum())
            ratios = " | ".join(_ratio(medians[m], medians[r], budget) for r in refs)
            lines.append(f"| {m} | {reached}/{len(hits[m])} | {_fmt(medians[m], budget)} | {ratios} |")
        lines.append("")
    histories = sorted((Path(out) / "history").glob("pg_asha__seed*.parquet"))
    if histories:
        early = [pd.read_parquet(f) for f in histories]
        stopped = sum(int(h["stopped_early"].sum()) for h in early if len(h))
        used = sum(int(h["trials_used"].iloc[-1]) for h in early if len(h))
        lines += [(f"PG's history under ASHA: {stopped} of the {used} trials it learnt from were ranked as "
                  "stopped by the scheduler (ASHA also stops trials at max_t; those rank at the top level)."), ""]
    policy = final_policies([Path(out), *(Path(item.rpartition(":")[0]) for item in also)],
                            [""] + ["@" + item.rpartition(":")[2] for item in also])
    if len(policy):
        lines += ["## Where PG's policy ended (last update; median over seeds)", "",
                  "| method | p(adam) | lr (policy centre) | dropout | layers | entropy |", "|---|---|---|---|---|---|",
                  f"| optimum | 1 | {OPTIMUM['lr']:.2g} | {OPTIMUM['dropout']} | {OPTIMUM['layers']} | |"]
        for m, row in policy.iterrows():
            lines.append(f"| {m} | {row['optimizer:p[adam]']:.2f} | {row['lr:mean']:.2g} | {row['dropout:mean']:.2f} "
                         f"| {row['layers:mean']:.1f} | {row['entropy']:.2f} |")
        lines.append("")
    text = "\n".join(lines)
    md_path = Path(md_path)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(text)
    if png_path is not None:
        plot(frame, methods, budget, Path(png_path))
    return text


def final_policies(folders: list[Path], suffixes: list[str]) -> pd.DataFrame:
    """Median over seeds of PG's policy after its last update, per method (history files)."""
    rows = []
    for folder, suffix in zip(folders, suffixes):
        for path in sorted((folder / "history").glob("*__seed*.parquet")):
            history = pd.read_parquet(path)
            if len(history):
                rows.append({"method": path.stem.split("__")[0] + suffix, **history.iloc[-1].to_dict()})
    if not rows:
        return pd.DataFrame()
    columns = ["optimizer:p[adam]", "lr:mean", "dropout:mean", "layers:mean", "entropy"]
    return pd.DataFrame(rows).groupby("method", sort=False)[columns].median()


def plot(frame: pd.DataFrame, methods: list[str], budget: int, path: Path, dpi: int = 80) -> Path:
    """Median incumbent regret against cumulative budget, with the interquartile band, log y."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = np.arange(MAX_T, budget + 1, 9)
    at = incumbent_at(frame, budgets)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in methods:
        values = at.loc[m].to_numpy()
        median, lo, hi = (_quantile(values, q) for q in (0.5, 0.25, 0.75))
        shown = np.isfinite(median)
        line, = ax.plot(budgets[shown], median[shown], label=m, linestyle="--" if "@" in m else "-")
        band = np.isfinite(hi) & np.isfinite(lo) & ("@" not in m)  # bands for the main methods only
        ax.fill_between(budgets[band], lo[band], hi[band], color=line.get_color(), alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("cumulative training iterations (all trials)")
    ax.set_ylabel("incumbent regret (true final loss)")
    ax.set_title("Median over seeds; IQR band for the main methods; '@' dashed: variants")
    ax.legend(loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


# --------------------------------------------------------------------- CLI


@dataclass
class Args:
    """PGSearcher / random search, with and without ASHA, on equal training budgets through real Tune."""

    methods: tuple[str, ...] = tuple(METHODS)  # among pg, pg_asha, random_asha, random; ablations "pg_asha[knob=v]"
    seeds: int = 10  # number of seeds per method
    first_seed: int = 0  # first seed
    budget: int = 27 * 60  # total training iterations per run (FIFO: budget / 27 trials)
    workers: int = 4  # max_concurrent_trials
    pg_asha_samples: int = 300  # num_samples of pg_asha (above the pilot maximum; the budget stopper ends the run)
    random_asha_samples: int = 800  # num_samples of random_asha (from a pilot; the budget stopper ends the run)
    out: str = "results/asha"  # folder of result files
    overwrite: bool = False  # rerun runs whose file exists
    run: bool = True  # false: only rebuild the summary and plot from the result files
    summary: str = "experiments/results/asha.md"  # markdown summary to write
    plot: str = "experiments/results/asha.png"  # plot to write ("" for none)
    curves: str = "crossing"  # "crossing" (the benchmark) or "parallel" (diagnostic: rungs rank as the end does)
    also: tuple[str, ...] = ()  # extra result folders DIR:SUFFIX shown as METHOD@SUFFIX (e.g. another num_samples)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = cli.parse(Args, argv)
    command = ("python -m experiments.asha " + shlex.join(argv)).strip()
    if args.run:
        run_all(args, command)
    print(summarise(Path(args.out), Path(args.summary), Path(args.plot) if args.plot else None, command,
                    also=args.also))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
