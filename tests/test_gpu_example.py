"""experiments/gpu_example.py: its command line, its model, and one tiny run on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `experiments` is not an installed package
    sys.path.insert(0, str(REPO))

from experiments import gpu_example  # noqa: E402
from experiments.gpu_example import Args, parse_args  # noqa: E402


def test_parse_args_defaults_and_options():
    assert parse_args([]) == Args()
    args = parse_args(
        ["--num-samples", "3", "--gpus-per-trial", "0.5", "--searcher-batch-size", "4",
         "--max-concurrent", "none", "--address", "local", "--resume"]
    )
    assert args.num_samples == 3 and args.gpus_per_trial == 0.5 and args.searcher_batch_size == 4
    assert args.max_concurrent is None and args.address == "local" and args.resume is True
    with pytest.raises(SystemExit):
        parse_args(["--num-samples", "many"])


def test_trial_resources_ask_for_gpus_only_when_told_or_present():
    assert gpu_example.trial_resources(Args(gpus_per_trial=0.25)) == {"cpu": 1.0, "gpu": 0.25}
    assert gpu_example.trial_resources(Args(gpus_per_trial=0.0, cpus_per_trial=2)) == {"cpu": 2}
    with pytest.raises(ValueError, match="gpus_per_trial"):
        gpu_example.trial_resources(Args(gpus_per_trial=-1.0))


def test_model_and_data_shapes():
    data = gpu_example.load_digits_split(seed=0)
    assert data["x_train"].shape[1] == 64 and 0.0 <= data["x_train"].min() and data["x_train"].max() <= 1.0
    assert len(data["x_train"]) + len(data["x_val"]) == 1797
    config = {"layers": 2, "hidden": 32, "activation": "gelu", "dropout": 0.1}
    model = gpu_example.build_model(config, 64, 10)
    assert model(torch.as_tensor(data["x_val"][:5])).shape == (5, 10)


def test_search_space_is_one_pgsearcher_accepts():
    from ray_pg import PGSearcher

    searcher = PGSearcher(gpu_example.search_space(), metric=gpu_example.METRIC, mode="max", seed=0)
    config = searcher.suggest("t0")
    assert set(config) == set(gpu_example.search_space())
    assert 1 <= config["layers"] <= 3 and config["activation"] in gpu_example.ACTIVATIONS


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_tiny_run_on_cpu(tmp_path):
    """The real command line: 4 trials of 2 epochs on a fresh 2-CPU local Ray."""
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    cmd = [
        sys.executable, "-m", "experiments.gpu_example",
        "--num-samples", "4", "--max-epochs", "2", "--searcher-batch-size", "2",
        "--checkpoint-every", "1", "--address", "local", "--num-cpus", "2",
        "--storage-path", str(tmp_path), "--name", "tiny",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "trial resources: {'cpu': 1.0}" in proc.stdout  # no GPU here: CPU only
    assert "4 trials in" in proc.stdout and ", 0 errors" in proc.stdout

    experiment = tmp_path / "tiny"
    last_results = []
    for result_file in experiment.glob("*/result.json"):
        lines = result_file.read_text().splitlines()
        last_results.append(json.loads(lines[-1]))
    assert len(last_results) == 4
    for result in last_results:
        assert result["epoch"] == 2 and result["device"] == "cpu"
        assert 0.0 <= result["val_accuracy"] <= 1.0
    # The digits are easy: some trial gets well above chance (0.1) in 2 epochs.
    assert max(r["val_accuracy"] for r in last_results) > 0.5

    (state_file,) = experiment.glob("searcher-state-*.pkl")
    state = json.loads(state_file.read_text())
    assert state["num_updates"] == 2  # 4 completed trials, batches of 2
