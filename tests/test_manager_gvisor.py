"""gVisor containers driven through the manager: real runsc, real Ray."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from incontainer import (
    ContainerConfig,
    ContainerState,
    EventType,
    InvalidInputError,
    InvalidStateError,
)
from incontainer.config import ContainerEvent
from incontainer.manager import ContainerManager

pytestmark = pytest.mark.skipif(
    shutil.which("runsc") is None, reason="runsc not installed"
)


@pytest.fixture
def manager(container_manager: ContainerManager) -> ContainerManager:
    return container_manager


def test_server_container_lifecycle(manager: ContainerManager) -> None:
    seen: list[ContainerEvent] = []
    manager.add_event_listener(None, seen.append)
    container_id = manager.create_container(
        ContainerConfig(name="native", environment="server")
    )
    manager.start_container(container_id)
    result = manager.execute_command(
        container_id, "python", ["-c", "import lzma, sys; print(sys.version_info[0])"]
    )
    assert result.backend == "gvisor"
    assert result.stdout == b"3\n"
    listing = manager.execute_command(container_id, "ls", ["/"])
    assert b"workspace" in listing.stdout.split()
    info = manager.get_container_info(container_id)
    assert info.backend == "gvisor"
    assert info.node_id
    manager.terminate_container(container_id)
    kinds = [e.type for e in seen if e.type is not EventType.STATE_CHANGED]
    assert kinds == [EventType.CREATED, EventType.STARTED, EventType.TERMINATED]


@pytest.mark.parametrize("checkpoint", [False, True])
def test_server_suspend_resume_keeps_files(
    manager: ContainerManager, checkpoint: bool
) -> None:
    container_id = manager.create_container(
        ContainerConfig(name="keep", environment="server")
    )
    manager.start_container(container_id)
    manager.execute_command(container_id, "sh", ["-c", "echo kept > note.txt"])
    manager.suspend_container(container_id, checkpoint=checkpoint)
    assert manager.get_container_info(container_id).state is ContainerState.SUSPENDED
    with pytest.raises(InvalidStateError):
        manager.execute_command(container_id, "true")
    manager.resume_container(container_id)
    result = manager.execute_command(container_id, "cat", ["note.txt"])
    assert result.stdout == b"kept\n"
    manager.terminate_container(container_id)


def test_write_files_never_follows_guest_symlinks(
    manager: ContainerManager, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("original\n")
    container_id = manager.create_container(
        ContainerConfig(name="links", environment="server")
    )
    manager.start_container(container_id)
    manager.execute_command(
        container_id,
        "sh",
        ["-c", f"ln -s {victim} v && mkdir real && ln -s {tmp_path} dirlink"],
    )
    for path in ("v", "dirlink/victim.txt", "/workspace/v"):
        with pytest.raises(InvalidInputError, match="symlink"):
            manager.write_files(container_id, {path: b"PWNED\n"})
    assert victim.read_text() == "original\n"
    manager.write_files(container_id, {"real/ok.txt": b"fine\n"})
    result = manager.execute_command(container_id, "cat", ["real/ok.txt"])
    assert result.stdout == b"fine\n"
    manager.terminate_container(container_id)
