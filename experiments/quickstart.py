"""The main job: tune an SVM pipeline on digits with PGSearcher through Ray Tune.

    python -m experiments.quickstart --num-samples 64

Runs real Tune trials on all local cores, shows Tune's progress, prints the best
config and its accuracy, and writes Tune's results dataframe and the policy's
history (one row per update) as CSV files.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import ray
from ray import tune

from experiments import digits
from experiments.cli import parse
from ray_pg import PGSearcher


@dataclass
class Args:
    """Tune an SVM on digits with PGSearcher."""

    num_samples: int = 64  # trials to run
    seed: int = 0  # PGSearcher's seed
    out: Path = Path("results/quickstart")  # folder for results.csv and policy_history.csv
    num_cpus: int | None = None  # CPUs for the local Ray (None: all cores)


def main(args: Args) -> None:
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, configure_logging=False)
    try:
        searcher = PGSearcher(seed=args.seed)
        tuner = tune.Tuner(
            digits.train,
            param_space=digits.SPACE,
            tune_config=tune.TuneConfig(search_alg=searcher, metric="accuracy", mode="max",
                                        num_samples=args.num_samples, reuse_actors=True,
                                        max_concurrent_trials=args.num_cpus or os.cpu_count()),
            run_config=tune.RunConfig(name="quickstart", storage_path=str(out / "ray_results"), verbose=1),
        )
        grid = tuner.fit()
    finally:
        ray.shutdown()
    best = grid.get_best_result()
    grid.get_dataframe().to_csv(out / "results.csv", index=False)
    searcher.history().to_csv(out / "policy_history.csv", index=False)
    print(f"\nbest accuracy {best.metrics['accuracy']:.4f} with config {best.config}")
    print(f"{len(grid)} trials, {len(grid.errors)} errors, {searcher.num_updates} policy updates, "
          f"{time.perf_counter() - start:.0f} s; wrote {out / 'results.csv'} and {out / 'policy_history.csv'}")


if __name__ == "__main__":
    main(parse(Args))
