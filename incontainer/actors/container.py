"""ContainerActor: one Ray actor per container, owning its sandbox.

The actor keeps the container's lifecycle state machine and its backend (a
WASM sandbox in this process, or a gVisor sandbox on this node through the
node actor). Every method returns a ``Reply`` that carries the result or the
error together with the events the call emitted, so the manager can hand the
events to its listeners before it returns or raises. The same events go to
the container's Redis stream.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from incontainer._util.paths import guest_relative_parts, write_file_beneath
from incontainer.actors.backend import GUEST_WORKSPACE, Backend
from incontainer.actors.lifecycle import Lifecycle
from incontainer.actors.records import ContainerRecord, RecordStore
from incontainer.config import ContainerEvent, ContainerState, ExecResult
from incontainer.errors import (
    IncontainerError,
    InvalidInputError,
    InvalidStateError,
    OutOfMemoryError,
    PolicyViolationError,
    SandboxError,
    TooManyProcessesError,
)

__all__ = ["ContainerActorImpl", "Reply"]

logger = logging.getLogger(__name__)
S = ContainerState
T = TypeVar("T")

# Commands that name a different program on a backend. The WASM build of
# CPython is run as "python", and Debian's native one is "python3".
_COMMAND_ALIASES = {"gvisor": {"python": "python3"}}

# Seconds between an execution and the save of the record, so that a burst
# of executions costs one Redis write. State changes save it at once.
RECORD_SAVE_DELAY_S = 0.5

# Errors after which the sandbox is gone: the gVisor build in use kills the
# whole sandbox when a memory or pids cgroup limit is hit.
_FATAL_LIMITS = (OutOfMemoryError, TooManyProcessesError)


def _invalid_file(guest_path: str, problem: str) -> InvalidInputError:
    return InvalidInputError(
        f"invalid file path {guest_path!r}: {problem}; use a path relative to "
        f"{GUEST_WORKSPACE} that is not a symlink",
        field="files",
        value=guest_path,
    )


def _parts(guest_path: str) -> list[str]:
    try:
        return guest_relative_parts(guest_path, prefix=GUEST_WORKSPACE)
    except ValueError as exc:
        raise _invalid_file(guest_path, str(exc)) from None


def _check_no_file_is_a_directory(targets: list[tuple[str, list[str], bytes]]) -> None:
    """Reject a request that names a path both as a file and as a directory."""
    files = {tuple(parts): path for path, parts, _ in targets}
    for path, parts, _ in targets:
        for depth in range(1, len(parts)):
            clash = files.get(tuple(parts[:depth]))
            if clash is not None:
                raise _invalid_file(path, f"{clash!r} is also given as a file")


@dataclass
class Reply:
    """Return value of every actor method: a value or an error, plus events.

    ``stale`` is true when the actor no longer serves the container the call
    named, because it was recycled for another one. Nothing was done then.
    """

    value: Any = None
    error: BaseException | None = None
    events: list[ContainerEvent] = field(default_factory=list)
    stale: bool = False


# Methods that ``invoke`` dispatches. Each acts on the actor's current container.
_CONTAINER_METHODS = frozenset(
    {
        "initialize",
        "start",
        "execute",
        "suspend",
        "restore",
        "release",
        "terminate",
        "recycle",
        "write_files",
        "info",
        "statistics",
    }
)


class ContainerActorImpl:
    """The body of the container actor; ``ray.remote`` wraps it in the manager.

    Callers reach the container through ``invoke(container_id, method,
    ...)``, which refuses a call meant for a container the actor no longer
    holds. Executions run outside the state lock, so ``terminate`` and
    ``info`` can run while an execution is in progress (the actor is
    threaded). Suspend stops new executions at once and waits for running
    ones to finish; each of those is bounded by its own wall-clock deadline.
    """

    def __init__(
        self,
        record: ContainerRecord | None,
        redis_url: str,
        data_dir: str,
        gvisor_node: Any = None,
        actor_name: str = "",
    ):
        self.actor_name = actor_name
        self._records = RecordStore(redis_url)
        self._data_dir = Path(data_dir)
        self._gvisor_node = gvisor_node
        self._backend: Backend | None = None
        self._pending: list[ContainerEvent] = []
        self._events_lock = threading.Lock()
        self._idle = threading.Condition()
        self._running_execs = 0
        self._accepting = True
        self._spare_worker: Any = None
        self._save_lock = threading.RLock()
        # Calls that passed invoke's container check and have not returned.
        # A recycle waits for them, so none of them reaches the next container.
        self._calls = threading.Condition()
        self._calls_in_flight = 0
        self._save_timer: threading.Timer | None = None
        # A pooled actor has no container until adopt() gives it one.
        self.container_id = ""
        self.record: ContainerRecord = None  # type: ignore[assignment]
        if record is not None:
            self._hold(record)

    def _hold(self, record: ContainerRecord) -> None:
        self.container_id = record.container_id
        self.record = record
        record.actor_name = self.actor_name
        record.node_id = record.node_id or self.node_id()
        self._workspace = self._data_dir / "workspaces" / self.container_id
        self._accepting = True
        self._lifecycle = Lifecycle(self.container_id, self._emit, record.state)

    def invoke(self, container_id: str, method: str, *args: Any) -> Reply:
        """Call ``method`` if ``container_id`` is the actor's current container."""
        if method not in _CONTAINER_METHODS:
            return Reply(
                error=InvalidInputError(
                    f"invalid container actor method {method!r}",
                    field="method",
                    value=method,
                )
            )
        with self._calls:
            if self.record is None or container_id != self.container_id:
                return Reply(stale=True)
            self._calls_in_flight += 1
        try:
            reply: Reply = getattr(self, method)(*args)
        finally:
            with self._calls:
                self._calls_in_flight -= 1
                self._calls.notify_all()
        return reply

    def warm(self) -> int:
        """Start a WASM worker process ahead of need; return its pid.

        A pooled actor does this so that its container's first execution
        does not wait for a worker process to start (about 0.25 s).
        """
        from incontainer.actors.wasm.process import WorkerProcess

        if self._spare_worker is None:
            self._spare_worker = WorkerProcess(
                cache_dir=self._data_dir / "wasm-cache", fuel=False
            )
        pid: int = self._spare_worker.pid
        return pid

    def _take_spare_worker(self) -> Any:
        worker, self._spare_worker = self._spare_worker, None
        if worker is not None and not worker.alive():
            worker.kill()
            return None
        return worker

    def adopt(self, record: ContainerRecord, gvisor_node: Any = None) -> Reply:
        """Take on ``record`` as this pooled actor's container (before initialize).

        ``gvisor_node`` is the node actor a gVisor container delegates to.
        """
        if self.record is not None:
            return Reply(
                error=InvalidStateError(
                    f"cannot adopt container {record.container_id!r}: actor "
                    f"{self.actor_name} already holds {self.container_id!r}",
                    container_id=record.container_id,
                    state="taken",
                    operation="adopt",
                )
            )
        self._gvisor_node = gvisor_node
        self._hold(record)
        return Reply()

    def __repr__(self) -> str:
        if self.record is None:
            return f"<ContainerActor {self.actor_name} pooled>"
        return (
            f"<ContainerActor {self.container_id} {self._lifecycle.state.value}"
            f" backend={self.record.backend} execs={self.record.exec_count}>"
        )

    # Event plumbing -------------------------------------------------------

    def _emit(self, events: list[ContainerEvent]) -> None:
        """Record a transition: save the record, stream the events, queue them."""
        self.record.state = self._lifecycle.state if events else self.record.state
        if events and events[-1].state is not None:
            self.record.state = events[-1].state
        self.record.updated_at = time.time()
        self._save_record(self.record)
        self._records.append_events(events)
        with self._events_lock:
            self._pending.extend(events)

    def _reply(self, fn: Callable[[], T]) -> Reply:
        try:
            value = fn()
            error = None
        except IncontainerError as exc:
            value, error = None, exc
        except Exception as exc:
            logger.exception("container %s: unexpected error", self.container_id)
            value = None
            error = SandboxError(
                f"container {self.container_id!r} failed: {exc!r}",
                container_id=self.container_id,
            )
            error.__cause__ = exc
        with self._events_lock:
            events, self._pending = self._pending, []
        return Reply(value, error, events)

    # Lifecycle ------------------------------------------------------------

    def initialize(self) -> Reply:
        """Build the sandbox (creating -> created)."""
        return self._reply(self._initialize)

    def _initialize(self) -> None:
        try:
            self._workspace.mkdir(parents=True, exist_ok=True)
            self._backend = self._make_backend()
        except BaseException as exc:
            self._lifecycle.move(S.FAILED, detail=str(exc))
            self._cleanup_workspace()
            raise
        self._lifecycle.move(S.CREATED)

    def _make_backend(self) -> Backend:
        record = self.record
        config = record.config
        if record.backend == "wasm":
            from incontainer.actors.wasm.sandbox import WasmSandbox

            return WasmSandbox(
                self._workspace,
                resources=config.resources,
                mounts=config.mounts,
                env=config.env,
                cache_dir=self._data_dir / "wasm-cache",
                container_id=record.container_id,
                worker=self._take_spare_worker(),
            )
        from incontainer.actors.gvisor.backend import GVisorBackend

        return GVisorBackend(
            self._gvisor_node,
            record.container_id,
            resources=config.resources,
            mounts=config.mounts,
            env=config.env,
            isolation=record.security.isolation_level,
            workspace=self._workspace,
        )

    def start(self) -> Reply:
        """Start the sandbox (created -> running)."""

        def run() -> None:
            self._lifecycle.require("start", S.CREATED)
            assert self._backend is not None
            try:
                self._backend.start()
            except IncontainerError as exc:
                self._fail(exc)
                raise
            self._lifecycle.move(S.RUNNING)

        return self._reply(run)

    def execute(
        self,
        command: str,
        args: Sequence[str],
        stdin: bytes | None,
        env: Mapping[str, str],
        timeout_s: float | None,
    ) -> Reply:
        """Run one command in the sandbox and return its ExecResult."""
        return self._reply(lambda: self._execute(command, args, stdin, env, timeout_s))

    def _execute(
        self,
        command: str,
        args: Sequence[str],
        stdin: bytes | None,
        env: Mapping[str, str],
        timeout_s: float | None,
    ) -> ExecResult:
        if "execute" not in self.record.security.permissions:
            raise PolicyViolationError(
                f"user {self.record.security.user_id!r} lacks the 'execute' permission",
                container_id=self.container_id,
                rule="permissions",
            )
        with self._idle:
            self._lifecycle.require("execute", S.RUNNING)
            if not self._accepting:
                raise InvalidStateError(
                    f"cannot execute in container {self.container_id!r}: it is "
                    "being suspended or terminated and accepts no new work",
                    container_id=self.container_id,
                    state=self._lifecycle.state.value,
                    operation="execute",
                )
            self._running_execs += 1
        succeeded = False
        try:
            assert self._backend is not None
            command = _COMMAND_ALIASES.get(self.record.backend, {}).get(
                command, command
            )
            result = self._backend.execute(
                command, args, stdin=stdin, env=env, timeout_s=timeout_s
            )
            succeeded = True
        except _FATAL_LIMITS as exc:
            self._fail(exc)
            raise
        finally:
            with self._idle:
                if succeeded:
                    # Counted before suspend or recycle may go on.
                    self.record.exec_count += 1
                    self.record.updated_at = time.time()
                self._running_execs -= 1
                self._idle.notify_all()
        self._save_record_soon()
        return result

    def _save_record(self, record: ContainerRecord) -> None:
        # One lock orders the saves, so a delayed save never overwrites a
        # newer state with an older copy.
        with self._save_lock:
            self._records.put(record)

    def _save_record_soon(self) -> None:
        with self._save_lock:
            if self._save_timer is not None:
                return
            timer = threading.Timer(RECORD_SAVE_DELAY_S, self._save_delayed)
            timer.daemon = True
            self._save_timer = timer
        timer.start()

    def _save_delayed(self) -> None:
        with self._save_lock:
            self._save_timer = None
            record = self.record
            if record is None:
                return
            try:
                self._records.put(record)
            except IncontainerError:
                # A timer thread has no caller; the next save writes it again.
                logger.warning(
                    "saving the record of container %s failed",
                    self.container_id,
                    exc_info=True,
                )

    def _fail(self, exc: BaseException) -> None:
        self.record.last_error = str(exc)
        if self._lifecycle.state not in (S.FAILED, S.TERMINATED, S.TERMINATING):
            self._lifecycle.move(S.FAILED, detail=str(exc))

    def suspend(self, checkpoint: bool = False) -> Reply:
        """Drain executions, snapshot the sandbox, save it (running -> suspended).

        ``checkpoint`` makes a gVisor sandbox save its memory to an image and
        stop, instead of pausing in place; WASM always saves its files.
        """

        def run() -> None:
            if checkpoint and hasattr(self._backend, "suspend_mode"):
                setattr(self._backend, "suspend_mode", "checkpoint")  # noqa: B010
            with self._idle:
                self._lifecycle.require("suspend", S.RUNNING)
                self._accepting = False
                while self._running_execs:
                    self._idle.wait()
            assert self._backend is not None
            try:
                snapshot = self._backend.suspend()
                self._records.put_snapshot(self.container_id, snapshot)
            except IncontainerError:
                self._accepting = True
                raise
            self._lifecycle.move(S.SUSPENDED)

        return self._reply(run)

    def restore(self) -> Reply:
        """Rebuild the sandbox from the saved snapshot (suspended -> running)."""

        def run() -> None:
            self._lifecycle.require("resume", S.SUSPENDED)
            snapshot = self._records.get_snapshot(self.container_id)
            self._lifecycle.move(S.RESUMING)
            try:
                if snapshot is None:
                    raise SandboxError(
                        f"no snapshot saved for container {self.container_id!r}",
                        container_id=self.container_id,
                    )
                self._workspace.mkdir(parents=True, exist_ok=True)
                self._backend = self._backend or self._make_backend()
                self._backend.resume(snapshot)
            except IncontainerError as exc:
                self._fail(exc)
                raise
            self._accepting = True
            self._lifecycle.move(S.RUNNING)
            self._records.delete_snapshot(self.container_id)

        return self._reply(run)

    def release(self) -> Reply:
        """Free the sandbox's processes after suspend; the state stays suspended."""

        def run() -> None:
            self._lifecycle.require("release", S.SUSPENDED)
            self._close_backend()
            self._cleanup_workspace()

        return self._reply(run)

    def terminate(self) -> Reply:
        """Stop everything and remove the container's files (-> terminated).

        The value is True when this call ended the container, False when it
        had already ended.
        """

        def run() -> bool:
            state = self._lifecycle.state
            if state is S.TERMINATED:
                return False
            self._accepting = False
            if state is not S.TERMINATING:
                # TERMINATING remains when a recycle failed part-way.
                self._lifecycle.move(S.TERMINATING)
            try:
                self._close_backend()
            finally:
                self._cleanup_workspace()
            self._records.delete_snapshot(self.container_id)
            self._lifecycle.move(S.TERMINATED)
            return True

        return self._reply(run)

    def recycle(self) -> Reply:
        """Terminate the container and make the actor ready for another one.

        Only a created or running container is recycled; the caller
        terminates it and kills the actor otherwise. A healthy WASM worker
        process is kept for the next container: every execution gets a fresh
        wasmtime store, and the workspace and mounts come from the next
        container's config. Call it through ``invoke``, which counts it among
        the calls in flight.
        """

        def run() -> None:
            with self._idle:
                self._lifecycle.require("recycle", S.CREATED, S.RUNNING)
                self._accepting = False
                while self._running_execs:
                    self._idle.wait()
            self._lifecycle.move(S.TERMINATING)
            self._keep_worker()
            try:
                self._close_backend()
            finally:
                self._cleanup_workspace()
            self._records.delete_snapshot(self.container_id)
            self.record.actor_name = ""
            self._lifecycle.move(S.TERMINATED)

        reply = self._reply(run)
        if reply.error is None:
            with self._calls:
                # Other calls for the ended container finish first. Later
                # ones find no container and get a stale reply.
                while self._calls_in_flight > 1:
                    self._calls.wait()
                self.container_id = ""
                self.record = None  # type: ignore[assignment]
                self._gvisor_node = None
            self._warm_quietly()
        return reply

    def _warm_quietly(self) -> None:
        try:
            self.warm()
        except Exception:
            # The next container's sandbox starts a worker when it needs one.
            logger.warning("starting a spare WASM worker failed", exc_info=True)

    def _keep_worker(self) -> None:
        take = getattr(self._backend, "take_worker", None)
        if take is None or self._spare_worker is not None:
            return
        self._spare_worker = take()

    def _close_backend(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    def _cleanup_workspace(self) -> None:
        shutil.rmtree(self._workspace, ignore_errors=True)

    # Files and introspection ---------------------------------------------

    def write_files(self, files: Mapping[str, bytes]) -> Reply:
        """Write files into the workspace; paths are guest paths or relative."""

        def run() -> None:
            self._lifecycle.require("write files to", S.CREATED, S.RUNNING)
            targets = [(path, _parts(path), data) for path, data in files.items()]
            _check_no_file_is_a_directory(targets)
            for guest_path, parts, content in targets:
                try:
                    write_file_beneath(self._workspace, parts, content)
                except ValueError as exc:
                    raise _invalid_file(guest_path, str(exc)) from None

        return self._reply(run)

    def info(self) -> Reply:
        return self._reply(lambda: self.record)

    def statistics(self) -> Reply:
        def run() -> dict[str, Any]:
            stats: dict[str, Any] = {
                "state": self._lifecycle.state.value,
                "exec_count": self.record.exec_count,
                "running_execs": self._running_execs,
            }
            if self._backend is not None:
                stats["backend"] = dict(self._backend.statistics())
            return stats

        return self._reply(run)

    def node_id(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())
