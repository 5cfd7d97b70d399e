"""Our suite with observation noise (benchmark ``suite-noisy``).

Each noise-free problem of ``problems.PROBLEMS`` at two noise levels: Gaussian
noise whose sd is ``level`` times the spread of the problem's values, the sd of
its noise-free value over ``SPREAD_CONFIGS`` uniformly random configs drawn
with seed ``SPREAD_SEED`` (each domain's own ``sample()``, as random search
draws). Names read ``branin_cat~noise0.1``. ``hartmann6_noisy`` and
``train_net_noisy`` are left out: they are ``hartmann6_cat`` and ``train_net``
with noise, so their noisy versions would count those objectives twice.

Spreads (seed 0, 500 configs) and the noise sd at levels 0.1 / 0.3:
branin_cat 50.4 (5.04 / 15.1), hartmann6_cat 0.411 (0.0411 / 0.123),
train_net 0.307 (0.0307 / 0.092), mixed_hd24 0.682 (0.0682 / 0.204),
int_heavy 0.108 (0.0108 / 0.0324), needle100 0.304 (0.0304 / 0.0913),
gauss_prior 5.87 (0.587 / 1.76), sphere 16.1 (1.61 / 4.82);
``tests/test_real_tasks.py`` checks them.

Rows are scored by the incumbent rule (``simulate.Incumbent``): the
noise-free regret of the config with the best *observed* value so far.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np

from experiments.bench.domains import random_config
from experiments.bench.problems import PROBLEMS, TUNING_PROBLEMS, Problem

NOISE_LEVELS = (0.1, 0.3)
SPREAD_SEED = 0
SPREAD_CONFIGS = 500


def spread(problem: Problem) -> float:
    """Sd of the noise-free value over ``SPREAD_CONFIGS`` random configs (seed ``SPREAD_SEED``)."""
    rng = np.random.default_rng(SPREAD_SEED)
    return float(np.std([problem.value(random_config(problem.space, rng)) for _ in range(SPREAD_CONFIGS)]))


def noisy_name(base: str, level: float) -> str:
    return f"{base}~noise{level}"


def base_name(name: str) -> str:
    """``"branin_cat~noise0.1"`` -> ``"branin_cat"``."""
    return name.split("~noise")[0]


@cache
def noisy_problems() -> dict[str, Problem]:
    """name -> noisy problem, by base problem then level (built once per process: 4,000 evaluations)."""
    out = {}
    for base in (p for p in PROBLEMS.values() if p.noise_sd == 0):
        sd = spread(base)
        for level in NOISE_LEVELS:
            name = noisy_name(base.name, level)
            out[name] = dataclasses.replace(base, name=name, noise_sd=level * sd,
                                            description=f"{base.description}; noise sd {level} x {sd:.3g}")
    return out


def problem_names() -> tuple[str, ...]:
    return tuple(noisy_problems())


def get_problem(name: str) -> Problem:
    try:
        return noisy_problems()[name]
    except KeyError:
        raise KeyError(f"unknown problem {name!r}; known: {list(noisy_problems())}") from None


def is_tuning(name: str) -> bool:
    """Whether the noise-free problem behind a noisy one is in PGSearcher's tuning half."""
    return base_name(name) in TUNING_PROBLEMS
