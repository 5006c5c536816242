"""The embedded default's fallback when redis-server is missing."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from incontainer import ContainerConfig, create_container_manager
from incontainer._util.redis_server import RedisServer, free_port
from incontainer.runtime import EmbeddedRuntime, NotDurableWarning


def test_falls_back_to_in_process_redis(
    ray_cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python_dir = str(Path(shutil.which("python3") or "/usr/bin/python3").parent)
    monkeypatch.setenv("PATH", python_dir)
    assert shutil.which("redis-server") is None
    with pytest.warns(NotDurableWarning, match="not durable|lost when it exits"):
        manager = create_container_manager(
            data_dir=tmp_path, namespace="incontainer-test"
        )
    try:
        assert manager.runtime.durable is False
        assert manager.runtime.redis_url.startswith("redis://127.0.0.1:")
        container_id = manager.create_container(ContainerConfig(name="fallback"))
        manager.start_container(container_id)
        result = manager.execute_command(container_id, "echo", ["in", "memory"])
        assert result.stdout == b"in memory\n"
        manager.terminate_container(container_id)
    finally:
        manager.close()


def test_invalid_redis_url_rejected() -> None:
    with pytest.raises(ValueError, match="invalid Redis URL"):
        EmbeddedRuntime(redis_url="http://example.invalid")


def test_second_embedded_store_is_refused(ray_cluster: None, tmp_path: Path) -> None:
    first = EmbeddedRuntime(data_dir=tmp_path).open()
    try:
        second = EmbeddedRuntime(data_dir=tmp_path)
        with pytest.raises(Exception, match="another incontainer process"):
            second.open()
    finally:
        first.close()
    assert first.redis_url


def test_orphaned_server_on_data_dir_is_stopped(tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed")
    # A server whose owner died: same directory and pid file, no owner.
    orphan = subprocess.Popen(
        [
            binary, "--bind", "127.0.0.1", "--port", str(free_port()),
            "--dir", str(tmp_path), "--pidfile", str(tmp_path / "redis.pid"),
            "--save", "", "--daemonize", "no",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(500):
            if (tmp_path / "redis.pid").exists():
                break
            time.sleep(0.01)
        with RedisServer(tmp_path) as server:
            assert server.running
            assert orphan.wait(timeout=15) is not None
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_server_dies_with_its_owner(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from incontainer._util.redis_server import RedisServer\n"
        "server = RedisServer(Path(sys.argv[1])).start()\n"
        "print(server.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    owner = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    pid = int(owner.stdout.strip())
    # The server shuts down on SIGTERM within its event-loop tick (100 ms at
    # hz 10); 15 s is generous for a loaded CI machine.
    for _ in range(1500):
        if not _running(pid):
            break
        time.sleep(0.01)
    assert not _running(pid)


def _running(pid: int) -> bool:
    """Return whether ``pid`` runs; a zombie (exited, not yet reaped) does not.

    Ray makes its driver a child subreaper, so the orphaned server may be
    re-parented to this test process; reap it here if so.
    """
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
