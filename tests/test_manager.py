"""The container manager against a real local Ray, real Redis, real wasmtime."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import ray

from incontainer import (
    ContainerConfig,
    ContainerNotFoundError,
    ContainerState,
    EventType,
    InvalidInputError,
    InvalidStateError,
    Mount,
    PolicyViolationError,
    SecurityContext,
    create_container_manager,
)
from incontainer._util.redis_server import RedisServer
from incontainer.actors.pool import ACTOR_PREFIX
from incontainer.config import ContainerEvent, ExecResult
from incontainer.manager import ContainerManager


@pytest.fixture
def manager(container_manager: ContainerManager) -> ContainerManager:
    return container_manager


def _actor_name(manager: ContainerManager, container_id: str) -> str:
    record = manager.records.get(container_id)
    assert record is not None
    assert record.actor_name.startswith(ACTOR_PREFIX)
    return record.actor_name


def _actor_exists(actor_name: str) -> bool:
    try:
        ray.get_actor(actor_name, namespace="incontainer-test")
    except ValueError:
        return False
    return True


def test_echo_hello_world(manager: ContainerManager) -> None:
    container_id = manager.create_container(ContainerConfig(name="echo"))
    manager.start_container(container_id)
    result = manager.execute_command(container_id, "echo", ["Hello", "World"])
    assert result.stdout == b"Hello World\n"
    assert result.exit_code == 0
    assert result.backend == "wasm"
    assert manager.get_container_info(container_id).exec_count == 1
    manager.terminate_container(container_id)


def test_lifecycle_events_reach_listeners_and_stream(
    manager: ContainerManager,
) -> None:
    seen: list[ContainerEvent] = []
    remove = manager.add_event_listener(None, seen.append)
    container_id = manager.create_container(ContainerConfig(name="events"))
    manager.start_container(container_id)
    manager.suspend_container(container_id)
    manager.resume_container(container_id)
    actor_name = _actor_name(manager, container_id)
    manager.terminate_container(container_id)
    remove()
    specific = [e.type for e in seen if e.type is not EventType.STATE_CHANGED]
    assert specific == [
        EventType.CREATED,
        EventType.STARTED,
        EventType.SUSPENDED,
        EventType.RESUMED,
        EventType.TERMINATED,
    ]
    states = [e.state for e in seen if e.type is EventType.STATE_CHANGED]
    assert states == [
        ContainerState.CREATED,
        ContainerState.RUNNING,
        ContainerState.SUSPENDED,
        ContainerState.RESUMING,
        ContainerState.RUNNING,
        ContainerState.TERMINATING,
        ContainerState.TERMINATED,
    ]
    assert manager.get_events(container_id) == seen
    assert not _actor_exists(actor_name)


def test_listener_filter_and_removal(manager: ContainerManager) -> None:
    started: list[ContainerEvent] = []
    remove = manager.add_event_listener([EventType.STARTED], started.append)
    first = manager.create_container(ContainerConfig(name="one"))
    manager.start_container(first)
    remove()
    second = manager.create_container(ContainerConfig(name="two"))
    manager.start_container(second)
    assert [e.container_id for e in started] == [first]
    for container_id in (first, second):
        manager.terminate_container(container_id)


def test_suspend_releases_actor_and_resume_keeps_files(
    manager: ContainerManager,
) -> None:
    container_id = manager.create_container(ContainerConfig(name="files"))
    manager.write_files(container_id, {"notes/a.txt": b"kept across suspend\n"})
    manager.start_container(container_id)
    actor_name = _actor_name(manager, container_id)
    manager.suspend_container(container_id)
    assert not _actor_exists(actor_name)
    assert manager.records.get(container_id).actor_name == ""
    assert manager.get_container_info(container_id).state is ContainerState.SUSPENDED
    with pytest.raises(InvalidStateError) as caught:
        manager.execute_command(container_id, "echo", ["x"])
    assert caught.value.state == "suspended"
    manager.resume_container(container_id)
    result = manager.execute_command(container_id, "cat", ["notes/a.txt"])
    assert result.stdout == b"kept across suspend\n"
    manager.terminate_container(container_id)


def test_exec_on_terminated_names_state(manager: ContainerManager) -> None:
    container_id = manager.create_container(ContainerConfig(name="done"))
    manager.start_container(container_id)
    manager.terminate_container(container_id)
    with pytest.raises(InvalidStateError) as caught:
        manager.execute_command(container_id, "echo", ["x"])
    assert caught.value.state == "terminated"
    assert "terminated" in str(caught.value)
    manager.terminate_container(container_id)  # idempotent


def test_start_twice_is_invalid(manager: ContainerManager) -> None:
    container_id = manager.create_container(ContainerConfig(name="twice"))
    manager.start_container(container_id)
    with pytest.raises(InvalidStateError) as caught:
        manager.start_container(container_id)
    assert caught.value.state == "running"
    manager.terminate_container(container_id)


def test_unknown_container_id(manager: ContainerManager) -> None:
    with pytest.raises(ContainerNotFoundError) as caught:
        manager.execute_command("c-doesnotexist", "echo", [])
    assert caught.value.container_id == "c-doesnotexist"
    with pytest.raises(ContainerNotFoundError):
        manager.get_container_info("c-doesnotexist")
    with pytest.raises(ContainerNotFoundError):
        manager.terminate_container("c-doesnotexist")


def test_invalid_config_creates_nothing(manager: ContainerManager) -> None:
    before = manager.list_containers()
    with pytest.raises(InvalidInputError) as caught:
        manager.create_container({"name": "bad", "resources": {"memory_mb": 0}})
    assert caught.value.field == "resources.memory_mb"
    assert manager.list_containers() == before


def test_invalid_exec_arguments(manager: ContainerManager) -> None:
    container_id = manager.create_container(ContainerConfig(name="args"))
    manager.start_container(container_id)
    cases = [
        ({"args": [b"\xff\xfe"]}, "args[0]"),
        ({"args": ["ok", "\udcff"]}, "args[1]"),
        ({"args": "not-a-list"}, "args"),
        ({"timeout": -1}, "timeout"),
        ({"env": {"BAD NAME": "x"}}, "env name"),
        ({"stdin": "text"}, "stdin"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidInputError) as caught:
            manager.execute_command(container_id, "echo", **kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field
    unicode = ["héllo", "日本", "🎉"]
    result = manager.execute_command(container_id, "echo", unicode)
    assert result.stdout.decode() == "héllo 日本 🎉\n"
    manager.terminate_container(container_id)


def test_permissions_are_enforced(manager: ContainerManager) -> None:
    with pytest.raises(PolicyViolationError):
        manager.create_container(
            ContainerConfig(), SecurityContext(permissions=frozenset({"read"}))
        )
    reader = SecurityContext(user_id="r", permissions=frozenset({"create"}))
    container_id = manager.create_container(ContainerConfig(name="noexec"), reader)
    manager.start_container(container_id)
    with pytest.raises(PolicyViolationError):
        manager.execute_command(container_id, "echo", ["x"])
    manager.terminate_container(container_id)


def test_failed_creation_leaves_no_actor(
    manager: ContainerManager, tmp_path: Path
) -> None:
    missing = tmp_path / "not-there"
    config = ContainerConfig(name="broken", mounts=(Mount(str(missing), "/d"),))
    seen: list[ContainerEvent] = []
    manager.add_event_listener([EventType.FAILED], seen.append)
    with pytest.raises(InvalidInputError):
        manager.create_container(config)
    (event,) = seen
    assert not _actor_exists(_actor_name(manager, event.container_id))
    info = manager.get_container_info(event.container_id)
    assert info.state is ContainerState.FAILED
    assert not (tmp_path / "data" / "workspaces" / event.container_id).exists()


def test_list_containers_filters_by_state(manager: ContainerManager) -> None:
    running = manager.create_container(ContainerConfig(name="a"))
    manager.start_container(running)
    created = manager.create_container(ContainerConfig(name="b"))
    states = {i.container_id: i.state for i in manager.list_containers()}
    assert states[running] is ContainerState.RUNNING
    assert states[created] is ContainerState.CREATED
    only_running = manager.list_containers(states=["running"])
    assert [i.container_id for i in only_running] == [running]
    for container_id in (running, created):
        manager.terminate_container(container_id)


def test_manager_use_after_close(
    ray_cluster: None, redis_url: str, tmp_path: Path
) -> None:
    manager = create_container_manager(redis_url=redis_url, data_dir=tmp_path)
    manager.close()
    manager.close()
    with pytest.raises(InvalidStateError, match="closed"):
        manager.list_containers()


def test_embedded_redis_started_and_stopped(ray_cluster: None, tmp_path: Path) -> None:
    manager = create_container_manager(data_dir=tmp_path / "embedded")
    server = manager.runtime._redis
    assert isinstance(server, RedisServer)
    assert server.running
    assert server.url.startswith("redis://127.0.0.1:")
    assert (tmp_path / "embedded" / "redis").is_dir()
    manager.close()
    assert not server.running
    assert ray.is_initialized()  # the session's Ray was not ours to stop


@pytest.mark.realtime
def test_suspend_waits_for_running_execution(manager: ContainerManager) -> None:
    container_id = manager.create_container(ContainerConfig(name="drain"))
    manager.start_container(container_id)
    # The guest sleeps 2 s so that suspend arrives while it runs; the wait
    # below polls the actor's own counter rather than guessing a delay.
    outcome: dict[str, object] = {}

    def run() -> None:
        code = "import time; time.sleep(2); print('finished')"
        outcome["result"] = manager.execute_command(
            container_id, "python", ["-c", code]
        )

    worker = threading.Thread(target=run)
    worker.start()
    for _ in range(600):
        if manager.container_statistics(container_id)["running_execs"] == 1:
            break
        time.sleep(0.01)
    else:
        pytest.fail("the execution never started")
    manager.suspend_container(container_id)
    worker.join(timeout=60)
    result = outcome["result"]
    assert isinstance(result, ExecResult)
    assert result.stdout == b"finished\n"
    assert manager.get_container_info(container_id).state is ContainerState.SUSPENDED
    manager.terminate_container(container_id)


def test_write_files_rejects_file_and_directory_clash(
    manager: ContainerManager, tmp_path: Path
) -> None:
    container_id = manager.create_container(ContainerConfig(name="clash"))
    with pytest.raises(InvalidInputError, match="also given as a file"):
        manager.write_files(container_id, {"f": b"a", "f/g": b"b"})
    workspace = tmp_path / "data" / "workspaces" / container_id
    assert not (workspace / "f").exists()
    for bad in ("../escape", "/etc/passwd", "/workspace"):
        with pytest.raises(InvalidInputError):
            manager.write_files(container_id, {bad: b"x"})
    manager.terminate_container(container_id)


def test_calls_on_suspended_wasm_name_the_state(manager: ContainerManager) -> None:
    container_id = manager.create_container(ContainerConfig(name="asleep"))
    manager.start_container(container_id)
    manager.suspend_container(container_id)
    with pytest.raises(InvalidStateError) as caught:
        manager.suspend_container(container_id)
    assert caught.value.state == "suspended"
    with pytest.raises(InvalidStateError):
        manager.write_files(container_id, {"a": b"x"})
    manager.terminate_container(container_id)
    with pytest.raises(InvalidStateError) as caught:
        manager.start_container(container_id)
    assert caught.value.state == "terminated"


def test_exec_count_saved_after_burst_and_terminate(
    manager: ContainerManager,
) -> None:
    container_id = manager.create_container(ContainerConfig(name="counted"))
    manager.start_container(container_id)
    for _ in range(3):
        manager.execute_command(container_id, "true")
    # The live container reports its count at once; the store catches up.
    assert manager.get_container_info(container_id).exec_count == 3
    for _ in range(100):
        (stored,) = [
            info
            for info in manager.list_containers()
            if info.container_id == container_id
        ]
        if stored.exec_count == 3:
            break
        time.sleep(0.1)
    assert stored.exec_count == 3
    manager.execute_command(container_id, "true")
    manager.terminate_container(container_id)
    # A delayed save must not bring back the running state.
    time.sleep(1.0)
    info = manager.get_container_info(container_id)
    assert info.state is ContainerState.TERMINATED
    assert info.exec_count == 4


def test_write_files_needs_write_permission(manager: ContainerManager) -> None:
    security = SecurityContext(permissions=frozenset({"create", "execute"}))
    container_id = manager.create_container(ContainerConfig(name="ro"), security)
    with pytest.raises(PolicyViolationError) as caught:
        manager.write_files(container_id, {"f.txt": b"x"})
    assert caught.value.rule == "permissions"
    manager.terminate_container(container_id)


def test_operation_names_read_well_in_errors(manager: ContainerManager) -> None:
    container_id = manager.create_container(ContainerConfig(name="gone"))
    manager.terminate_container(container_id)
    with pytest.raises(InvalidStateError) as caught:
        manager.container_statistics(container_id)
    assert "cannot read statistics of container" in str(caught.value)
