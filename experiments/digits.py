"""A real tuning task: an SVM pipeline on scikit-learn's bundled digits, 3-fold CV accuracy."""

from __future__ import annotations

from ray import tune

# Mixed space: categorical, log-scaled, integer and quantized integer parameters.
SPACE = {
    "kernel": tune.choice(["rbf", "poly", "sigmoid"]),
    "C": tune.loguniform(1e-3, 1e3),
    "gamma": tune.loguniform(1e-5, 1e-1),
    "degree": tune.randint(2, 6),
    "scale": tune.choice([True, False]),
    "pca_components": tune.qrandint(8, 64, 8),
}


def cv_accuracy(config: dict) -> float:
    """Mean 3-fold cross-validated accuracy of the pipeline that ``config`` describes."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x, y = load_digits(return_X_y=True)
    steps = [StandardScaler()] if config["scale"] else []
    steps += [PCA(n_components=config["pca_components"], random_state=0),
              SVC(kernel=config["kernel"], C=config["C"], gamma=config["gamma"], degree=config["degree"])]
    return float(cross_val_score(make_pipeline(*steps), x, y, cv=3).mean())


def train(config: dict) -> dict:
    """Tune trainable: one evaluation, reported as ``accuracy``."""
    return {"accuracy": cv_accuracy(config)}
