"""Reusing container actors across containers: real Ray, wasmtime and runsc."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
import ray

from incontainer import (
    ContainerConfig,
    ContainerState,
    EventType,
    InvalidStateError,
)
from incontainer.actors.pool import WarmPool
from incontainer.actors.wasm import TOOLS_DIR
from incontainer.config import ContainerEvent
from incontainer.manager import ContainerManager

NAMESPACE = "incontainer-test"


@pytest.fixture
def manager(container_manager: ContainerManager) -> ContainerManager:
    return container_manager


def _node_id() -> str:
    return str(ray.get_runtime_context().get_node_id())


def _alive(actor_name: str) -> bool:
    try:
        ray.get_actor(actor_name, namespace=NAMESPACE)
    except ValueError:
        return False
    return True


def _running(manager: ContainerManager, name: str, **pooled: object) -> str:
    container_id = manager.create_container(ContainerConfig(name=name), **pooled)  # type: ignore[arg-type]
    manager.start_container(container_id)
    return container_id


def test_recycled_actor_starts_clean(manager: ContainerManager, tmp_path: Path) -> None:
    seen: list[ContainerEvent] = []
    manager.add_event_listener(None, seen.append)
    first = _running(manager, "first")
    manager.write_files(first, {"secret.txt": b"first container only\n"})
    assert manager.execute_command(first, "cat", ["secret.txt"]).exit_code == 0
    worker_before = manager.container_statistics(first)["backend"]["worker_pid"]
    recycled = manager.recycle_container(first)
    assert recycled is not None
    assert _alive(recycled.actor_name)

    info = manager.get_container_info(first)
    assert info.state is ContainerState.TERMINATED
    assert manager.records.get(first).actor_name == ""  # type: ignore[union-attr]
    assert not (tmp_path / "data" / "workspaces" / first).exists()
    ended = [e.type for e in seen if e.container_id == first]
    assert ended[-2:] == [EventType.TERMINATED, EventType.STATE_CHANGED]

    second = _running(manager, "second", pooled=recycled)
    assert second != first
    assert manager.records.get(second).actor_name == recycled.actor_name  # type: ignore[union-attr]
    result = manager.execute_command(second, "cat", ["secret.txt"])
    assert result.exit_code != 0
    assert result.stdout == b""
    echo = manager.execute_command(second, "echo", ["reused"])
    assert echo.stdout == b"reused\n"
    stats = manager.container_statistics(second)["backend"]
    assert stats["worker_pid"] == worker_before
    assert stats["worker_spawns"] == 0
    manager.terminate_container(second)
    assert not _alive(recycled.actor_name)


def test_stale_handle_cannot_reach_the_next_container(
    manager: ContainerManager,
) -> None:
    other = ContainerManager(manager.runtime)
    first = _running(manager, "first")
    # The second manager caches a handle to the actor while it serves ``first``.
    assert other.execute_command(first, "echo", ["a"]).stdout == b"a\n"
    recycled = manager.recycle_container(first)
    assert recycled is not None
    second = _running(manager, "second", pooled=recycled)
    manager.write_files(second, {"mine.txt": b"second\n"})

    with pytest.raises(InvalidStateError) as caught:
        other.execute_command(first, "cat", ["mine.txt"])
    assert caught.value.state == "terminated"
    # Terminating the old id again must not touch the actor's new container.
    other.terminate_container(first)
    assert manager.execute_command(second, "cat", ["mine.txt"]).stdout == b"second\n"
    assert other.get_container_info(second).state is ContainerState.RUNNING
    manager.terminate_container(second)


def test_recycle_dead_or_suspended_returns_none(
    manager: ContainerManager,
) -> None:
    dead = _running(manager, "dead")
    ray.kill(ray.get_actor(manager.records.get(dead).actor_name, namespace=NAMESPACE))  # type: ignore[union-attr]
    assert manager.recycle_container(dead) is None
    assert manager.get_container_info(dead).state is ContainerState.TERMINATED

    suspended = _running(manager, "suspended")
    manager.suspend_container(suspended)
    assert manager.recycle_container(suspended) is None
    assert manager.get_container_info(suspended).state is ContainerState.TERMINATED


@pytest.mark.skipif(shutil.which("runsc") is None, reason="runsc not installed")
def test_one_actor_serves_wasm_then_gvisor_then_wasm(
    manager: ContainerManager,
) -> None:
    node_id = _node_id()
    wasm = _running(manager, "wasm")
    recycled = manager.recycle_container(wasm)
    assert recycled is not None
    native = manager.create_container(
        ContainerConfig(name="native", environment="server"),
        node_id=node_id,
        pooled=recycled,
    )
    manager.start_container(native)
    result = manager.execute_command(native, "python", ["-c", "import lzma"])
    assert (result.exit_code, result.backend) == (0, "gvisor")
    again = manager.recycle_container(native)
    assert again is not None
    assert again.actor_name == recycled.actor_name
    last = _running(manager, "last", pooled=again)
    assert manager.execute_command(last, "echo", ["x"]).backend == "wasm"
    manager.terminate_container(last)


def test_pool_waits_for_returning_actor(
    manager: ContainerManager,
) -> None:
    node_id = _node_id()
    pool = WarmPool(
        NAMESPACE, manager.runtime.redis_url, str(manager.runtime.data_dir), size=1
    )
    try:
        pool.refill(node_id)
        leased = pool.take(node_id)
        assert leased is not None
        assert pool.take(node_id) is None
        container_id = _running(manager, "pooled", pooled=leased)
        pool.refill(node_id)  # the leased actor counts: nothing is started
        assert pool.statistics()["idle"].get(node_id, 0) == 0

        pool.recycling(node_id)
        recycle = threading.Thread(
            target=lambda: pool.give_back(
                node_id,
                leased.actor_name,
                manager.recycle_container(container_id),
                keep=1,
            )
        )
        recycle.start()
        back = pool.take(node_id, wait_s=60)
        recycle.join()
        assert back is not None
        assert back.actor_name == leased.actor_name
        assert pool.statistics()["reused"] == 1

        # Beyond ``keep`` idle actors a returned actor is stopped.
        pool.give_back(node_id, back.actor_name, back, keep=0, announced=False)
        assert not _alive(back.actor_name)
    finally:
        pool.close()


def test_recycle_drops_worker_with_user_module(
    manager: ContainerManager,
) -> None:
    first = _running(manager, "own-module")
    module = (TOOLS_DIR / "echo.wasm").read_bytes()
    manager.write_files(first, {"mine.wasm": module})
    result = manager.execute_command(first, "/workspace/mine.wasm", ["own"])
    assert result.stdout == b"own\n"
    old_pid = manager.container_statistics(first)["backend"]["worker_pid"]
    recycled = manager.recycle_container(first)
    assert recycled is not None
    second = _running(manager, "next", pooled=recycled)
    assert manager.execute_command(second, "echo", ["x"]).stdout == b"x\n"
    stats = manager.container_statistics(second)["backend"]
    assert stats["worker_pid"] != old_pid
    manager.terminate_container(second)


def test_info_of_recycled_container_from_store(
    manager: ContainerManager,
) -> None:
    other = ContainerManager(manager.runtime)
    first = _running(manager, "first")
    manager.execute_command(first, "true")
    assert other.get_container_info(first).exec_count == 1
    recycled = manager.recycle_container(first)
    assert recycled is not None
    second = _running(manager, "second", pooled=recycled)
    # ``other`` still has the handle cached for ``first``.
    info = other.get_container_info(first)
    assert info.state is ContainerState.TERMINATED
    assert info.exec_count == 1
    assert other.get_container_info(second).state is ContainerState.RUNNING
    manager.terminate_container(second)


def test_suspend_saves_the_exec_count_at_once(manager: ContainerManager) -> None:
    container_id = _running(manager, "suspended")
    for _ in range(2):
        manager.execute_command(container_id, "true")
    manager.suspend_container(container_id)
    stored = manager.records.get(container_id)
    assert stored is not None
    assert stored.exec_count == 2
    manager.terminate_container(container_id)
