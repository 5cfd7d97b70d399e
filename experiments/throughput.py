"""Throughput with and without a concurrency setting: PGSearcher against Tune's own BasicVariantGenerator.

    python -m experiments.throughput

Runs ``tune.run(trainable, config=space, search_alg=...)`` in two settings:
trivial trials on a local Ray with 2 CPUs, and 1-second trials on a local Ray
with 16 logical CPUs. For each method it measures trials per second over the
whole run and the most trials PENDING at once (counted after every step of
Tune's loop). ``pg``: ``PGSearcher()`` with no setting, which Tune gives one
pending trial (its rule for every searcher without a concurrency limit);
``pg_limited``: with ``max_concurrent_trials`` set to the CPUs. Writes a
markdown table to ``--summary``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import ray
from ray import tune
from ray.tune.experiment import Trial

from experiments.cli import parse
from ray_pg import PGSearcher

SPACE = {"opt": tune.choice(["sgd", "adam", "rmsprop"]), "lr": tune.loguniform(1e-5, 1e-1),
         "layers": tune.randint(1, 8), "dropout": tune.quniform(0.0, 0.5, 0.05)}
METHODS = ("bvg", "pg", "pg_limited")


@dataclass
class Args:
    """PGSearcher's throughput with and without a concurrency setting, against BasicVariantGenerator."""

    trivial_trials: int = 200  # trials of the trivial setting (2 CPUs); 0 skips it
    sleep_trials: int = 96  # trials of the 1-second setting (16 logical CPUs); 0 skips it
    sleep_s: float = 1.0  # length of a trial in the second setting
    repeats: int = 1  # runs of each method per setting (interleaved)
    summary: Path = Path("experiments/results/throughput.md")  # where to write the table


class PendingCounter(tune.Callback):
    """The most trials PENDING at once, counted after every step of Tune's loop."""

    def __init__(self) -> None:
        self.most_pending = 0

    def on_step_end(self, iteration: int, trials: list[Trial], **info) -> None:
        self.most_pending = max(self.most_pending, sum(trial.status == Trial.PENDING for trial in trials))


def loss(config: dict, sleep_s: float) -> dict:
    time.sleep(sleep_s)
    return {"loss": (config["opt"] != "adam") * 0.5 + abs(config["layers"] - 3) * 0.1 + config["dropout"]}


def run_once(method: str, num_samples: int, sleep_s: float, cpus: int, storage: Path) -> tuple[float, int]:
    """(trials per second, most trials pending at once) of one run."""
    counter = PendingCounter()
    searcher = None if method == "bvg" else PGSearcher(seed=0)
    start = time.perf_counter()
    analysis = tune.run(tune.with_parameters(loss, sleep_s=sleep_s), config=SPACE, search_alg=searcher,
                        metric="loss", mode="min", num_samples=num_samples, reuse_actors=True, verbose=0,
                        storage_path=str(storage), callbacks=[counter],
                        max_concurrent_trials=cpus if method == "pg_limited" else None)
    elapsed = time.perf_counter() - start
    done = sum(trial.status == Trial.TERMINATED for trial in analysis.trials)
    if done != num_samples:
        raise RuntimeError(f"{method}: {done} of {num_samples} trials terminated")
    return num_samples / elapsed, counter.most_pending


def main(args: Args) -> None:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no per-run boxes
    settings = [("trivial trials, 2 CPUs", 2, args.trivial_trials, 0.0),
                (f"{args.sleep_s:g}-second trials, 16 logical CPUs", 16, args.sleep_trials, args.sleep_s)]
    storage = Path("results/throughput").resolve()
    lines = ["| setting | method | trials/s | ratio to BVG | most pending at once |", "|---|---|---|---|---|"]
    for label, cpus, num_samples, sleep_s in settings:
        if num_samples <= 0:
            continue
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        try:
            rates: dict[str, list[float]] = {m: [] for m in METHODS}
            pending: dict[str, int] = {m: 0 for m in METHODS}
            for _ in range(args.repeats):
                for method in METHODS:
                    rate, most = run_once(method, num_samples, sleep_s, cpus, storage)
                    rates[method].append(rate)
                    pending[method] = max(pending[method], most)
                    print(f"{label}: {method} {rate:.2f} trials/s, most pending {most}", flush=True)
        finally:
            ray.shutdown()
        base = sum(rates["bvg"]) / len(rates["bvg"])
        for method in METHODS:
            rate = sum(rates[method]) / len(rates[method])
            lines.append(f"| {label} | {method} | {rate:.2f} | {rate / base:.2f}x | {pending[method]} |")
    table = "\n".join(lines)
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(f"# Throughput with and without a concurrency setting\n\n`python -m experiments.throughput` "
                            f"({args.repeats} run(s) per method; `tune.run(..., reuse_actors=True)`; "
                            f"{args.trivial_trials} trivial trials, {args.sleep_trials} sleeping trials).\n\n"
                            f"{table}\n")
    print(table)
    print(f"wrote {args.summary}")


if __name__ == "__main__":
    main(parse(Args))
