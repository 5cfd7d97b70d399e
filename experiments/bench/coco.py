"""COCO's bbob-mixint suite (PyPI ``coco-experiment``, module ``cocoex``) as benchmark problems.

bbob-mixint (Tušar et al., GECCO 2019) holds the 24 bbob functions with part
of the variables integer: the first ``number_of_integer_variables`` variables
take integer values within their bounds (0-1, 0-3, 0-7, 0-15, ...), the others
are continuous on [-5, 5]. Each (function, dimension, instance) becomes a
problem named as COCO names it, ``bbob-mixint_f001_i01_d10``, with a Tune space
(``x00``, ``x01``, ...: ``tune.randint(low, high + 1)`` for an integer
variable, ``tune.uniform(low, high)`` for a continuous one) and its known
optimum: the value at COCO's optimal solution (``Problem._best_parameter``,
which lies on the integer lattice and within the bounds; checked on
functions 1-24, dimensions 10 and 20, instances 1 and 7: f(x_opt) is the
bbob f_opt and no random point beats it). Regret = f - f_opt.

Instances 1-5 are the tuning half; 6-15 are held out.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from ray import tune

from experiments.bench.problems import Problem

SUITE = "bbob-mixint"
FUNCTIONS = range(1, 25)
DIMENSIONS = (10, 20)
# Large spaces (the ``bbob-mixint-large`` benchmark): tuning instances only, a budget of 10 x dimension.
LARGE_DIMENSIONS = (40, 80, 160)
INSTANCES = range(1, 16)
TUNING_INSTANCES = range(1, 6)


def name(function: int, instance: int, dimension: int) -> str:
    return f"{SUITE}_f{function:03d}_i{instance:02d}_d{dimension:02d}"


def problem_names(instances: range | tuple[int, ...] = INSTANCES,
                  dimensions: tuple[int, ...] = DIMENSIONS) -> tuple[str, ...]:
    """Every problem name, by dimension, function, then instance."""
    return tuple(name(f, i, d) for d in dimensions for f in FUNCTIONS for i in instances)


def large_problem_names() -> tuple[str, ...]:
    """The ``bbob-mixint-large`` problems: dimensions 40, 80 and 160, tuning instances 1-5."""
    return problem_names(TUNING_INSTANCES, LARGE_DIMENSIONS)


def parse(problem: str) -> tuple[int, int, int]:
    """``"bbob-mixint_f001_i01_d10"`` -> (function, instance, dimension)."""
    try:
        suite, f, i, d = problem.rsplit("_", 3)
        if suite != SUITE or f[0] != "f" or i[0] != "i" or d[0] != "d":
            raise ValueError
        return int(f[1:]), int(i[1:]), int(d[1:])
    except ValueError:
        raise ValueError(f"not a {SUITE} problem name: {problem!r} (e.g. {name(1, 1, 10)!r})") from None


def is_tuning(problem: str) -> bool:
    """Whether a problem is in the tuning half (instances 1-5)."""
    return parse(problem)[1] in TUNING_INSTANCES


@cache
def get_problem(problem: str) -> Problem:
    """The benchmark problem of a bbob-mixint name (built once per process)."""
    import cocoex

    function, instance, dimension = parse(problem)
    suite = cocoex.Suite(SUITE, "", f"function_indices:{function} dimensions:{dimension} "
                                    f"instance_indices:{instance}")
    coco = suite[0]
    if coco.id != problem:
        raise ValueError(f"cocoex built {coco.id!r} for {problem!r}")
    names = [f"x{k:02d}" for k in range(coco.dimension)]
    integers = coco.number_of_integer_variables
    space = {n: tune.randint(int(lo), int(hi) + 1) if k < integers else tune.uniform(float(lo), float(hi))
             for k, (n, lo, hi) in enumerate(zip(names, coco.lower_bounds, coco.upper_bounds))}
    objective = Objective(suite, coco, tuple(names))
    x_opt = _optimal_solution(coco)
    optimal = {n: int(round(v)) if k < integers else float(v) for k, (n, v) in enumerate(zip(names, x_opt))}
    return Problem(name=problem, space=space, objective=objective, optimum=objective(optimal),
                   optimal_config=optimal, description=f"COCO {coco.name}, {integers} integer variables")


@dataclass(frozen=True)
class Objective:
    """A cocoex problem as a function of a config (holds the suite too: freeing it frees its problems)."""

    suite: Any
    coco: Any
    names: tuple[str, ...]

    def __call__(self, config: dict) -> float:
        return float(self.coco(np.array([config[n] for n in self.names], dtype=float)))


def _optimal_solution(coco: Any) -> np.ndarray:
    """COCO's optimal solution; ``_best_parameter("print")`` writes it to a file in the working directory."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="coco_") as folder:
        os.chdir(folder)
        try:
            coco._best_parameter("print")  # noqa: SLF001 - cocoex's only way to the optimal solution
            return np.loadtxt(os.path.join(folder, "._bbob_problem_best_parameter.txt"), ndmin=1)
        finally:
            os.chdir(cwd)
