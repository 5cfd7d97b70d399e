"""Catalogue of real scikit-learn tuning problems (benchmark ``real``; machinery in ``real.py``).

Twelve problems, each a model family on a dataset with a metric. Models are
capped so that one trial (a 3-fold cross-validation, one core) costs
0.01-0.15 s: at most 32 boosting rounds (30 for GradientBoosting), 20 trees,
8 MLP epochs of at most 2 x 48 units, capped solver iterations. Two spaces
are conditional pipelines (a choice of model whose branches have their own
hyperparameters in nested dicts; a scaler choice, an optional PCA or squared
features), and the MLP's optimiser is a choice with its own parameters per
branch. Branch parameters a config does not use are drawn anyway and
ignored, as with any Tune space of this shape.

Mean CPU seconds of a trial's cross-validation under random search (200
trials, seed 0; the rows' ``fit_s``): hgb_cancer 0.050, mlp_digits 0.035,
svm_wine 0.014, knn_diabetes 0.015, enet_friedman 0.016, tree_diabetes 0.008,
forest_classification 0.037, logistic_cancer 0.023, ridge_diabetes 0.013,
boosting_friedman 0.044, pipeline_digits 0.023, pipeline_friedman 0.020
(mean 0.025). One random-search run of all twelve, with the incumbents'
noise-free scores: 70 CPU seconds.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from experiments.bench.real import RealProblem


def _scaler(name: str) -> Any:
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    return {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}[name]() \
        if name != "none" else "passthrough"


def _pipeline(*steps: Any) -> Any:
    from sklearn.pipeline import make_pipeline

    return make_pipeline(*steps)


# ------------------------------------------------------------------ single models


def _hgb(c: dict, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=c["learning_rate"], max_iter=int(c["max_iter"]), max_leaf_nodes=int(c["max_leaf_nodes"]),
        min_samples_leaf=int(c["min_samples_leaf"]), l2_regularization=c["l2_regularization"],
        max_features=c["max_features"], max_bins=int(c["max_bins"]), early_stopping=False, random_state=seed)


def _mlp(c: dict, seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier

    solver = c["solver"]
    own = ({"beta_1": c["adam"]["beta_1"]} if solver == "adam"
           else {"momentum": c["sgd"]["momentum"], "nesterovs_momentum": c["sgd"]["nesterov"]})
    model = MLPClassifier(hidden_layer_sizes=(int(c["width"]),) * int(c["layers"]), activation=c["activation"],
                          solver=solver, alpha=c["alpha"], batch_size=int(c["batch_size"]),
                          learning_rate_init=c[solver]["lr"], max_iter=8, random_state=seed, **own)
    return _pipeline(_scaler(c["scaler"]), model)


def _svm(c: dict, seed: int) -> Any:
    from sklearn.svm import SVC

    return _pipeline(_scaler(c["scaler"]), SVC(C=c["C"], gamma=c["gamma"], kernel=c["kernel"],
                                               degree=int(c["degree"]), coef0=c["coef0"], max_iter=20_000))


def _knn(c: dict, seed: int) -> Any:
    from sklearn.neighbors import KNeighborsRegressor

    return _pipeline(_scaler(c["scaler"]),
                     KNeighborsRegressor(n_neighbors=int(c["n_neighbors"]), weights=c["weights"], p=c["p"]))


def _elastic_net(c: dict, seed: int) -> Any:
    from sklearn.linear_model import ElasticNet
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    return _pipeline(PolynomialFeatures(int(c["degree"]), include_bias=False), StandardScaler(),
                     ElasticNet(alpha=c["alpha"], l1_ratio=c["l1_ratio"], max_iter=300, tol=1e-3))


def _tree(c: dict, seed: int) -> Any:
    from sklearn.tree import DecisionTreeRegressor

    return DecisionTreeRegressor(criterion=c["criterion"], max_depth=int(c["max_depth"]),
                                 min_samples_split=int(c["min_samples_split"]),
                                 min_samples_leaf=int(c["min_samples_leaf"]), max_features=c["max_features"],
                                 ccp_alpha=c["ccp_alpha"], random_state=seed)


def _forest(c: dict, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=int(c["n_estimators"]), criterion=c["criterion"],
                                  max_depth=int(c["max_depth"]), max_features=c["max_features"],
                                  min_samples_leaf=int(c["min_samples_leaf"]), bootstrap=c["bootstrap"],
                                  n_jobs=1, random_state=seed)


def _logistic(c: dict, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    # liblinear: L2 (l1_ratio 0) or L1 (1), seeded for its coordinate order
    return _pipeline(_scaler(c["scaler"]), LogisticRegression(
        C=c["C"], l1_ratio=c["l1_ratio"], solver="liblinear", class_weight=c["class_weight"],
        fit_intercept=c["fit_intercept"], max_iter=200, random_state=seed))


def _ridge(c: dict, seed: int) -> Any:
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    return _pipeline(PolynomialFeatures(int(c["degree"]), interaction_only=c["interaction_only"], include_bias=False),
                     StandardScaler(), Ridge(alpha=c["alpha"]))


def _boosting(c: dict, seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(loss=c["loss"], learning_rate=c["learning_rate"],
                                     n_estimators=int(c["n_estimators"]), max_depth=int(c["max_depth"]),
                                     subsample=c["subsample"], min_samples_leaf=int(c["min_samples_leaf"]),
                                     random_state=seed)


# ----------------------------------------------------------- conditional pipelines


def _classify(c: dict, seed: int) -> Any:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    kind, b = c["model"], c[c["model"]]
    model = {
        "logreg": lambda: LogisticRegression(C=b["C"], max_iter=100),
        "svc": lambda: SVC(C=b["C"], gamma=b["gamma"], max_iter=20_000),
        "knn": lambda: KNeighborsClassifier(n_neighbors=int(b["n_neighbors"]), weights=b["weights"]),
        "tree": lambda: DecisionTreeClassifier(max_depth=int(b["max_depth"]),
                                               min_samples_leaf=int(b["min_samples_leaf"]), random_state=seed),
    }[kind]()
    # PCA keeps a fraction of the 64 pixels when used
    pca = PCA(max(1, round(64 * c["pca"]["fraction"])), random_state=seed) if c["pca"]["use"] else "passthrough"
    return _pipeline(_scaler(c["scaler"]), pca, model)


def _regress(c: dict, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Lasso, Ridge
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.preprocessing import PolynomialFeatures
    from sklearn.svm import SVR

    kind, b = c["model"], c[c["model"]]
    model = {
        "ridge": lambda: Ridge(alpha=b["alpha"]),
        "lasso": lambda: Lasso(alpha=b["alpha"], max_iter=300, tol=1e-3),
        "knn": lambda: KNeighborsRegressor(n_neighbors=int(b["n_neighbors"]), weights=b["weights"]),
        "svr": lambda: SVR(C=b["C"], epsilon=b["epsilon"], gamma=b["gamma"], max_iter=20_000),
        "hgb": lambda: HistGradientBoostingRegressor(
            learning_rate=b["learning_rate"], max_iter=int(b["max_iter"]), max_leaf_nodes=int(b["max_leaf_nodes"]),
            early_stopping=False, random_state=seed),
    }[kind]()
    poly = PolynomialFeatures(2, include_bias=False) if c["square_features"] else "passthrough"
    return _pipeline(poly, _scaler(c["scaler"]), model)


SCALERS = ["standard", "minmax", "robust", "none"]

PROBLEMS: dict[str, RealProblem] = {p.name: p for p in [
    RealProblem("hgb_cancer", "breast_cancer", {
        "learning_rate": tune.loguniform(0.01, 1.0),
        "max_iter": tune.lograndint(5, 33),
        "max_leaf_nodes": tune.lograndint(2, 33),
        "min_samples_leaf": tune.lograndint(1, 64),
        "l2_regularization": tune.loguniform(1e-6, 10.0),
        "max_features": tune.quniform(0.1, 1.0, 0.1),
        "max_bins": tune.qrandint(16, 240, 16),
    }, _hgb, "log_loss", "HistGradientBoostingClassifier, breast cancer, log-loss"),
    RealProblem("mlp_digits", "digits", {
        "scaler": tune.choice(["standard", "minmax"]),
        "width": tune.lograndint(8, 49),
        "layers": tune.randint(1, 3),
        "activation": tune.choice(["relu", "tanh"]),
        "alpha": tune.loguniform(1e-6, 1e-1),
        "batch_size": tune.qlograndint(32, 192, 32),
        "solver": tune.choice(["adam", "sgd"]),
        "adam": {"lr": tune.loguniform(1e-4, 1e-1), "beta_1": tune.uniform(0.5, 0.99)},
        "sgd": {"lr": tune.loguniform(1e-3, 1.0), "momentum": tune.uniform(0.0, 0.99),
                "nesterov": tune.choice([True, False])},
    }, _mlp, "error", "MLPClassifier, adam or sgd each with its own parameters, digits, error"),
    RealProblem("svm_wine", "wine", {
        "scaler": tune.choice(SCALERS),
        "kernel": tune.choice(["rbf", "poly", "sigmoid"]),
        "C": tune.loguniform(1e-3, 1e3),
        "gamma": tune.qloguniform(1e-5, 10.0, 1e-5),
        "degree": tune.randint(2, 5),
        "coef0": tune.uniform(-1.0, 1.0),
    }, _svm, "error", "SVC, wine, error"),
    RealProblem("knn_diabetes", "diabetes", {
        "scaler": tune.choice(SCALERS),
        "n_neighbors": tune.lograndint(1, 101),
        "weights": tune.choice(["uniform", "distance"]),
        "p": tune.quniform(1.0, 3.0, 0.5),
    }, _knn, "mae", "KNeighborsRegressor, diabetes, MAE"),
    RealProblem("enet_friedman", "friedman1", {
        "degree": tune.randint(1, 4),
        "alpha": tune.loguniform(1e-5, 10.0),
        "l1_ratio": tune.uniform(0.0, 1.0),
    }, _elastic_net, "mse", "ElasticNet on polynomial features, Friedman #1, MSE"),
    RealProblem("tree_diabetes", "diabetes", {
        "criterion": tune.choice(["squared_error", "absolute_error"]),
        "max_depth": tune.randint(1, 21),
        "min_samples_split": tune.randint(2, 41),
        "min_samples_leaf": tune.lograndint(1, 65),
        "max_features": tune.quniform(0.1, 1.0, 0.1),
        "ccp_alpha": tune.loguniform(1e-6, 0.1),
    }, _tree, "mae", "DecisionTreeRegressor, diabetes, MAE"),
    RealProblem("forest_classification", "classification", {
        "n_estimators": tune.qlograndint(2, 20, 2),
        "criterion": tune.choice(["gini", "entropy"]),
        "max_depth": tune.lograndint(1, 17),
        "max_features": tune.quniform(0.05, 1.0, 0.05),
        "min_samples_leaf": tune.lograndint(1, 33),
        "bootstrap": tune.choice([True, False]),
    }, _forest, "log_loss", "RandomForestClassifier, make_classification (3 classes), log-loss"),
    RealProblem("logistic_cancer", "breast_cancer", {
        "scaler": tune.choice(["standard", "minmax", "robust"]),
        "C": tune.loguniform(1e-4, 1e4),
        "l1_ratio": tune.choice([0.0, 1.0]),
        "class_weight": tune.choice([None, "balanced"]),
        "fit_intercept": tune.choice([True, False]),
    }, _logistic, "log_loss", "LogisticRegression (L1 or L2), breast cancer, log-loss"),
    RealProblem("ridge_diabetes", "diabetes", {
        "degree": tune.randint(1, 4),
        "interaction_only": tune.choice([True, False]),
        "alpha": tune.qloguniform(1e-3, 1e4, 1e-3),
    }, _ridge, "mse", "Ridge on polynomial features, diabetes, MSE"),
    RealProblem("boosting_friedman", "friedman1", {
        "loss": tune.choice(["squared_error", "absolute_error"]),
        "learning_rate": tune.loguniform(0.01, 1.0),
        "n_estimators": tune.qrandint(5, 30, 5),
        "max_depth": tune.randint(1, 4),
        "subsample": tune.quniform(0.3, 1.0, 0.1),
        "min_samples_leaf": tune.lograndint(1, 33),
    }, _boosting, "mae", "GradientBoostingRegressor, Friedman #1, MAE"),
    RealProblem("pipeline_digits", "digits", {
        "scaler": tune.choice(SCALERS),
        "pca": {"use": tune.choice([True, False]), "fraction": tune.quniform(0.05, 1.0, 0.05)},
        "model": tune.choice(["logreg", "svc", "knn", "tree"]),
        "logreg": {"C": tune.loguniform(1e-3, 1e3)},
        "svc": {"C": tune.loguniform(1e-2, 1e3), "gamma": tune.loguniform(1e-5, 1.0)},
        "knn": {"n_neighbors": tune.lograndint(1, 50), "weights": tune.choice(["uniform", "distance"])},
        "tree": {"max_depth": tune.randint(2, 21), "min_samples_leaf": tune.lograndint(1, 21)},
    }, _classify, "error", "scaler, optional PCA, then logistic / SVC / k-NN / tree, digits, error"),
    RealProblem("pipeline_friedman", "friedman1", {
        "square_features": tune.choice([True, False]),
        "scaler": tune.choice(SCALERS),
        "model": tune.choice(["ridge", "lasso", "knn", "svr", "hgb"]),
        "ridge": {"alpha": tune.loguniform(1e-4, 1e3)},
        "lasso": {"alpha": tune.loguniform(1e-5, 1.0)},
        "knn": {"n_neighbors": tune.lograndint(1, 50), "weights": tune.choice(["uniform", "distance"])},
        "svr": {"C": tune.loguniform(1e-2, 1e3), "epsilon": tune.loguniform(1e-3, 1.0),
                "gamma": tune.loguniform(1e-4, 1.0)},
        "hgb": {"learning_rate": tune.loguniform(0.01, 1.0), "max_iter": tune.lograndint(5, 33),
                "max_leaf_nodes": tune.lograndint(2, 32)},
    }, _regress, "mae", "optional squares, scaler, then ridge / lasso / k-NN / SVR / boosting, Friedman #1, MAE"),
]}


def problem_names() -> tuple[str, ...]:
    return tuple(PROBLEMS)


def get_problem(name: str) -> RealProblem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise KeyError(f"unknown problem {name!r}; known: {list(PROBLEMS)}") from None
