"""Every Tune domain kind, and a check that a value is one its own sample() could produce."""

from __future__ import annotations

import math

import numpy as np
from ray import tune
from ray.tune.search.sample import Categorical, Float, Integer, Normal, Quantized

DOMAINS = {
    "choice": tune.choice(["a", 2, None, (1, 2)]),
    "uniform": tune.uniform(-2.0, 3.0),
    "quniform": tune.quniform(0.2, 1.5, 0.1),
    "loguniform": tune.loguniform(1e-5, 1e-1),
    "qloguniform": tune.qloguniform(1e-3, 1.0, 1e-3),
    "randn": tune.randn(5.0, 2.0),
    "qrandn": tune.qrandn(0.0, 3.0, 0.5),
    "randint": tune.randint(-3, 4),
    "qrandint": tune.qrandint(3, 31, 4),
    "qrandint_q1": tune.qrandint(0, 5, 1),
    "lograndint": tune.lograndint(1, 1000),
    "qlograndint": tune.qlograndint(2, 130, 8),
}


def is_producible(domain, value) -> bool:
    """True when ``value`` is a value that ``domain.sample()`` can return."""
    if isinstance(domain, Categorical):
        return any(type(c) is type(value) and c == value for c in domain.categories)
    sampler = domain.get_sampler()
    q = sampler.q if isinstance(sampler, Quantized) else None
    if isinstance(domain, Integer):
        if type(value) is not int:
            return False
        if q is None or q == 1:
            return domain.lower <= value < domain.upper
        return value % q == 0 and math.ceil(domain.lower / q) * q <= value <= math.floor(domain.upper / q) * q
    assert isinstance(domain, Float)
    if type(value) is not float or not math.isfinite(value):
        return False
    if q is not None:
        k = np.round(value / q)
        on_grid = float(k * q) == value
        if isinstance(sampler.get_sampler(), Normal):
            return on_grid
        # Tune requires float bounds on the grid, so both ends are included.
        return on_grid and round(domain.lower / q) <= k <= round(domain.upper / q)
    if isinstance(sampler, Normal):
        return True
    return domain.lower <= value < domain.upper


def ends(domain) -> tuple:
    """Smallest and largest value of a discrete numeric domain (Tune's inclusive/exclusive bounds)."""
    sampler = domain.get_sampler()
    q = sampler.q if isinstance(sampler, Quantized) else None
    if isinstance(domain, Integer):
        if q is None or q == 1:
            return domain.lower, domain.upper - 1
        return math.ceil(domain.lower / q) * q, math.floor(domain.upper / q) * q
    return domain.lower, domain.upper
