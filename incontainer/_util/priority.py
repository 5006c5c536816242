"""Scheduling priority of the processes that run guest code."""

from __future__ import annotations

import contextlib
import os

__all__ = ["normal_priority"]


def normal_priority() -> None:
    """Give the calling thread nice 0, so the processes it starts inherit it.

    Ray 2.60 starts worker processes at nice 15 (raylet's worker_niceness).
    Sandboxes and WASM workers started from an actor would inherit that and
    lose the CPU to everything else on the node, although they run the
    workload. On Linux the nice value belongs to the thread, so each thread
    resets its own. Lowering it needs CAP_SYS_NICE; without it nothing
    changes.
    """
    if os.getpriority(os.PRIO_PROCESS, 0) > 0:
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, 0)
