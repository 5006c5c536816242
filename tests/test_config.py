"""Config validation, records and errors crossing process boundaries."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import incontainer
from incontainer.actors.records import ContainerRecord, config_from_pb, config_to_pb
from incontainer.config import (
    ContainerConfig,
    ContainerState,
    Mount,
    Resources,
    SecurityContext,
)
from incontainer.errors import InvalidInputError, InvalidStateError, TimedOutError


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a b"}, "name"),
        ({"environment": "cloud"}, "environment.type"),
        ({"environment": {"type": "vm"}}, "environment.type"),
        ({"resources": {"memory_mb": -1}}, "resources.memory_mb"),
        ({"resources": {"fuel": 1.5}}, "resources.fuel"),
        ({"resources": {"cpu": float("nan")}}, "resources.cpu"),
        ({"resources": {"wall_time_s": True}}, "resources.wall_time_s"),
        ({"mounts": [{"host": "relative", "guest": "/d"}]}, "mount.host_path"),
        ({"mounts": [{"host": "/tmp", "guest": "/a/../b"}]}, "mount.guest_path"),
        ({"mounts": [{"host": "/tmp", "guest": "/proc"}]}, "mount.guest_path"),
        ({"env": {"1BAD": "x"}}, "env name"),
        ({"env": {"A": 1}}, "env[A]"),
        ({"colour": "red"}, "config"),
    ],
)
def test_invalid_config_names_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ContainerConfig.from_dict(data)
    assert caught.value.field == field


def test_config_from_dict_accepts_design_shape() -> None:
    config = ContainerConfig.from_dict(
        {
            "name": "worker-1",
            "environment": {"type": "server"},
            "resources": {"cpu": 0.5, "memory_mb": 128, "fuel": 10**9},
            "mounts": [{"host": "/usr/share", "guest": "/data", "read_only": False}],
            "env": {"LANG": "C.UTF-8"},
        }
    )
    assert config.environment.value == "server"
    assert config.mounts == (Mount("/usr/share", "/data", read_only=False),)
    assert config.resources.fuel == 10**9


def test_duplicate_guest_paths_rejected() -> None:
    with pytest.raises(InvalidInputError, match="unique"):
        ContainerConfig(mounts=(Mount("/tmp", "/d"), Mount("/usr", "/d/")))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"user_id": ""}, "user_id"),
        ({"permissions": ["fly"]}, "permissions"),
        ({"permissions": "create"}, "permissions"),
        ({"isolation_level": "extreme"}, "isolation_level"),
    ],
)
def test_invalid_security_context(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        SecurityContext(**kwargs)
    assert caught.value.field == field


def test_record_round_trips_through_protobuf() -> None:
    config = ContainerConfig(
        name="r",
        resources=Resources(fuel=5, wall_time_s=None, pids=64),
        mounts=(Mount("/tmp", "/t", read_only=False),),
        env={"K": "v é"},
    )
    assert config_from_pb(config_to_pb(config)) == config
    record = ContainerRecord(
        "c-1",
        config,
        SecurityContext(user_id="u", isolation_level="maximum"),
        ContainerState.SUSPENDED,
        "wasm",
        exec_count=3,
    )
    back = ContainerRecord.from_bytes(record.to_bytes())
    assert back == record


def test_errors_keep_attributes_when_pickled() -> None:
    error = InvalidStateError(
        "x", container_id="c", state="terminated", operation="execute"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.container_id, copy.state, copy.operation) == (
        "c",
        "terminated",
        "execute",
    )
    limit = pickle.loads(pickle.dumps(TimedOutError("slow", partial_stdout=b"ab")))
    assert limit.partial_stdout == b"ab"
    assert limit.limit == "wall_time"


def test_public_api_surface() -> None:
    for name in incontainer.__all__:
        assert hasattr(incontainer, name), name
    assert issubclass(incontainer.OutOfFuelError, incontainer.ExecutionLimitError)
    assert issubclass(incontainer.ExecutionLimitError, incontainer.IncontainerError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": object(), "command": "echo"}, "name"),
        ({"name": "", "command": "echo"}, "name"),
        ({"name": "w", "command": "ec\0ho"}, "command"),
        ({"name": "w", "command": ""}, "command"),
    ],
)
def test_invalid_workload_names_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        incontainer.Workload(**kwargs)
    assert caught.value.field == field
