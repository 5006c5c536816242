"""cluster.yaml must pass Ray's own cluster config validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).resolve().parents[1] / "cluster.yaml"


def _load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CLUSTER_YAML.read_text())
    return data


def test_cluster_yaml_passes_ray_validation() -> None:
    config = _load()
    # `ray up` fills defaults with prepare_config, then validates the result.
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    assert prepared["provider"]["type"] == "local"


def test_workers_advertise_gvisor_and_install_runsc() -> None:
    config = _load()
    worker_start = " ".join(config["worker_start_ray_commands"])
    assert '"gvisor"' in worker_start
    assert any("runsc" in c for c in config["worker_setup_commands"])
    head_start = " ".join(config["head_start_ray_commands"])
    assert "redis-server" in head_start
    assert "--appendonly yes" in head_start
    assert "--requirepass" in head_start
    assert all(
        "RAY_USAGE_STATS_ENABLED=0" in c
        for c in config["worker_start_ray_commands"][1:]
    )
