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

**Methods** (``experiments.bench.methods``): FIFO methods (``pg``, ``random``;
every trial runs MAX_T iterations, ``B / MAX_T`` trials), and methods with a
``scheduler``: ``pg_asha`` / ``random_asha`` (ASHA, max_t=27, grace 1,
reduction 3) and ``pg_hyperband`` / ``random_hyperband`` (Ray's synchronous
``HyperBandScheduler``, the same max_t and reduction; it pauses trials at
its milestones, so their trainable checkpoints its iteration and resumes from
it). All run through ``tune.Tuner`` with ``max_concurrent_trials = workers``
(4 trials in flight; on ``num_cpus=2`` at most 2 run at once) and
``reuse_actors=True``, except HyperBand methods: Ray's HyperBand counts a
bracket as filled by its *live* trials, so with at most 4 trials in flight its
first bracket (4 trials to max_t) never fills, every trial joins it and runs
to max_t, and nothing is ever halved (measured: 30 of 30 trials ran 27
iterations). They run without ``max_concurrent_trials`` (still at most 2 at
once on 2 CPUs; paused trials wait for their bracket). Scheduler methods get their entry's ``num_samples`` and
a stopper that ends the experiment once ``B`` iterations have been reported:
random + ASHA spends ~3 iterations per trial (pilot: 451-578 trials for
B=1620, so 800 is ample); PG + ASHA ~9 (pilots: 168-241 trials), and its
exploit phase follows Tune's ``num_samples``: 175 left 3 of 10 seeds short of
B, so 300 (2 of 10 seeds still ran out, at 1530 and 1550 iterations); the
summary reports the budget each method used.

**Problems** (regimes): ``crossing`` as above, and ``parallel``: every config
converges at the optimum's rate, so curves never cross and every rung ranks
configs exactly as the end does. The two bracket real learning curves, whose
early rungs are more or less faithful.

**Budget accounting.** A Tune callback counts every reported result (one
training iteration) as it arrives, over all trials, and records that count
when a trial completes. A trial's ``cum_budget`` is therefore all the
training spent up to its completion, including the partial work of trials
still in flight at that moment (they run concurrently); rows are ordered by
completion. Trials completing after ``B`` and trials the stopper cut off
mid-flight are dropped.

**Rows** (one per completed trial): the common keys (``problem`` is the
regime, ``budget`` is B), ``trial, trial_id, iterations, cum_budget, loss,
final_loss, reached_max_t, incumbent_regret, best_so_far, optimizer, lr,
layers, dropout, run_seconds, started, num_samples``. ``incumbent_regret``
(= ``best_so_far``) is the final_loss of the trial a user would pick: the best
reported loss among trials that reached MAX_T so far (NaN until one exists).
"""

from __future__ import annotations

import datetime
import math
import tempfile
import time
from typing import Any

import numpy as np
import pandas as pd
from ray import tune
from ray.tune.stopper import Stopper

from experiments.bench import curves_real
from experiments.bench.methods import make, parse_method
from experiments.bench.results import Task, tidy

METRIC, MAX_T = curves_real.METRIC, curves_real.MAX_T  # one metric and training length for every problem
PROBLEMS = ("crossing", "parallel", *curves_real.SPACES)
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


def resumable_trainable(config: dict) -> None:
    """``trainable`` that checkpoints its iteration, so a trial HyperBand pauses resumes where it was."""
    import json
    import os

    start = 1
    if (checkpoint := tune.get_checkpoint()) is not None:
        with checkpoint.as_directory() as folder, open(os.path.join(folder, "t.json")) as f:
            start = json.load(f)["t"] + 1
    for t in range(start, MAX_T + 1):
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "t.json"), "w") as f:
                json.dump({"t": t}, f)
            tune.report({METRIC: float(loss_at(config, t))}, checkpoint=tune.Checkpoint.from_directory(folder))


def fidelity(num_configs: int = 2000, seed: int = 0, rungs: tuple[int, ...] = (1, 3, 9)) -> dict[int, float]:
    """Spearman correlation of loss_t with final_loss over uniform random configs, per rung."""
    from experiments.bench.methods import RandomSearcher  # noqa: PLC0415 - only this diagnostic needs it

    searcher = RandomSearcher(SPACE, seed=seed)
    configs = [searcher.suggest(str(i)) for i in range(num_configs)]
    final = pd.Series([final_loss(c) for c in configs])
    return {t: float(pd.Series([float(loss_at(c, t)) for c in configs]).corr(final, method="spearman"))
            for t in rungs}


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


def tidy_rows(completions: list[dict], results: pd.DataFrame, budget: int, problem: str = "crossing") -> pd.DataFrame:
    """One row per trial completed within ``budget``, in completion order, with the incumbent."""
    done = pd.DataFrame(completions, columns=["trial_id", "cum_budget"])
    done = done[done["cum_budget"] <= budget]
    names = list(space_of(problem))
    columns = ["trial_id", "training_iteration", METRIC, *(f"config/{n}" for n in names)]
    frame = done.merge(results[columns], on="trial_id", how="left", validate="one_to_one")
    frame = frame.rename(columns={"training_iteration": "iterations", **{f"config/{n}": n for n in names}})
    frame.insert(0, "trial", np.arange(1, len(frame) + 1))
    frame["reached_max_t"] = frame["iterations"] >= MAX_T
    if problem in curves_real.SPACES:  # training is seeded: a trial that reached MAX_T reported its final loss
        frame["final_loss"] = frame[METRIC].where(frame["reached_max_t"])
    else:
        frame["final_loss"] = [final_loss(row) for row in frame[names].to_dict("records")]
    best_loss, incumbent, regrets = math.inf, math.nan, []
    for loss, final, reached in zip(frame[METRIC], frame["final_loss"], frame["reached_max_t"]):
        if reached and loss < best_loss:
            best_loss, incumbent = loss, final
        regrets.append(incumbent)
    frame["incumbent_regret"] = regrets
    return frame


def space_of(problem: str) -> dict[str, Any]:
    """The search space of a regime or real problem."""
    return curves_real.SPACES.get(problem, SPACE)


def run_task(task: Task) -> dict[str, pd.DataFrame]:
    """One Tune experiment on a running Ray; returns its tidy rows and PG's policy history."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandForBOHB, HyperBandScheduler

    if task.problem not in PROBLEMS:
        raise ValueError(f"learning-curve problems are {PROBLEMS}, got {task.problem!r}")
    if task.budget % MAX_T:
        raise ValueError(f"budget must be a multiple of {MAX_T}, got {task.budget=}")
    method, _ = parse_method(task.method)
    space = space_of(task.problem)
    searcher, _ = make(task.method, space, METRIC, "min", task.seed)
    tracker = BudgetTracker()
    real = task.problem in curves_real.SPACES
    resumable = method.scheduler in ("hyperband", "bohb")  # they pause trials
    function, in_flight = curves_real.trainable if real else trainable, task.workers
    if method.scheduler is None:
        scheduler, num_samples, stop = FIFOScheduler(), task.budget // MAX_T, None
    else:
        if method.scheduler == "asha":
            scheduler = ASHAScheduler(max_t=MAX_T, grace_period=1, reduction_factor=3)
        elif method.scheduler in ("hyperband", "bohb"):
            kind = HyperBandScheduler if method.scheduler == "hyperband" else HyperBandForBOHB
            scheduler = kind(max_t=MAX_T, reduction_factor=3)
            function = curves_real.trainable if real else resumable_trainable
            in_flight = 0  # Tune's default: no limit (see the module docstring)
        else:
            raise ValueError(f"{task.method}: unknown scheduler {method.scheduler!r}")
        num_samples, stop = method.num_samples, BudgetStopper(tracker, task.budget)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="curves_tune_") as storage:
        tuner = tune.Tuner(
            function,
            param_space=({**space, "problem": task.problem, "resumable": resumable} if real
                         else SPACE if task.problem == "crossing" else {**SPACE, "curves": task.problem}),
            tune_config=tune.TuneConfig(metric=METRIC, mode="min", search_alg=searcher, scheduler=scheduler,
                                        num_samples=num_samples, max_concurrent_trials=in_flight,
                                        reuse_actors=True),
            run_config=tune.RunConfig(name="run", storage_path=storage, verbose=0, stop=stop, callbacks=[tracker]),
        )
        grid = tuner.fit()
        if grid.errors:
            raise RuntimeError(f"{task.label()}: {len(grid.errors)} trials failed, first: {grid.errors[0]!r}")
        results = grid.get_dataframe()
    frame = tidy_rows(tracker.completions, results, task.budget, task.problem)
    frame["best_so_far"] = frame["incumbent_regret"]
    frame["run_seconds"] = time.perf_counter() - start
    frame["started"] = started
    frame["num_samples"] = num_samples
    frames = {"trials": tidy(frame.to_dict("records"), task, list(frame.columns))}
    if callable(getattr(searcher, "history", None)):
        frames["history"] = searcher.history()
    return frames
