"""Real learning curves for the early-stopping benchmark (``asha``): models trained epoch by epoch.

Each problem trains a scikit-learn model with ``partial_fit`` on data that ships with scikit-learn and
reports its validation log-loss after every epoch (``MAX_T`` epochs in all), so schedulers cut real
curves: a high learning rate or a small batch gains fast and may end worse, a strong penalty looks good
early and stays flat.

- ``mlp_digits``: ``MLPClassifier`` on the 8x8 digits (1,797 images, 2/3 to train, 1/3 to validate), its
  solver a choice (sgd with momentum, or adam), learning rate, width, L2 penalty and batch size tuned.
- ``sgd_digits``: ``SGDClassifier`` (a logistic regression) on the same split, its learning-rate schedule
  a choice, initial rate, L2/elastic-net penalty and averaging tuned.

Training is seeded (the model's ``random_state`` is fixed), so a config's curve is the same in every
trial and every method: the loss a trial reports at the last epoch is the config's true final loss.
A trial resumes from its checkpoint (the pickled model) when HyperBand pauses it.
"""

from __future__ import annotations

import functools
import math
import os
import pickle
import tempfile
from typing import Any

import numpy as np
from ray import tune

METRIC = "loss"
MAX_T = 27

MLP_SPACE: dict[str, Any] = {
    "solver": tune.choice(["sgd", "adam"]),
    "learning_rate_init": tune.loguniform(1e-4, 1.0),
    "hidden": tune.lograndint(8, 129),
    "alpha": tune.loguniform(1e-6, 1e-1),
    "batch_size": tune.choice([16, 32, 64, 128, 256]),
}
SGD_SPACE: dict[str, Any] = {
    "learning_rate": tune.choice(["constant", "invscaling", "adaptive"]),
    "eta0": tune.loguniform(1e-5, 1.0),
    "alpha": tune.loguniform(1e-7, 1e-1),
    "l1_ratio": tune.uniform(0.0, 1.0),
    "average": tune.choice([False, True]),
}
SPACES = {"mlp_digits": MLP_SPACE, "sgd_digits": SGD_SPACE}


@functools.cache
def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(x, y, test_size=1 / 3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_valid), y_train, y_valid


def _model(problem: str, config: dict) -> Any:
    if problem == "mlp_digits":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(hidden_layer_sizes=(int(config["hidden"]),), solver=config["solver"],
                             learning_rate_init=float(config["learning_rate_init"]), alpha=float(config["alpha"]),
                             batch_size=int(config["batch_size"]), momentum=0.9, random_state=0)
    if problem == "sgd_digits":
        from sklearn.linear_model import SGDClassifier

        return SGDClassifier(loss="log_loss", penalty="elasticnet", alpha=float(config["alpha"]),
                             l1_ratio=float(config["l1_ratio"]), learning_rate=config["learning_rate"],
                             eta0=float(config["eta0"]), average=bool(config["average"]), random_state=0)
    raise ValueError(f"real learning-curve problems are {sorted(SPACES)}, got {problem!r}")


def _epoch(model: Any, epoch: int) -> float:
    """One epoch of ``partial_fit`` (shuffled by the epoch), then the validation log-loss (capped at 10: a
    diverged model)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss

    x_train, x_valid, y_train, y_valid = _data()
    order = np.random.default_rng(epoch).permutation(len(x_train))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        model.partial_fit(x_train[order], y_train[order], classes=np.arange(10))
        with np.errstate(all="ignore"):
            proba = model.predict_proba(x_valid)
    loss = log_loss(y_valid, np.clip(np.nan_to_num(proba, nan=0.1), 1e-15, 1.0), labels=np.arange(10))
    return float(min(loss, 10.0)) if math.isfinite(loss) else 10.0


def trainable(config: dict) -> None:
    """Trains ``config["problem"]``'s model, reporting the validation loss each epoch. With
    ``config["resumable"]`` (HyperBand pauses trials) it checkpoints the model each epoch and resumes."""
    problem, start, model = config["problem"], 1, None
    if (checkpoint := tune.get_checkpoint()) is not None:
        with checkpoint.as_directory() as folder, open(os.path.join(folder, "model.pkl"), "rb") as f:
            start, model = pickle.load(f)
    model = model if model is not None else _model(problem, config)
    for epoch in range(start, MAX_T + 1):
        loss = _epoch(model, epoch)
        if not config.get("resumable"):
            tune.report({METRIC: loss})
            continue
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "model.pkl"), "wb") as f:
                pickle.dump((epoch + 1, model), f)
            tune.report({METRIC: loss}, checkpoint=tune.Checkpoint.from_directory(folder))
