"""One-shot workloads: create a container, run one command, clean up."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from incontainer.config import (
    ContainerConfig,
    EnvironmentType,
    ExecResult,
    SecurityContext,
)
from incontainer.errors import IncontainerError, InvalidInputError

if TYPE_CHECKING:
    from incontainer.actors.pool import PooledActor
    from incontainer.manager import ContainerManager

__all__ = ["Workload", "WorkloadResult", "run_workload"]


@dataclass(frozen=True)
class Workload:
    """A command to run once in a fresh container.

    ``files`` maps guest paths (relative to /workspace) to contents written
    before the command runs.
    """

    name: str
    command: str
    args: tuple[str, ...] = ()
    config: ContainerConfig = field(default_factory=ContainerConfig)
    security: SecurityContext = field(default_factory=SecurityContext)
    stdin: bytes | None = None
    timeout_s: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(
                f"invalid workload name {self.name!r}: expected a non-empty string",
                field="name",
                value=self.name,
            )
        if (
            not isinstance(self.command, str)
            or not self.command
            or "\0" in self.command
        ):
            raise InvalidInputError(
                f"invalid command {self.command!r} in workload {self.name!r}: "
                "expected a command name or path",
                field="command",
                value=self.command,
            )
        object.__setattr__(self, "args", tuple(self.args))


@dataclass(frozen=True)
class WorkloadResult:
    """Outcome of a workload: a result, or the error that stopped it."""

    workload: Workload
    result: ExecResult | None
    error: IncontainerError | None
    container_id: str
    duration_s: float
    placement: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None and self.result.ok


def run_workload(
    manager: ContainerManager,
    workload: Workload,
    *,
    backend: str | None = None,
    node_id: str | None = None,
    pooled: PooledActor | None = None,
    release: Callable[[str], None] | None = None,
) -> WorkloadResult:
    """Run ``workload`` in a new container and terminate it afterwards.

    ``backend`` ("wasm" or "gvisor") overrides an ``auto`` environment, and
    ``node_id`` and ``pooled`` place the container (see create_container).
    Errors from incontainer are returned in the result, not raised, so a
    batch can go on. The container is terminated in every case, by
    ``release(container_id)`` when given (the scheduler recycles the actor
    off the node's slot that way; a gVisor teardown takes about 0.2 s).
    """
    started = time.monotonic()
    container_id = ""
    result = None
    error: IncontainerError | None = None
    config = workload.config
    if backend is not None:
        environment = (
            EnvironmentType.CLIENT if backend == "wasm" else EnvironmentType.SERVER
        )
        config = dataclasses.replace(config, environment=environment)
    try:
        container_id = manager.create_container(
            config, workload.security, node_id=node_id, pooled=pooled
        )
        if workload.files:
            manager.write_files(container_id, workload.files)
        manager.start_container(container_id)
        result = manager.execute_command(
            container_id,
            workload.command,
            list(workload.args),
            stdin=workload.stdin,
            timeout=workload.timeout_s,
            env=dict(workload.env),
        )
    except IncontainerError as exc:
        error = exc
    finally:
        if container_id and release is not None:
            release(container_id)
        elif container_id:
            try:
                manager.terminate_container(container_id)
            except IncontainerError as exc:
                error = error or exc
    used = result.backend if result else (backend or "")
    return WorkloadResult(
        workload=workload,
        result=result,
        error=error,
        container_id=container_id,
        duration_s=time.monotonic() - started,
        placement={"backend": used, "node_id": node_id or ""},
    )
