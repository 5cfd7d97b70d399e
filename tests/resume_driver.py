"""A Tune driver for the killed-driver test: PGSearcher on a local 2-CPU Ray.

    python tests/resume_driver.py STORAGE_PATH NAME NUM_SAMPLES BATCH_SIZE

With $RAY_PG_TEST_KILL_AFTER set it SIGKILLs itself part-way
(`cluster_helpers.KillDriverAfter` says when); run it with
TUNE_GLOBAL_CHECKPOINT_S=1 so that Tune saves the experiment (and the
searcher) every second.
`tests/test_cluster.py` then finishes the experiment with `Tuner.restore`.
"""

from __future__ import annotations

import sys

import ray
from ray import tune

import cluster_helpers as helpers


def build_tuner(storage_path: str, name: str, num_samples: int, batch_size: int) -> tune.Tuner:
    searcher = helpers.RecordingPGSearcher(metric=helpers.METRIC, mode=helpers.MODE, batch_size=batch_size, seed=2)
    return tune.Tuner(
        helpers.cpu_trainable(n_iters=2, tick=0.4),
        param_space=helpers.space(),
        tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=num_samples, max_concurrent_trials=2, reuse_actors=True
        ),
        run_config=tune.RunConfig(
            name=name, storage_path=storage_path, verbose=0, callbacks=[helpers.KillDriverAfter()]
        ),
    )


def main(argv: list[str]) -> None:
    storage_path, name, num_samples, batch_size = argv[0], argv[1], int(argv[2]), int(argv[3])
    # "local": a Ray of our own, even if another one runs on this machine.
    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False)
    try:
        build_tuner(storage_path, name, num_samples, batch_size).fit()
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
