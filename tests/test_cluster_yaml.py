"""Offline checks of `cluster.yaml` with Ray's own cluster-config schema.

`ray up` needs cloud credentials and has no dry run, so we run what it runs
before it talks to AWS: the JSON schema shipped with Ray (`ray-schema.json`,
catches misspelt keys and wrong types) and `prepare_config` + `validate_config`
(merges the provider defaults, then checks cross-field rules such as
`head_node_type` being one of `available_node_types`).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

import ray.autoscaler  # noqa: E402
from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLUSTER_YAML = REPO / "cluster.yaml"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    path = os.path.join(os.path.dirname(ray.autoscaler.__file__), "ray-schema.json")
    with open(path) as f:
        return json.load(f)


@pytest.fixture
def raw() -> dict[str, Any]:
    with open(CLUSTER_YAML) as f:
        return yaml.safe_load(f)


def schema_errors(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}"
        for e in validator.iter_errors(config)
    ]


def gpu_types(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: node
        for name, node in config["available_node_types"].items()
        if node.get("resources", {}).get("GPU", 0) >= 1
    }


# --- the file as written ----------------------------------------------------


def test_matches_ray_schema(raw, schema):
    assert schema_errors(raw, schema) == []


def test_prepare_and_validate_like_ray_up(raw):
    prepared = prepare_config(copy.deepcopy(raw))
    validate_config(prepared)
    # prepare_config prepends the common setup to head and worker setup.
    assert any("pip install -e" in c for c in prepared["head_setup_commands"])
    assert any("pip install -e" in c for c in prepared["worker_setup_commands"])
    for name, node in prepared["available_node_types"].items():
        assert 0 <= node["min_workers"] <= node["max_workers"], name


def test_head_node_runs_no_trials(raw):
    head = raw["available_node_types"][raw["head_node_type"]]
    assert head["resources"] == {"CPU": 0}
    assert head["resources"].get("GPU", 0) == 0
    assert head.get("max_workers", 0) == 0


def test_autoscaling_cpu_and_gpu_worker_types(raw):
    types = raw["available_node_types"]
    workers = {k: v for k, v in types.items() if k != raw["head_node_type"]}
    cpu = {k: v for k, v in workers.items() if v["resources"].get("GPU", 0) == 0}
    gpu = gpu_types(raw)
    assert cpu and gpu
    for node in workers.values():
        # Autoscaling: the autoscaler may add nodes of this type on demand.
        assert node["max_workers"] > node.get("min_workers", 0)
        assert node["resources"].get("CPU", 0) >= 1
    for node in gpu.values():
        assert node["node_config"]["InstanceType"].startswith(("g4dn", "g5", "g6", "p3", "p4", "p5"))
    assert sum(n["max_workers"] for n in workers.values()) >= raw["max_workers"] > 0


def test_every_node_installs_this_package(raw):
    """The head and CPU workers use setup_commands; a node type that sets its
    own worker_setup_commands replaces them, so it must install too."""
    assert raw["file_mounts"] == {"~/ray_pg": "."}
    assert any("~/ray_pg" in c and "pip install -e" in c for c in raw["setup_commands"])
    for name, node in gpu_types(raw).items():
        cmds = node.get("worker_setup_commands", raw["setup_commands"])
        assert any("~/ray_pg" in c and "pip install -e" in c for c in cmds), name
        # A GPU worker needs the CUDA build of torch, not the CPU-only index.
        assert not any("whl/cpu" in c for c in cmds), name


def test_extras_named_in_setup_exist_in_pyproject(raw):
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with open(REPO / "pyproject.toml", "rb") as f:
        extras = set(tomllib.load(f)["project"].get("optional-dependencies", {}))
    commands = list(raw["setup_commands"])
    for node in raw["available_node_types"].values():
        commands += node.get("worker_setup_commands", [])
    named: set[str] = set()
    for cmd in commands:
        if '".[' in cmd:
            named |= set(cmd.split('".[', 1)[1].split(']"', 1)[0].split(","))
    assert named, "setup commands install no extras?"
    missing = named - extras
    assert not missing, f"cluster.yaml installs extras {missing} that pyproject.toml lacks"


def test_start_commands(raw):
    assert any("ray start --head" in c and "--autoscaling-config" in c for c in raw["head_start_ray_commands"])
    assert any("ray start --address=$RAY_HEAD_IP:6379" in c for c in raw["worker_start_ray_commands"])


def test_sync_leaves_out_virtualenv(raw):
    # file_mounts "." would otherwise upload .venv (GBs with torch).
    assert ".gitignore" in raw["rsync_filter"]
    assert ".venv/" in (REPO / ".gitignore").read_text().split()
    assert any(".venv" in p for p in raw["rsync_exclude"])


# --- the checks catch mistakes ----------------------------------------------


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda c: c.__setitem__("setup_comands", c.pop("setup_commands")), "setup_comands"),
        (lambda c: c.__setitem__("max_worker", c.pop("max_workers")), "max_worker"),
        (
            lambda c: c["available_node_types"]["cpu_worker"].__setitem__(
                "min_worker", c["available_node_types"]["cpu_worker"].pop("min_workers")
            ),
            "min_worker",
        ),
        (
            lambda c: c["available_node_types"]["gpu_worker"].__setitem__("resource", {"GPU": 1}),
            "resource",
        ),
    ],
    ids=["top-level", "max_workers", "node-type-key", "resources"],
)
def test_misspelt_key_is_caught(raw, schema, mutate, where):
    mutate(raw)
    errors = schema_errors(raw, schema)
    assert errors and any(where in e for e in errors), errors
    with pytest.raises(jsonschema.ValidationError, match=where):
        validate_config(prepare_config(raw))


def test_wrong_type_is_caught(raw, schema):
    raw["available_node_types"]["gpu_worker"]["resources"]["GPU"] = "one"
    assert schema_errors(raw, schema)
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(raw))


def test_head_node_type_not_among_node_types_is_caught(raw, schema):
    raw["head_node_type"] = "ray.head.default"  # a name from Ray's examples, not ours
    assert schema_errors(raw, schema) == []  # the schema alone cannot see this
    with pytest.raises(ValueError, match="head_node_type"):
        validate_config(prepare_config(raw))


def test_min_workers_past_max_workers_is_caught(raw):
    raw["available_node_types"]["cpu_worker"]["min_workers"] = raw["max_workers"] + 1
    with pytest.raises(ValueError, match="max_workers"):
        validate_config(prepare_config(raw))
