"""No orphans: the node actor reaps sandboxes whose container is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import ray
from gvisor_helpers import alive, leftovers, new_container_id, sandbox_pids, wait_until

from incontainer.actors.gvisor import ensure_node_actor, list_gvisor_nodes
from incontainer.config import IsolationLevel, Resources
from incontainer.errors import ContainerNotFoundError


@ray.remote(num_cpus=0)
class Holder:
    """A stand-in for a container actor, with one GVisorBackend."""

    def __init__(self, node: Any, container_id: str, workspace: str) -> None:
        from incontainer.actors.gvisor import GVisorBackend

        self.backend = GVisorBackend(
            node,
            container_id,
            resources=Resources(memory_mb=128),
            mounts=(),
            env={},
            isolation=IsolationLevel.STANDARD,
            workspace=Path(workspace),
        )

    def start(self) -> None:
        self.backend.start()

    def run(self, script: str) -> bytes:
        result = self.backend.execute(
            "sh", ["-c", script], stdin=None, env={}, timeout_s=30
        )
        return bytes(result.stdout)


def start_holder(node: Any, workspace: Path) -> tuple[Any, str]:
    container_id = new_container_id("held")
    holder = Holder.remote(node, container_id, str(workspace))  # type: ignore[attr-defined]
    ray.get(holder.start.remote())
    assert ray.get(holder.run.remote("echo up")) == b"up\n"
    return holder, container_id


def test_node_listed_and_named(node: Any) -> None:
    node_id = ray.get_runtime_context().get_node_id()
    assert node_id in list_gvisor_nodes()
    again = ensure_node_actor(node_id)
    assert again._actor_id == node._actor_id


def test_killed_holder_is_reaped(
    node: Any, node_info: dict[str, Any], workspace: Path
) -> None:
    holder, container_id = start_holder(node, workspace)
    pids = sandbox_pids(node_info, container_id)
    assert pids

    ray.kill(holder)
    wait_until(lambda: not leftovers(node_info, container_id), what="reaper")
    assert not alive(pids)
    ids = [s["container_id"] for s in ray.get(node.list_sandboxes.remote())]
    assert container_id not in ids


def test_restarted_node_reaps_leftovers(
    node: Any, node_info: dict[str, Any], workspace: Path, gvisor_data_dir: Path
) -> None:
    holder, container_id = start_holder(node, workspace)
    pids = sandbox_pids(node_info, container_id)

    ray.kill(node)
    ray.kill(holder)
    fresh = ensure_node_actor(data_dir=str(gvisor_data_dir), reap_interval_s=0.5)
    wait_until(lambda: not leftovers(node_info, container_id), what="reap at start")
    assert not alive(pids)
    ids = [s["container_id"] for s in ray.get(fresh.list_sandboxes.remote())]
    assert container_id not in ids


def test_node_crash_takes_its_sandboxes(
    node: Any, node_info: dict[str, Any], workspace: Path
) -> None:
    holder, container_id = start_holder(node, workspace)
    pids = sandbox_pids(node_info, container_id)

    # A crash, not a deliberate stop: Ray restarts the actor under the same
    # id. Ray kills a dead worker's child processes, and the node actor is
    # the sandboxes' subreaper, so they die with it.
    ray.kill(node, no_restart=False)
    wait_until(lambda: _restarted_info(node, node_info["pid"]), what="restart")
    assert not alive(pids)
    wait_until(lambda: not leftovers(node_info, container_id), what="reap at start")
    with pytest.raises(ContainerNotFoundError):
        ray.get(holder.run.remote("true"))
    ray.kill(holder)


def _restarted_info(node: Any, old_pid: int) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = ray.get(node.info.remote(), timeout=5)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return None
    return info if info["pid"] != old_pid else None
