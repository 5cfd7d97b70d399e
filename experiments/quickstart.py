"""The main job: tune an SVM on scikit-learn's digits with PGSearcher through Ray Tune.

    python -m experiments.quickstart

The space is conditional: each kernel brings its own parameters (linear: C;
rbf: C, gamma; poly: C, gamma, degree), so a trial sees only its kernel's keys
and each kernel's parameters are learnt from that kernel's trials. Trials run on
all local cores with one progress line; the script then prints the best config
and the top 5, and writes to ``--out``: Tune's results (parquet and CSV), the
policy's history (CSV) and five pictures: the best accuracy so far, the
policy after each update, which parameters mattered to the policy's updates, the
accuracy against each parameter, and a contour of the two parameters of the best
trial's kernel that mattered most.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import ray
from ray import tune
from ray.tune.search.sample import Domain

from experiments.cli import parse
from ray_pg import PGSearcher, ProgressBar
from ray_pg.plots import importance, plot_best_so_far, plot_contour, plot_importance, plot_policy, plot_slice

KERNELS = ("linear", "rbf", "poly")
SPACE = {
    "svm": tune.choice([
        {"kernel": "linear", "C": tune.loguniform(1e-3, 1e3)},
        {"kernel": "rbf", "C": tune.loguniform(1e-3, 1e3), "gamma": tune.loguniform(1e-5, 1e-1)},
        {"kernel": "poly", "C": tune.loguniform(1e-3, 1e3), "gamma": tune.loguniform(1e-5, 1e-1),
         "degree": tune.randint(2, 6)},
    ]),
    "scale": tune.choice([True, False]),
    "pca_components": tune.qrandint(8, 64, 8),
}
METRIC, MODE = "accuracy", "max"


@dataclass
class Args:
    """Tune an SVM on digits with PGSearcher."""

    num_samples: int = 64  # trials to run
    seed: int = 0  # PGSearcher's seed
    out: Path = Path("results/quickstart")  # folder for the results, the policy's history and the pictures
    num_cpus: int | None = None  # CPUs for the local Ray (None: all cores)


def train(config: dict) -> dict:
    """Tune trainable: the pipeline's mean 3-fold cross-validated accuracy."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x, y = load_digits(return_X_y=True)
    steps = [StandardScaler()] if config["scale"] else []
    # A cap on the solver's iterations: a few configs (linear kernel, large C, few
    # components) would take half a minute to converge, to a poor accuracy anyway.
    steps += [PCA(n_components=config["pca_components"], random_state=0), SVC(**config["svm"], max_iter=20_000)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {METRIC: float(cross_val_score(make_pipeline(*steps), x, y, cv=3).mean())}


def rounded(value: Any) -> Any:
    """``value`` with every float to 4 significant digits, for printing."""
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    return float(f"{value:.4g}") if isinstance(value, float) else value


def top_trials(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` best trials, one column per parameter (blank where a kernel has none)."""
    columns = {"config/svm/kernel": "kernel", "config/svm/C": "C", "config/svm/gamma": "gamma",
               "config/svm/degree": "degree", "config/scale": "scale", "config/pca_components": "pca"}
    top = df.nlargest(n, METRIC)[[METRIC, *[c for c in columns if c in df.columns]]].rename(columns=columns)
    return top.astype(object).where(top.notna(), "")


def contour_pair(scores: pd.Series, kernel: str) -> list[str]:
    """The two numeric parameters of ``kernel``'s trials that mattered most, as result paths (``svm/C``)."""
    branch = next(c for c in SPACE["svm"].categories if c["kernel"] == kernel)
    # importance names a branch's parameter by its kernel (svm=rbf/C); the results by its key (svm/C).
    paths = {f"svm={kernel}/{key}": f"svm/{key}" for key, value in branch.items() if isinstance(value, Domain)}
    paths["pca_components"] = "pca_components"
    return [paths[name] for name in scores.index if name in paths][:2]


def main(args: Args) -> None:
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # Tune's newer output engine prints an experiment box even at verbose=0; the
    # classic one prints nothing, and ProgressBar shows the run on one line.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    cpus = args.num_cpus or os.cpu_count()
    print(f"ray_pg quickstart: an SVM on scikit-learn's digits, {args.num_samples} trials on {cpus} CPUs; "
          f"each kernel has its own parameters")
    start = time.perf_counter()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    try:
        searcher = PGSearcher(seed=args.seed)
        grid = tune.Tuner(
            train,
            param_space=SPACE,
            tune_config=tune.TuneConfig(search_alg=searcher, metric=METRIC, mode=MODE,
                                        num_samples=args.num_samples, reuse_actors=True,
                                        # Tune starts a searcher's trials one by one without a limit.
                                        max_concurrent_trials=cpus),
            run_config=tune.RunConfig(name="quickstart", storage_path=str(out / "ray_results"), verbose=0,
                                      callbacks=[ProgressBar(searcher)]),
        ).fit()
    finally:
        ray.shutdown()
    elapsed = time.perf_counter() - start

    df = grid.get_dataframe()
    df.to_parquet(out / "results.parquet", index=False)
    df.to_csv(out / "results.csv", index=False)
    history = searcher.history()  # kernels by name: svm:p[rbf], svm=rbf/C:mean
    history.to_csv(out / "policy_history.csv", index=False)
    ax = plot_best_so_far(grid, METRIC, MODE)
    ax.figure.savefig(out / "best_so_far.png", dpi=100)
    plot_policy(history).savefig(out / "policy.png", dpi=80)
    plot_slice(df, METRIC, MODE).savefig(out / "slice.png", dpi=80)
    best = grid.get_best_result()
    if len(history):
        plot_importance(history).figure.savefig(out / "importance.png", dpi=100)
        kernel = best.config["svm"]["kernel"]
        x, y = contour_pair(importance(history), kernel)
        ax = plot_contour(df[df["config/svm/kernel"] == kernel], METRIC, x, y)
        ax.set_title(f"{METRIC}, {kernel} kernel")
        ax.figure.savefig(out / "contour.png", dpi=100)

    print(f"best {METRIC} {best.metrics[METRIC]:.4f} with {rounded(best.config)}")
    print(f"top 5 of {len(df)} trials ({len(grid.errors)} errors):")
    print(top_trials(df, 5).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(history):
        last = history.iloc[-1]
        probs = ", ".join(f"{kernel} {last[f'svm:p[{kernel}]']:.2f}" for kernel in KERNELS)
        print(f"{searcher.num_updates} policy updates; kernel probabilities now: {probs}")
    print(f"{elapsed:.0f} s. Files in {args.out}:")
    print("  results.parquet, results.csv  Tune's results, one row per trial")
    print("  policy_history.csv            the policy after each update (PGSearcher.history())")
    print("  best_so_far.png, policy.png   the best accuracy so far; the policy's evolution")
    print("  importance.png, slice.png     which parameters mattered to the updates; accuracy per parameter")
    print("  contour.png                   accuracy over the best kernel's two parameters that mattered most")


if __name__ == "__main__":
    main(parse(Args))
