"""Registry of benchmarks: what runs, on which problems, with which defaults, and how it is reported.

Adding a suite is one entry in ``BENCHMARKS``. Kinds of benchmark:

- ``suite``: our 10 single-objective problems (``problems.py``), simulated
  asynchronous workers (``simulate.py``); PGSearcher's defaults were chosen on
  its tuning half (``problems.TUNING_PROBLEMS``), the rest is held out;
- ``asha``: learning curves through real Tune under ASHA / HyperBand / FIFO,
  two regimes as problems (``curves.py``, ``curves_report.py``);
- ``multiobjective``: ZDT1-3 and DTLZ2 (two and three objectives, fronts known) over a mixed space
  (``zdt.py``, ``zdt_report.py``);
- ``sklearn``: a real scikit-learn task through Tune (``sklearn_task.py``);
- ``bbob-mixint-large``: bbob-mixint in 40, 80 and 160 dimensions (``coco.py``);
- ``suite-noisy``: our suite at two observation-noise levels (``noisy.py``);
- ``real``: twelve real scikit-learn tuning problems, real fits under
  simulated workers (``real.py``, ``real_problems.py``).

The noisy entries score a run as users live it: ``best_so_far`` is the
noise-free regret of the incumbent, the config with the best *observed* value
(``simulate.Incumbent``).

Every entry's ``run_task(task)`` returns ``{"trials": rows[, "history": policy
history]}``; ``report(trials, history, out_dir, command)`` writes its markdown
(and figures) from result rows only and returns the files written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.bench import (coco, curves, curves_report, noisy, real, real_problems, simulate, sklearn_task, zdt,
                               zdt_report)
from experiments.bench.analysis import summarize_suite
from experiments.bench.problems import PROBLEMS, TUNING_PROBLEMS, Problem
from experiments.bench.results import Task

Report = Callable[[pd.DataFrame, pd.DataFrame, Path, str], list[Path]]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark definition.

    Attributes:
        run_task: runs one task, returns its frames (``"trials"``, optionally ``"history"``).
        problems: every problem name of the benchmark, in presentation order.
        methods, workers, budget, seeds: what ``run`` does when not told otherwise.
        report: writes the summary files from the rows (None: no report of its own).
        files: the markdown files ``report`` writes into the summary folder
            (``summary.md`` takes in the others' when they exist).
        default_problems: the problems run when none are named (None: all).
        uses_ray: its tasks run real Tune experiments (one local Ray, one task at a time).
    """

    run_task: Callable[[Task], dict[str, pd.DataFrame]]
    problems: Callable[[], tuple[str, ...]]
    methods: tuple[str, ...]
    workers: tuple[int, ...]
    budget: int
    seeds: int
    report: Report | None = None
    files: tuple[str, ...] = ()
    default_problems: Callable[[], tuple[str, ...]] | None = None
    uses_ray: bool = False


@dataclass(frozen=True)
class Simulated:
    """``run_task`` of a single-objective suite: simulated workers on ``get_problem(task.problem)``.

    ``by_observed``: score by the incumbent by observed value (``simulate.run_task``).
    """

    get_problem: Callable[[str], Problem]
    by_observed: bool = False

    def __call__(self, task: Task) -> dict[str, pd.DataFrame]:
        return simulate.run_task(task, self.get_problem(task.problem), by_observed=self.by_observed)


def _real_task(task: Task) -> dict[str, pd.DataFrame]:
    return real.run_task(task, real_problems.get_problem(task.problem))


@dataclass(frozen=True)
class SuiteReport:
    """``report`` of a single-objective suite: ``analysis.summarize_suite`` written to ``file``.

    ``tuning(problem)`` says whether a problem is in the tuning half; the main
    summary (``summary.md``) then takes in every other benchmark's files, so that
    one file holds every figure.
    """

    file: str
    title: str
    problems: Callable[[], tuple[str, ...]]
    tuning: Callable[[str], bool]
    tuning_note: str

    def __call__(self, trials: pd.DataFrame, history: pd.DataFrame, out_dir: Path, command: str) -> list[Path]:
        text = summarize_suite(trials, title=self.title, source=command, problems=self.problems(),
                               tuning=self.tuning, tuning_note=self.tuning_note)
        if self.file == "summary.md":
            for name in (f for b in BENCHMARKS.values() for f in b.files if f != self.file):
                extra = Path(out_dir) / name
                if extra.exists():  # demote its headings one level under ours
                    text += "\n" + "\n".join("#" + line if line.startswith("#") else line
                                              for line in extra.read_text().splitlines()) + "\n"
        path = Path(out_dir) / self.file
        path.write_text(text)
        return [path]


def _curves_report(trials: pd.DataFrame, history: pd.DataFrame, out_dir: Path, command: str) -> list[Path]:
    return curves_report.write_reports(trials, history, out_dir, command)


def _zdt_report(trials: pd.DataFrame, history: pd.DataFrame, out_dir: Path, command: str) -> list[Path]:
    return zdt_report.write_reports(trials, out_dir, command)


BENCHMARKS: dict[str, Benchmark] = {
    "suite": Benchmark(Simulated(PROBLEMS.__getitem__), lambda: tuple(PROBLEMS),
                       methods=("random", "tpe", "hyperopt", "pg"), workers=(8,), budget=200, seeds=10,
                       report=SuiteReport("summary.md", "Benchmark summary", lambda: tuple(PROBLEMS),
                                          lambda p: p in TUNING_PROBLEMS,
                                          f"PGSearcher's defaults were chosen on {', '.join(TUNING_PROBLEMS)} "
                                          "only (`tuning half`); `held-out half` averages the other problems."),
                       files=("summary.md",)),
    "bbob-mixint": Benchmark(Simulated(coco.get_problem), coco.problem_names, methods=("random", "tpe", "catcma", "pg"),
                             workers=(8,), budget=200, seeds=3, files=("bbob_mixint.md",),
                             report=SuiteReport("bbob_mixint.md", "COCO bbob-mixint", coco.problem_names,
                                                coco.is_tuning, "Tuning half: instances 1-5; held out: 6-15."),
                             default_problems=lambda: coco.problem_names(instances=(1, 6))),
    # Budget 10 x dimension: run each dimension with its own (--problems "*_d80" --budget 800).
    "bbob-mixint-large": Benchmark(Simulated(coco.get_problem), coco.large_problem_names,
                                   methods=("random", "tpe", "catcma", "pg"), workers=(64,), budget=400, seeds=3,
                                   files=("bbob_mixint_large.md",),
                                   report=SuiteReport("bbob_mixint_large.md", "COCO bbob-mixint in 40, 80 and 160 "
                                                      "dimensions", coco.large_problem_names, coco.is_tuning,
                                                      "Tuning instances 1-5 only, so both halves are the same."),
                                   default_problems=lambda: coco.problem_names((1,), coco.LARGE_DIMENSIONS)),
    "asha": Benchmark(curves.run_task, lambda: curves.PROBLEMS,
                      methods=("pg", "pg_asha", "random_asha", "tpe_asha", "hyperopt_asha", "bohb", "random",
                               "pg_hyperband", "random_hyperband"),
                      workers=(4,), budget=27 * 60, seeds=10, report=_curves_report,
                      files=("asha.md", "asha_parallel.md"), default_problems=lambda: ("crossing",), uses_ray=True),
    "multiobjective": Benchmark(zdt.run_task, lambda: tuple(zdt.PROBLEMS),
                                methods=("random", "optuna_tpe", "optuna_nsga2", "pg"), workers=(8,), budget=200,
                                seeds=20, report=_zdt_report,
                                files=("multiobjective.md", "multiobjective_w64.md", "multiobjective_w256.md")),
    "suite-noisy": Benchmark(Simulated(noisy.get_problem, by_observed=True), noisy.problem_names,
                             methods=("random", "tpe", "catcma", "pg"), workers=(8,), budget=200, seeds=10,
                             report=SuiteReport("suite_noisy.md", "Our suite with observation noise",
                                                noisy.problem_names, noisy.is_tuning,
                                                "Noise sd = 0.1 or 0.3 times the sd of the problem's value under "
                                                "random configs (`experiments/bench/noisy.py`). Best regret at n: "
                                                "the noise-free regret of the incumbent, the trial with the best "
                                                "observed value among the first n. Tuning half: the noisy versions "
                                                f"of {', '.join(TUNING_PROBLEMS)} (PGSearcher's defaults were chosen "
                                                "on them without noise); held out: the others."),
                             files=("suite_noisy.md",)),
    "real": Benchmark(_real_task, real_problems.problem_names, methods=("random", "tpe", "catcma", "pg"),
                      workers=(8,), budget=200, seeds=3,
                      report=SuiteReport("real_tasks.md", "Real scikit-learn tuning problems",
                                         real_problems.problem_names, lambda p: False,
                                         "Each trial is a real fit scored by one 3-fold cross-validation on a "
                                         "split drawn per trial (noisy); regret = the noise-free loss (mean "
                                         "over 5 fixed 3-fold splits; optimum taken as 0) of the incumbent, "
                                         "the trial with the best observed loss among the first n "
                                         "(`experiments/bench/real.py`). No tuning half: PGSearcher's defaults "
                                         "were never chosen on these problems, so every one is held out."),
                      files=("real_tasks.md",)),
    "sklearn": Benchmark(sklearn_task.run_task, lambda: (sklearn_task.PROBLEM,),
                         methods=("random", "tpe", "hyperopt", "pg"), workers=(2,), budget=60, seeds=3,
                         uses_ray=True),
}
