"""Trainables for the Tune tests: in an importable module so Ray workers can unpickle them."""

from __future__ import annotations

import math
import time

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


CONDITIONAL_SPACE = {
    "opt": tune.choice([{"name": "sgd", "momentum": tune.uniform(0.0, 0.99)},
                        {"name": "adam", "beta1": tune.uniform(0.8, 0.999), "eps": tune.loguniform(1e-9, 1e-6)},
                        "default"]),
    "lr": tune.loguniform(1e-4, 1e-1)}


def conditional(config: dict) -> dict:
    """Fails the trial unless its config is exactly one branch with valid values."""
    from spaces import assert_valid  # the tests folder is on the workers' path

    assert_valid(CONDITIONAL_SPACE, config)
    opt = config["opt"]
    penalty = {"sgd": 0.3, "adam": 0.0}.get(opt["name"] if isinstance(opt, dict) else opt, 0.5)
    return {"loss": penalty + (math.log10(config["lr"]) + 2) ** 2 / 4}


def two_objectives(config: dict) -> dict:
    """Loss falls and latency rises with layers: a trade-off; rmsprop is dominated."""
    quality = score(config) + (config["opt"] == "rmsprop") * 0.3
    return {"loss": quality - 0.05 * config["layers"], "latency": 0.1 * config["layers"]
            + (config["opt"] == "rmsprop") * 0.2}


class Epochs(tune.Trainable):
    """Class API trainable that ends itself (done=True) after ``epochs`` steps; the shorter run scores better."""

    def setup(self, config: dict) -> None:
        self.epochs = config["epochs"]
        self.x = config["x"]

    def reset_config(self, new_config: dict) -> bool:  # reuse_actors=True
        self.setup(new_config)
        return True

    def save_checkpoint(self, checkpoint_dir: str) -> None:  # Tune saves a class trainable that ends
        return None

    def load_checkpoint(self, checkpoint: dict | None) -> None:
        pass

    def step(self) -> dict:
        loss = (0.1 if self.epochs == 2 else 0.5) + 0.01 * self.x
        return {"loss": loss, "done": self.iteration + 1 >= self.epochs}


EPOCHS_SPACE = {"epochs": tune.choice([2, 6]), "x": tune.uniform(0.0, 1.0)}


def quits_or_runs_on(config: dict) -> None:
    """sgd ends itself at iteration 2 with a poor accuracy; the others improve until something stops them."""
    for step in range(1, 1000):
        tune.report({"acc": step / 100 + (config["opt"] != "sgd") * 0.5})
        if config["opt"] == "sgd" and step == 2:
            return


def sleepy(config: dict) -> dict:
    time.sleep(0.5)
    return {"loss": score(config)}
