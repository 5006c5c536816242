"""ContainerManager: the client-side entry point for containers.

The manager validates every request, keeps container records in Redis, and
drives one ContainerActor per container. Containers outlive the manager
that created them when Ray runs as a cluster, because the actors are
detached. With the embedded default, closing the manager stops Ray and so
every container.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from incontainer._util.ray_local import actor_gone_errors
from incontainer.actors.container import Reply
from incontainer.actors.pool import (
    PooledActor,
    new_actor_name,
    new_container_id,
    spawn_container_actor,
)
from incontainer.actors.records import ContainerRecord
from incontainer.actors.wasm.commands import check_args
from incontainer.config import (
    ContainerConfig,
    ContainerEvent,
    ContainerInfo,
    ContainerState,
    EnvironmentType,
    EventType,
    ExecResult,
    SecurityContext,
    check_env,
    check_timeout,
)
from incontainer.errors import (
    BackendUnavailableError,
    IncontainerError,
    InvalidInputError,
    InvalidStateError,
    PolicyViolationError,
    SandboxError,
)
from incontainer.events import Listener
from incontainer.manager_base import ManagerBase
from incontainer.runtime import EmbeddedRuntime

if TYPE_CHECKING:
    from incontainer.scheduler.client import WorkloadHandle
    from incontainer.scheduler.service import SchedulerSettings
    from incontainer.workload import Workload, WorkloadResult

__all__ = ["ContainerManager", "create_container_manager"]

S = ContainerState
RUNSC_HINT = "install it with `apt-get install runsc` on the nodes that should run it"


def create_container_manager(
    address: str | None = None,
    *,
    redis_url: str | None = None,
    data_dir: str | Path | None = None,
    namespace: str = "incontainer",
    num_cpus: int | None = None,
) -> ContainerManager:
    """Connect to Ray and the state store, starting local ones when not given.

    ``address`` is a Ray address (``ray.init(address=...)``); None starts a
    local Ray on 127.0.0.1. ``redis_url`` names the state store; None starts
    a private redis-server under ``data_dir``. Close the manager (or use it
    as a context manager) to stop what it started.
    """
    runtime = EmbeddedRuntime(
        address=address,
        redis_url=redis_url,
        data_dir=data_dir,
        namespace=namespace,
        num_cpus=num_cpus,
    ).open()
    try:
        return ContainerManager(runtime)
    except BaseException:
        runtime.close()
        raise


class ContainerManager(ManagerBase):
    """Creates, drives and lists containers; see create_container_manager()."""

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<ContainerManager {state} {self.runtime!r} cached={len(self._handles)}>"
        )

    def __enter__(self) -> ContainerManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Events ---------------------------------------------------------------

    def add_event_listener(
        self,
        types: Iterable[EventType | str] | str | None,
        callback: Listener,
    ) -> Callable[[], None]:
        """Call ``callback(event)`` for each event of ``types`` (None or "*": all).

        Returns a function that removes the listener.
        """
        return self.events.add(types, callback)

    def get_events(self, container_id: str) -> list[ContainerEvent]:
        """Return the container's events as stored in its Redis stream."""
        self._record(container_id)
        return self.records.read_events(container_id)

    # Plumbing -------------------------------------------------------------

    def _spawn_actor(self, record: ContainerRecord, node_id: str | None = None) -> Any:
        """Start the container actor, on a gVisor node for gVisor containers."""
        gvisor_node = None
        if record.backend == "gvisor":
            gvisor_node, node_id = self._gvisor_node(node_id)
        if node_id:
            record.node_id = node_id
        record.actor_name = new_actor_name()
        self.records.put(record)
        handle = spawn_container_actor(
            self.namespace,
            record.actor_name,
            node_id,
            record,
            self.runtime.redis_url,
            str(self.runtime.data_dir),
            gvisor_node,
        )
        self._handles[record.container_id] = handle
        return handle

    def _node_actor(self, ensure: Callable[..., Any], node_id: str) -> Any:
        # The node actor keeps runsc state under this manager's data
        # directory when this manager starts it; an existing one keeps its own.
        return ensure(node_id, data_dir=str(self.runtime.data_dir / "gvisor"))

    def _gvisor_node(self, node_id: str | None) -> tuple[Any, str]:
        from incontainer.actors.gvisor.node import ensure_node_actor, list_gvisor_nodes

        nodes = list_gvisor_nodes()
        if node_id is not None and node_id in nodes:
            return self._node_actor(ensure_node_actor, node_id), node_id
        if node_id is not None:
            raise BackendUnavailableError(
                f"node {node_id} has no runsc (custom resource 'gvisor') or is "
                "gone, so it cannot run gVisor containers",
                program="runsc",
                hint=RUNSC_HINT,
            )
        if not nodes:
            raise BackendUnavailableError(
                "no Ray node has runsc (custom resource 'gvisor'), so gVisor "
                "containers cannot run",
                program="runsc",
                hint=RUNSC_HINT,
            )
        # The scheduler passes the node it chose; direct calls take the first.
        return self._node_actor(ensure_node_actor, nodes[0]), nodes[0]

    # Lifecycle ------------------------------------------------------------

    def create_container(
        self,
        config: ContainerConfig | Mapping[str, Any],
        security_context: SecurityContext | None = None,
        *,
        node_id: str | None = None,
        pooled: PooledActor | None = None,
    ) -> str:
        """Create a container in state created and return its id.

        ``config.environment`` chooses the backend: ``client`` is WASM,
        ``server`` is gVisor, and ``auto`` picks WASM here (the scheduler
        routes ``auto`` workloads by cost). ``node_id`` pins the container
        to a Ray node; ``pooled`` adopts a pre-started actor from a warm pool
        on its node instead of starting one. If creation fails, nothing is left
        behind: no actor, no sandbox, and the record is marked failed.
        """
        self._check_open()
        if not isinstance(config, ContainerConfig):
            config = ContainerConfig.from_dict(config)
        security = security_context or SecurityContext()
        if not isinstance(security, SecurityContext):
            raise InvalidInputError(
                f"invalid security context {security!r}: expected SecurityContext",
                field="security_context",
                value=security,
            )
        if "create" not in security.permissions:
            raise PolicyViolationError(
                f"user {security.user_id!r} lacks the 'create' permission",
                rule="permissions",
            )
        backend = "gvisor" if config.environment is EnvironmentType.SERVER else "wasm"
        now = time.time()
        record = ContainerRecord(
            container_id=new_container_id(),
            config=config,
            security=security,
            state=S.CREATING,
            backend=backend,
            created_at=now,
            updated_at=now,
        )
        self._create_actor(record, node_id, pooled)
        return record.container_id

    def _create_actor(
        self, record: ContainerRecord, node_id: str | None, pooled: PooledActor | None
    ) -> None:
        self.records.put(record)
        try:
            if pooled is None:
                self._spawn_actor(record, node_id)
            else:
                record.node_id = pooled.node_id
                record.actor_name = pooled.actor_name
                self.records.put(record)
                self._handles[record.container_id] = pooled.handle
                gvisor_node = None
                if record.backend == "gvisor":
                    gvisor_node, _ = self._gvisor_node(pooled.node_id)
                self._call(record.container_id, "adopt", record, gvisor_node)
            self._call(record.container_id, "initialize")
        except BaseException as exc:
            self._discard(record, exc)
            raise

    def _discard(self, record: ContainerRecord, exc: BaseException) -> None:
        """Remove a half-created container: kill its actor, mark it failed."""
        handle = self._handles.pop(record.container_id, None)
        if handle is not None:
            self._ray.kill(handle, no_restart=True)
        current = self.records.get(record.container_id) or record
        if current.state not in (S.FAILED, S.TERMINATED):
            self._set_state(current, S.FAILED, f"creation failed: {exc}")

    def start_container(self, container_id: str) -> None:
        """Start a created container so it accepts commands."""
        self._record(container_id)
        self._call(container_id, "start")

    def execute_command(
        self,
        container_id: str,
        command: str,
        args: Sequence[str] = (),
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run ``command`` with ``args`` in a running container.

        A non-zero exit code is returned in the result, not raised. Limits
        raise ExecutionLimitError subclasses; a container in another state
        raises InvalidStateError naming that state.
        """
        self._check_open()
        if not isinstance(command, str) or not command or "\0" in command:
            raise InvalidInputError(
                f"invalid command {command!r}: expected a command name or path",
                field="command",
                value=command,
            )
        checked_args = check_args(args)
        if stdin is not None and not isinstance(stdin, bytes | bytearray):
            raise InvalidInputError(
                f"invalid stdin of type {type(stdin).__name__}: expected bytes",
                field="stdin",
                value=type(stdin).__name__,
            )
        checked_env = check_env("env", env or {})
        checked_timeout = check_timeout(timeout)
        if container_id not in self._handles:
            # Not driven by this manager yet: check the record here so that an
            # unknown id or a stopped container gets its error without an
            # actor call. A live actor checks state and permissions itself.
            self._check_can_execute(self._record(container_id))
        stdin_bytes = bytes(stdin) if stdin is not None else None
        result: ExecResult = self._call(
            container_id,
            "execute",
            command,
            checked_args,
            stdin_bytes,
            checked_env,
            checked_timeout,
        )
        return result

    def _check_can_execute(self, record: ContainerRecord) -> None:
        container_id = record.container_id
        if "execute" not in record.security.permissions:
            raise PolicyViolationError(
                f"user {record.security.user_id!r} lacks the 'execute' permission",
                container_id=container_id,
                rule="permissions",
            )
        if record.state is not S.RUNNING:
            raise InvalidStateError(
                f"cannot execute a command in container {container_id!r}: it is "
                f"{record.state.value}, and execute needs it to be running",
                container_id=container_id,
                state=record.state.value,
                operation="execute",
            )

    def write_files(self, container_id: str, files: Mapping[str, bytes]) -> None:
        """Write files into the container's /workspace (paths relative to it)."""
        record = self._record(container_id)
        if "write" not in record.security.permissions:
            raise PolicyViolationError(
                f"user {record.security.user_id!r} lacks the 'write' permission",
                container_id=container_id,
                rule="permissions",
            )
        if not isinstance(files, Mapping) or not all(
            isinstance(k, str) and isinstance(v, bytes | str) for k, v in files.items()
        ):
            raise InvalidInputError(
                "invalid files: expected a mapping of path strings to bytes",
                field="files",
                value=type(files).__name__,
            )
        encoded = {
            k: v.encode() if isinstance(v, str) else bytes(v) for k, v in files.items()
        }
        self._call(container_id, "write_files", encoded)

    def suspend_container(self, container_id: str, *, checkpoint: bool = False) -> None:
        """Suspend a running container.

        New executions are rejected at once; running ones finish first (each
        within its own deadline). A WASM container's workspace is saved to
        the state store and its actor released, so it can resume on any node.
        A gVisor sandbox is paused in place, or with ``checkpoint=True`` its
        memory is saved to an image on its node and the sandbox stopped, so
        the memory is free until resume restores it.
        """
        self._record(container_id)
        if not isinstance(checkpoint, bool):
            raise InvalidInputError(
                f"invalid checkpoint {checkpoint!r}: expected true or false",
                field="checkpoint",
                value=checkpoint,
            )
        self._call(container_id, "suspend", checkpoint)
        record = self._record(container_id)
        if record.backend == "wasm":
            self._call(container_id, "release")
            self._kill_actor(container_id)
            record.actor_name = ""
            self.records.put(record)

    def resume_container(self, container_id: str) -> None:
        """Bring a suspended container back with the files it had."""
        record = self._record(container_id)
        if record.state is not S.SUSPENDED:
            raise InvalidStateError(
                f"cannot resume container {container_id!r}: it is "
                f"{record.state.value}, and resume needs it to be suspended",
                container_id=container_id,
                state=record.state.value,
                operation="resume",
            )
        if self._handle(container_id, record) is None:
            self._spawn_actor(record)
        self._call(container_id, "restore")

    def terminate_container(self, container_id: str) -> None:
        """Stop the container, remove its files and sandbox; idempotent."""
        record = self._record(container_id)
        if record.state is S.TERMINATED:
            return
        handle = self._handle(container_id, record)
        if handle is None:
            self._set_state(record, S.TERMINATING)
            self.records.delete_snapshot(container_id)
            self._set_state(record, S.TERMINATED)
            return
        try:
            self._call(container_id, "terminate")
        finally:
            # Kill only the actor the record names: a recycled actor is
            # no longer named there and serves another container.
            self._handles.pop(container_id, None)
            self._kill_actor(container_id)
        record = self._record(container_id)
        if record.state is not S.TERMINATED:
            if record.state is not S.TERMINATING:
                self._set_state(record, S.TERMINATING)
            self._set_state(record, S.TERMINATED)

    def recycle_container(self, container_id: str) -> PooledActor | None:
        """Terminate the container and return its actor, ready to adopt another.

        The container ends exactly as with terminate_container: events, no
        files, no sandbox. Its actor is returned only when the container was
        created or running and the actor is healthy. Otherwise the actor is
        killed and None is returned.
        """
        record = self._record(container_id)
        handle = self._handle(container_id, record)
        if handle is not None and record.state in (S.CREATED, S.RUNNING):
            try:
                self._call(container_id, "recycle")
            except IncontainerError:
                pass
            else:
                self._handles.pop(container_id, None)
                return PooledActor(record.actor_name, record.node_id, handle)
        try:
            self.terminate_container(container_id)
        except SandboxError:
            # The actor died and the container is failed now. Ending a failed
            # container whose actor is gone needs no actor.
            self.terminate_container(container_id)
        return None

    # Queries --------------------------------------------------------------

    def get_container_info(self, container_id: str) -> ContainerInfo:
        """Return the container's info; a running one is asked for live counts.

        A running container saves its record up to half a second after an
        execution, so list_containers may show an exec_count that lags.
        """
        record = self._record(container_id)
        handle = (
            self._handle(container_id, record) if record.state is S.RUNNING else None
        )
        if handle is None:
            return record.info()
        try:
            reply: Reply = self._ray.get(handle.invoke.remote(container_id, "info"))
        except actor_gone_errors():
            reply = Reply(stale=True)
        if reply.stale or reply.error is not None:
            # The actor is gone or serves another container now: the stored
            # record is the latest there is.
            return self._record(container_id).info()
        live: ContainerRecord = reply.value
        return live.info()

    def list_containers(
        self, *, states: Iterable[ContainerState | str] | None = None
    ) -> list[ContainerInfo]:
        """Return every container recorded in the state store, oldest first."""
        self._check_open()
        wanted = None
        if states is not None:
            try:
                wanted = {ContainerState(s) for s in states}
            except ValueError as exc:
                raise InvalidInputError(
                    f"invalid state filter: {exc}", field="states", value=states
                ) from None
        infos = [r.info() for r in self.records.all()]
        return [i for i in infos if wanted is None or i.state in wanted]

    def container_statistics(self, container_id: str) -> dict[str, Any]:
        self._record(container_id)
        stats: dict[str, Any] = self._call(container_id, "statistics")
        return stats

    # Scheduler ------------------------------------------------------------

    def scheduler(self, settings: SchedulerSettings | None = None) -> Any:
        """Return the namespace's scheduler actor, starting it if needed."""
        self._check_open()
        from incontainer.scheduler.client import get_scheduler

        return get_scheduler(
            self.namespace, self.runtime.redis_url, str(self.runtime.data_dir), settings
        )

    def submit(self, workload: Workload) -> WorkloadHandle:
        """Route ``workload`` through the scheduler; return a handle to its result."""
        from incontainer.scheduler.client import submit_workload

        return submit_workload(self.scheduler(), workload)

    def map(
        self, workloads: Iterable[Workload]
    ) -> Iterator[tuple[WorkloadHandle, WorkloadResult]]:
        """Submit ``workloads`` and yield (handle, result) as each one finishes."""
        from incontainer.scheduler.client import map_workloads

        return map_workloads(self.scheduler(), workloads)

    def explain(self, workload: Workload) -> dict[str, Any]:
        """Explain where ``workload`` would run now and what each option costs."""
        from incontainer.scheduler.client import _get

        explanation: dict[str, Any] = _get(
            self.scheduler().explain_workload.remote(workload)
        )
        return explanation
