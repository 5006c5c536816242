"""The node actor's load, concurrency and input checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import ray
from gvisor_helpers import leftovers, require_runsc, wait_until

from incontainer.actors.gvisor import (
    GVisorBackend,
    GVisorNodeActor,
    Owner,
    SandboxSpec,
    cgroups,
)
from incontainer.config import IsolationLevel, Mount, Resources
from incontainer.errors import InvalidInputError, TimedOutError


def test_long_exec_does_not_block_others(make_backend: Any, node: Any) -> None:
    slow = make_backend(resources=Resources(memory_mb=128, wall_time_s=120.0))
    fast = make_backend(resources=Resources(memory_mb=192))
    base = ray.get(node.load.remote())
    pending = node.execute.remote(slow.container_id, ["sleep", "1000"], timeout_s=60.0)
    wait_until(
        lambda: ray.get(node.load.remote())["running_execs"] > base["running_execs"],
        what="slow execution to start",
    )

    result = fast.execute("echo", ["quick"], stdin=None, env={}, timeout_s=30)
    assert result.stdout == b"quick\n"
    load = ray.get(node.load.remote())
    # The slow execution is still running while the fast one finished.
    assert load["running_execs"] == base["running_execs"] + 1
    assert load["sandboxes"] >= 2
    assert load["memory_reserved_mb"] >= 128 + 192

    slow.close()
    with pytest.raises(Exception, match="closed"):
        ray.get(pending)


def test_timeout_error_keeps_partial_output(make_backend: Any) -> None:
    backend = make_backend(resources=Resources(memory_mb=128, wall_time_s=1.0))
    with pytest.raises(TimedOutError) as caught:
        backend.execute(
            "sh",
            ["-c", "echo a; echo b >&2; sleep 60"],
            stdin=None,
            env={},
            timeout_s=None,
        )
    assert caught.value.partial_stdout == b"a\n"
    assert caught.value.partial_stderr == b"b\n"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"mounts": (Mount("/tmp", "/usr/local/x"),)}, "mount.guest_path"),
        ({"mounts": (Mount("/tmp", "/workspace/x"),)}, "mount.guest_path"),
        ({"mounts": (Mount("/no/such/dir", "/mnt/x"),)}, "mount.host_path"),
        ({"workspace": Path("/no/such/workspace")}, "workspace"),
        ({"suspend_mode": "freeze"}, "suspend_mode"),
        ({"output_cap": 0}, "output_cap"),
        ({"isolation": "paranoid"}, "isolation"),
    ],
)
def test_backend_rejects_invalid_options(
    node: Any, workspace: Path, options: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {
        "resources": Resources(),
        "mounts": (),
        "env": {},
        "isolation": IsolationLevel.STANDARD,
        "workspace": workspace,
        **options,
    }
    with pytest.raises(InvalidInputError) as caught:
        GVisorBackend(node, "valid-id", **arguments)
    assert caught.value.field == field


def test_backend_rejects_invalid_container_id(node: Any, workspace: Path) -> None:
    for bad in ("", "../x", "a/b", "-flag", "x" * 200):
        with pytest.raises(InvalidInputError):
            GVisorBackend(
                node,
                bad,
                resources=Resources(),
                mounts=(),
                env={},
                isolation=IsolationLevel.STANDARD,
                workspace=workspace,
            )


def test_close_all_leaves_nothing(tmp_path: Path, workspace: Path) -> None:
    require_runsc()
    node = GVisorNodeActor(str(tmp_path / "data"), reap_interval_s=0)
    try:
        info = node.info()
        node.create(SandboxSpec("solo", str(workspace)), Owner("job", "none"))
        assert node.execute("solo", ["echo", "hi"]).stdout == b"hi\n"
        assert cgroups.cgroup_dirs(info["cgroup_parent"])
        assert node.close_all() == []
        assert leftovers(info, "solo") == []
        assert cgroups.cgroup_dirs(info["cgroup_parent"]) == []
        assert list((tmp_path / "data" / "bundles").iterdir()) == []
    finally:
        node.stop_background()
