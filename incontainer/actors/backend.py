"""The interface a container actor uses to drive its sandbox.

A container actor owns exactly one backend object. The WASM backend runs
modules in wasmtime inside the actor's node; the gVisor backend delegates to
the node actor that owns runsc on that node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from incontainer.config import ExecResult

__all__ = ["GUEST_WORKSPACE", "Backend"]

# The container's private, writable directory as the guest sees it, on both
# backends. Relative paths in the guest resolve inside it.
GUEST_WORKSPACE = "/workspace"


class Backend(Protocol):
    """One container's sandbox. Methods are called from one thread at a time,
    except ``close``, which may be called while ``execute`` runs and must then
    stop that execution."""

    name: str  # "wasm" or "gvisor"

    def start(self) -> None:
        """Prepare the sandbox so that ``execute`` can run commands."""

    def execute(
        self,
        command: str,
        args: Sequence[str],
        *,
        stdin: bytes | None,
        env: Mapping[str, str],
        timeout_s: float | None,
    ) -> ExecResult:
        """Run one command to completion and return its result.

        Raises a subclass of ExecutionLimitError when a limit is hit and
        SandboxError when the sandbox itself fails.
        """
        ...

    def suspend(self) -> bytes:
        """Stop accepting work and return a snapshot that ``resume`` accepts."""
        ...

    def resume(self, snapshot: bytes) -> None:
        """Bring the sandbox back from a snapshot taken by ``suspend``."""

    def close(self) -> None:
        """Release every process, file and directory; safe to call twice."""

    def statistics(self) -> Mapping[str, Any]:
        """Return a snapshot of counters (executions, failures, memory)."""
        ...
