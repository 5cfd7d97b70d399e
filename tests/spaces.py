"""Search spaces for the contract suite, and a validity check for whole configs."""

from __future__ import annotations

from ray import tune
from ray.tune.search.sample import Categorical, Domain

from domains import DOMAINS, is_producible

SPACES = {
    "choice_only": {"opt": tune.choice(["sgd", "adam", "rmsprop"]), "act": tune.choice([0, 1])},
    "continuous_only": {"x": tune.uniform(-5, 5), "y": tune.uniform(0, 1)},
    "mixed": {"opt": tune.choice(["sgd", "adam"]), "lr": tune.loguniform(1e-5, 1e-1), "layers": tune.randint(1, 6),
              "dropout": tune.uniform(0.0, 0.5), "epochs": 10},
    "log_int_quantized": {k: DOMAINS[k] for k in DOMAINS if k != "choice"},
    "nested": {"model": {"widths": [tune.lograndint(8, 512), tune.qrandint(8, 64, 8), 3],
                         "norm": tune.choice([True, False])},
               "optim": {"lr": tune.qloguniform(1e-4, 1e-1, 1e-4), "noise": tune.qrandn(0, 1, 0.25)},
               "name": "run"},
    # Conditional: each optimiser has its own parameters; one branch nests another choice of branches.
    "conditional": {"opt": tune.choice([{"name": "sgd", "momentum": tune.uniform(0, 0.99),
                                         "nesterov": tune.choice([True, False])},
                                        {"name": "adam", "beta1": tune.uniform(0.8, 0.999),
                                         "eps": tune.loguniform(1e-9, 1e-6)},
                                        "default"]),
                    "model": tune.choice([{"kind": "linear"},
                                          {"kind": "mlp", "hidden": tune.choice([{"depth": 1},
                                                                                 {"depth": tune.randint(2, 5),
                                                                                  "width": tune.qrandint(8, 64, 8)}])}]),
                    "lr": tune.loguniform(1e-4, 1e-1)},
    # Tuples holding domains come back as tuples, also inside a branch; a derived-looking key name.
    "tuples": {"betas": (tune.uniform(0.8, 0.99), 0.999),
               "opt": tune.choice([{"name": "adam", "betas": (tune.uniform(0.8, 0.99), tune.choice([0.99, 0.999]))},
                                   "sgd"]),
               "model[0]": tune.randint(1, 4)},
}


def assert_valid(space: dict, config: dict) -> None:
    """Every domain resolved to a producible value, every constant kept, no extra key."""
    if isinstance(space, dict):
        assert isinstance(config, dict) and set(config) == set(space), (space, config)
        for key in space:
            assert_valid(space[key], config[key])
    elif isinstance(space, list) or isinstance(space, tuple) and holds_domain(space):
        assert type(config) is type(space) and len(config) == len(space), (space, config)
        for s, c in zip(space, config):
            assert_valid(s, c)
    elif isinstance(space, Categorical) and any(map(holds_domain, space.categories)):
        assert sum(map(fits, space.categories, [config] * len(space.categories))) >= 1, (space.categories, config)
    elif isinstance(space, Domain):
        assert is_producible(space, config), (space.domain_str, config)
    else:
        assert config == space


def holds_domain(node) -> bool:
    if isinstance(node, Domain):
        return True
    values = node.values() if isinstance(node, dict) else node if isinstance(node, (list, tuple)) else []
    return any(map(holds_domain, values))


def fits(category, config) -> bool:
    """Whether ``config`` is a valid resolution of one category of a conditional choice."""
    try:
        assert_valid(category, config)
    except AssertionError:
        return False
    return True
