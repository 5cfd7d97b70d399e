"""Tune a small PyTorch MLP on scikit-learn's digits with PGSearcher, on GPUs when there are any.

Each trial trains a multilayer perceptron on the 8x8 digit images bundled with
scikit-learn and reports its validation accuracy after every epoch; PGSearcher
learns which architectures and optimiser settings give the best final accuracy.

When the cluster has GPUs, every trial asks Tune for a fraction of one
(`tune.with_resources(train_digits, {"cpu": 1, "gpu": 0.25})` packs four trials
onto each GPU) and trains on the GPU that Ray assigned to it; otherwise trials
ask for CPUs only and train on CPU.

    python -m experiments.gpu_example --num-samples 32
    python -m experiments.gpu_example --num-samples 64 --gpus-per-trial 0.5
    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m experiments.gpu_example --num-samples 64 --gpus-per-trial 0.25

Needs the optional PyTorch dependency: `pip install -e ".[gpu]"`.

Over 300 lines: a user copies one self-contained file, so the model, the
checkpointing trainable, resources, resume and the CLI stay together.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
import types
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray
import torch
from ray import tune
from torch import nn

from ray_pg import PGSearcher, ProgressBar

METRIC = "val_accuracy"
MODE = "max"


@dataclass
class Args:
    """Command-line arguments; each field is a `--kebab-case` option."""

    num_samples: int = 32
    """Trials to run in total."""
    max_epochs: int = 20
    """Training epochs per trial."""
    gpus_per_trial: float | None = None
    """GPU fraction per trial; None: 0.25 if the cluster has GPUs now, else 0.
    Set it explicitly on an autoscaling cluster that starts without GPU nodes."""
    cpus_per_trial: float = 1.0
    """CPUs per trial (also the number of torch threads on CPU)."""
    max_concurrent: int | None = 8
    """Most trials in flight at once, and so how many Tune keeps pending. With
    None, PGSearcher asks Tune to keep as many pending as the cluster has CPUs
    (at least 8), measured when the run starts."""
    searcher_batch_size: int | None = None
    """Finished trials per policy update; None: PGSearcher follows the concurrency."""
    max_failures: int = 3
    """Times Tune restarts a trial whose node died (from its last checkpoint)."""
    checkpoint_every: int = 0
    """Checkpoint a trial every N epochs (0: never). On a multi-node cluster
    this needs a --storage-path that every node can reach (s3://..., NFS)."""
    seed: int = 0
    """Seeds the searcher, the data split and every model's initialisation."""
    address: str | None = None
    """Ray address; None: the running cluster if there is one, else a new local Ray;
    "local": always a new local Ray."""
    num_cpus: int | None = None
    """CPUs of a new local Ray (ignored when connecting to a cluster)."""
    storage_path: str | None = None
    """Where Tune keeps results and checkpoints (default ~/ray_results)."""
    name: str = "gpu_example"
    """Experiment name: the results live in <storage-path>/<name>."""
    resume: bool = False
    """Continue the experiment <storage-path>/<name> if it can be restored."""


# --- the trainable (runs in a Ray worker) -------------------------------------


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


def build_model(config: dict[str, Any], n_in: int, n_out: int) -> nn.Module:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(int(config["layers"])):
        layers += [
            nn.Linear(width, int(config["hidden"])),
            ACTIVATIONS[config["activation"]](),
            nn.Dropout(float(config["dropout"])),
        ]
        width = int(config["hidden"])
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def pick_device() -> torch.device:
    """The GPU Ray assigned to this trial, else the CPU.

    Ray sets CUDA_VISIBLE_DEVICES to the trial's GPU ids, so that GPU is
    `cuda` (= `cuda:0`) inside the trial whatever its id on the machine.
    """
    if ray.get_gpu_ids() and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def train_digits(
    config: dict[str, Any], *, data: dict[str, np.ndarray], max_epochs: int, checkpoint_every: int, seed: int
) -> None:
    """Train one MLP, report validation accuracy every epoch."""
    device = pick_device()
    if device.type == "cpu":
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
        torch.set_num_threads(max(1, int(cpus)))
    torch.manual_seed(seed)

    x_train = torch.as_tensor(data["x_train"], dtype=torch.float32, device=device)
    y_train = torch.as_tensor(data["y_train"], dtype=torch.long, device=device)
    x_val = torch.as_tensor(data["x_val"], dtype=torch.float32, device=device)
    y_val = torch.as_tensor(data["y_val"], dtype=torch.long, device=device)

    model = build_model(config, x_train.shape[1], int(data["n_classes"])).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(config["lr"]), weight_decay=float(config["weight_decay"]))
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator(device="cpu").manual_seed(seed)

    start_epoch = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # restarted after a failure, e.g. a lost node
        with checkpoint.as_directory() as ckpt_dir:
            state = torch.load(os.path.join(ckpt_dir, "state.pt"), map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        start_epoch = state["epoch"]

    batch = int(config["batch_size"])
    node_id = ray.get_runtime_context().get_node_id()
    for epoch in range(start_epoch, max_epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator).to(device)
        train_loss = 0.0
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
            train_loss += loss.item() * len(idx)

        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = loss_fn(logits, y_val).item()
            val_accuracy = (logits.argmax(dim=1) == y_val).float().mean().item()

        metrics = {
            METRIC: val_accuracy,
            "val_loss": val_loss,
            "train_loss": train_loss / len(order),
            "epoch": epoch + 1,
            "device": str(device),
            "node_id": node_id,
        }
        if checkpoint_every and (epoch + 1) % checkpoint_every == 0:
            with tempfile.TemporaryDirectory() as tmp:
                state = {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generator": generator.get_state(),
                    "epoch": epoch + 1,
                }
                torch.save(state, os.path.join(tmp, "state.pt"))
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
        else:
            tune.report(metrics)


# --- the driver ----------------------------------------------------------------


def search_space() -> dict[str, Any]:
    return {
        "lr": tune.loguniform(1e-4, 3e-2),
        "weight_decay": tune.loguniform(1e-6, 1e-2),
        "hidden": tune.choice([16, 32, 64, 128, 256]),
        "layers": tune.randint(1, 4),  # 1, 2 or 3 hidden layers
        "dropout": tune.uniform(0.0, 0.5),
        "activation": tune.choice(["relu", "tanh", "gelu"]),
        "batch_size": tune.choice([16, 32, 64, 128]),
    }


def load_digits_split(seed: int) -> dict[str, np.ndarray]:
    """Digits (1797 images of 8x8 pixels, 10 classes), scaled to [0, 1], 75/25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x / 16.0, y, test_size=0.25, random_state=seed, stratify=y
    )
    return {
        "x_train": x_train.astype(np.float32),
        "y_train": y_train,
        "x_val": x_val.astype(np.float32),
        "y_val": y_val,
        "n_classes": np.int64(10),
    }


def trial_resources(args: Args) -> dict[str, float]:
    """What each trial asks Tune for: GPUs only where the cluster has them."""
    gpus = args.gpus_per_trial
    if gpus is None:
        gpus = 0.25 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
    if gpus < 0 or args.cpus_per_trial <= 0:
        raise ValueError(f"need gpus_per_trial >= 0 and cpus_per_trial > 0, got {gpus=}, {args.cpus_per_trial=}")
    resources = {"cpu": args.cpus_per_trial}
    if gpus > 0:
        resources["gpu"] = gpus
    return resources


def main(args: Args) -> tune.ResultGrid:
    if not ray.is_initialized():
        init_kwargs: dict[str, Any] = {"address": args.address}
        if args.num_cpus is not None:
            init_kwargs["num_cpus"] = args.num_cpus
        ray.init(**init_kwargs)

    resources = trial_resources(args)
    trainable = tune.with_resources(
        tune.with_parameters(
            train_digits,
            data=load_digits_split(args.seed),
            max_epochs=args.max_epochs,
            checkpoint_every=args.checkpoint_every,
            seed=args.seed,
        ),
        resources,
    )
    storage_path = args.storage_path or os.path.expanduser("~/ray_results")
    experiment_path = os.path.join(storage_path, args.name)
    print(f"trial resources: {resources}; cluster: {ray.cluster_resources()}", flush=True)

    # Quiet Tune (verbose=0; its newer output engine prints an experiment box
    # even then): ProgressBar shows the run on one line instead.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if args.resume and tune.Tuner.can_restore(experiment_path):
        print(f"resuming {experiment_path}", flush=True)
        # param_space again: Tune does not keep it in tuner.pkl, and the searcher
        # is told the space only when it is given.
        tuner = tune.Tuner.restore(
            experiment_path, trainable=trainable, param_space=search_space(), resume_errored=True
        )
    else:
        searcher = PGSearcher(metric=METRIC, mode=MODE, batch_size=args.searcher_batch_size, seed=args.seed)
        tuner = tune.Tuner(
            trainable,
            param_space=search_space(),
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                num_samples=args.num_samples,
                max_concurrent_trials=args.max_concurrent,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=args.name,
                storage_path=args.storage_path,
                failure_config=tune.FailureConfig(max_failures=args.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                verbose=0,
                callbacks=[ProgressBar(searcher)],
            ),
        )
    start = time.perf_counter()
    results = tuner.fit()
    elapsed = time.perf_counter() - start

    best = results.get_best_result(metric=METRIC, mode=MODE, scope="last")
    df = results.get_dataframe()
    print(f"{len(df)} trials in {elapsed:.1f} s, {results.num_errors} errors")
    print(f"best {METRIC}: {best.metrics[METRIC]:.4f} on {best.metrics['device']} with {best.config}")
    return results


# --- command line (dataclass -> argparse, as CleanRL does with tyro) -----------


def _option_type(hint: Any) -> tuple[Any, bool]:
    """(the scalar type of a field, whether it may be None)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return inner, True
    return hint, False


def parse_args(argv: list[str] | None = None) -> Args:
    hints = typing.get_type_hints(Args)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    for field in dataclasses.fields(Args):
        flag = "--" + field.name.replace("_", "-")
        kind, optional = _option_type(hints[field.name])
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default)
            continue

        def convert(text: str, kind: Any = kind, optional: bool = optional) -> Any:
            if optional and text.lower() == "none":
                return None
            return kind(text)

        parser.add_argument(flag, type=convert, default=field.default, metavar=kind.__name__.upper())
    return Args(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    try:
        main(parse_args())
    finally:
        ray.shutdown()
