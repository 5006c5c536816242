"""Memory and pids limits hit from inside the guest kill the sandbox and
surface as typed errors."""

from __future__ import annotations

from typing import Any

import pytest
from gvisor_helpers import alive, leftovers, sandbox_pids, wait_until

from incontainer.config import Resources
from incontainer.errors import (
    InvalidStateError,
    OutOfMemoryError,
    TooManyProcessesError,
)

MEMORY_BOMB = (
    "chunks = []\n"
    "for _ in range(200):\n"
    "    chunks.append(bytearray(10 * 1024 * 1024))\n"
)
FORK_BOMB = "i=0; while [ $i -lt 500 ]; do sleep 60 & i=$((i+1)); done; wait"


def test_memory_bomb_raises_out_of_memory(
    make_backend: Any, node_info: dict[str, Any]
) -> None:
    backend = make_backend(resources=Resources(memory_mb=128, wall_time_s=60.0))
    meminfo = backend.execute(
        "cat", ["/proc/meminfo"], stdin=None, env={}, timeout_s=30
    )
    assert meminfo.stdout.split()[1] == b"131072"  # MemTotal in kB: 128 MiB

    with pytest.raises(OutOfMemoryError) as caught:
        backend.execute(
            "python3", ["-c", MEMORY_BOMB], stdin=None, env={}, timeout_s=60
        )
    assert caught.value.container_id == backend.container_id
    assert backend.failed
    stats = backend.statistics()
    assert stats["failed"] is True
    assert stats["failure"] == "memory"
    with pytest.raises(InvalidStateError):
        backend.execute("true", [], stdin=None, env={}, timeout_s=10)

    pids = sandbox_pids(node_info, backend.container_id)
    backend.close()
    assert wait_until(lambda: not alive(pids), what="sandbox processes to exit")
    assert leftovers(node_info, backend.container_id) == []


def test_fork_bomb_raises_too_many_processes(
    make_backend: Any, node_info: dict[str, Any]
) -> None:
    backend = make_backend(resources=Resources(memory_mb=512, pids=8, wall_time_s=60.0))
    # Well below the limit, processes start normally.
    small = backend.execute(
        "sh",
        ["-c", "sleep 0.1 & sleep 0.1 & wait; echo ok"],
        stdin=None,
        env={},
        timeout_s=30,
    )
    assert small.stdout == b"ok\n"

    with pytest.raises(TooManyProcessesError):
        backend.execute("sh", ["-c", FORK_BOMB], stdin=None, env={}, timeout_s=60)
    assert backend.failed
    assert backend.statistics()["failure"] == "pids"
    backend.close()
    assert wait_until(
        lambda: not leftovers(node_info, backend.container_id), what="sandbox removal"
    )
