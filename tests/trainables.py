"""Trainables for the Tune tests: in an importable module so Ray workers can unpickle them."""

from __future__ import annotations

import math

from ray import tune


def score(config: dict) -> float:
    """A mixed-space loss with a known best: opt 'adam', lr 1e-2, layers 3, dropout 0.1."""
    return ((config["opt"] != "adam") * 0.5 + (math.log10(config["lr"]) + 2) ** 2 / 4
            + abs(config["layers"] - 3) * 0.1 + (config["dropout"] - 0.1) ** 2)


SPACE = {"opt": tune.choice(["sgd", "adam", "rmsprop"]), "lr": tune.loguniform(1e-5, 1e-1),
         "layers": tune.randint(1, 8), "dropout": tune.quniform(0.0, 0.5, 0.05), "epochs": 3}


def one_shot(config: dict) -> dict:
    return {"loss": score(config)}


def iterative(config: dict) -> None:
    """Reports a learning curve; the loss approaches score(config) as iterations go on."""
    for step in range(1, config["epochs"] * 3 + 1):
        tune.report({"loss": score(config) + 1.0 / step})


def sometimes_fails(config: dict) -> dict:
    if config["opt"] == "rmsprop":
        raise RuntimeError("rmsprop diverged")
    return {"loss": score(config)}
