"""Suspend, resume, checkpoint, restore and close of real sandboxes."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import pytest
import ray
from gvisor_helpers import alive, leftovers, sandbox_pids, wait_until

from incontainer.errors import InvalidInputError, InvalidStateError, SandboxError

COUNTER = (
    "nohup sh -c 'echo $$ > /tmp/loop.pid; i=0; "
    "while true; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.05; done' "
    ">/dev/null 2>&1 &"
)


def sh(backend: Any, script: str, timeout_s: float = 30.0) -> str:
    result = backend.execute(
        "sh", ["-c", script], stdin=None, env={}, timeout_s=timeout_s
    )
    assert result.exit_code == 0, result.stderr
    return str(result.stdout.decode())


def counter(backend: Any) -> int:
    text = sh(backend, "cat /tmp/counter 2>/dev/null || echo 0").strip()
    return int(text or 0)


def test_pause_and_resume(make_backend: Any, node: Any) -> None:
    backend = make_backend()
    sh(backend, COUNTER)
    wait_until(lambda: counter(backend) >= 3, what="counter to start")

    snapshot = backend.suspend()
    assert json.loads(snapshot)["mode"] == "pause"
    assert ray.get(node.status.remote(backend.container_id))["status"] == "paused"
    with pytest.raises(InvalidStateError):
        backend.execute("true", [], stdin=None, env={}, timeout_s=10)

    backend.resume(snapshot)
    before = counter(backend)
    wait_until(lambda: counter(backend) > before, what="counter to continue")


def test_checkpoint_restore_keeps_process_memory(
    make_backend: Any, node: Any, node_info: dict[str, Any]
) -> None:
    backend = make_backend(suspend_mode="checkpoint")
    sh(backend, COUNTER)
    wait_until(lambda: counter(backend) >= 10, what="counter to reach 10")
    loop_pid = sh(backend, "cat /tmp/loop.pid").strip()
    host_pids = sandbox_pids(node_info, backend.container_id)

    snapshot = backend.suspend()
    image = json.loads(snapshot)["image"]
    before = json.loads(snapshot)
    assert before["mode"] == "checkpoint"
    status = ray.get(node.status.remote(backend.container_id))
    assert status["status"] == "checkpointed"
    # The sandbox is gone while checkpointed, so its memory is free.
    assert status["memory_usage_bytes"] is None
    assert wait_until(lambda: not alive(host_pids), what="sandbox processes to exit")

    backend.resume(snapshot)
    restored = counter(backend)
    assert restored >= 10
    # The same guest process carries on from its saved state.
    assert sh(backend, f"kill -0 {loop_pid} && echo alive").strip() == "alive"
    wait_until(lambda: counter(backend) > restored, what="counter to continue")
    assert not os.path.exists(image)


def test_resume_rejects_foreign_snapshot(make_backend: Any) -> None:
    backend = make_backend()
    backend.suspend()
    with pytest.raises(InvalidInputError):
        backend.resume(b'{"mode": "pause", "container_id": "other", "version": 1}')
    with pytest.raises(InvalidInputError):
        backend.resume(b"not json")


def test_close_kills_guest_ignoring_sigterm(
    make_backend: Any, node_info: dict[str, Any]
) -> None:
    backend = make_backend(grace_s=0.5)
    script = """nohup sh -c 'trap "" TERM; sleep 1000 & wait' >/dev/null 2>&1 &"""
    sh(backend, script)
    wait_until(
        lambda: "sleep 1000" in sh(backend, "ps -eo args"), what="guest to start"
    )
    pids = sandbox_pids(node_info, backend.container_id)
    assert pids

    backend.close()
    assert wait_until(lambda: not alive(pids), what="sandbox processes to exit")
    assert wait_until(
        lambda: not leftovers(node_info, backend.container_id), what="removal"
    )
    backend.close()  # a second close is a no-op
    with pytest.raises(InvalidStateError):
        backend.execute("true", [], stdin=None, env={}, timeout_s=10)


def test_close_during_execute(make_backend: Any, node: Any) -> None:
    backend = make_backend()
    errors: list[BaseException] = []

    def long_exec() -> None:
        try:
            backend.execute("sleep", ["1000"], stdin=None, env={}, timeout_s=120)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=long_exec)
    thread.start()
    wait_until(
        lambda: ray.get(node.load.remote())["running_execs"] >= 1,
        what="execution to start",
    )
    backend.close()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], SandboxError)
    assert "closed" in str(errors[0])


def test_statistics_snapshot(make_backend: Any) -> None:
    backend = make_backend()
    sh(backend, "true")
    stats = backend.statistics()
    assert stats["backend"] == "gvisor"
    assert stats["executions"] == 1
    assert stats["state"] == "running"
    assert stats["failed"] is False
    assert stats["memory_usage_bytes"] > 0
    with pytest.raises(TypeError):
        stats["executions"] = 5
