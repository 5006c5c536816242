"""The container manager's plumbing: records, actor calls, lost actors.

ContainerManager builds its operations on these methods. Every actor call
goes through ``_call``, which names the container. An actor that was
recycled for another container then replies stale, and nothing reaches it.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from incontainer._util.ray_local import actor_gone_errors
from incontainer.actors.container import Reply
from incontainer.actors.lifecycle import events_for_transition
from incontainer.actors.records import ContainerRecord, RecordStore
from incontainer.config import ContainerState
from incontainer.errors import (
    ContainerNotFoundError,
    InvalidInputError,
    InvalidStateError,
    SandboxError,
    TimedOutError,
)
from incontainer.events import EventBus
from incontainer.runtime import EmbeddedRuntime

__all__ = ["ManagerBase"]

S = ContainerState

# Wording of each actor method in "cannot <operation> container X" messages.
_OPERATIONS = {
    "execute": "execute a command in",
    "write_files": "write files to",
    "statistics": "read statistics of",
    "info": "read",
    "release": "release",
}


class ManagerBase:
    """State and actor plumbing shared by the ContainerManager operations."""

    def __init__(self, runtime: EmbeddedRuntime):
        import ray

        self._ray = ray
        self.runtime = runtime
        self.namespace = runtime.namespace
        self.records = RecordStore(runtime.redis_url)
        self.events = EventBus()
        self._handles: dict[str, Any] = {}
        self._closed = False

    def close(self) -> None:
        """Close the store connection and stop the embedded Ray and Redis."""
        if self._closed:
            return
        self._closed = True
        self._handles.clear()
        if self.runtime.started_ray:
            self._close_scheduler()
        self.records.close()
        self.runtime.close()

    def _close_scheduler(self) -> None:
        """Let the scheduler finish its background teardowns before Ray stops."""
        from incontainer.scheduler.client import stop_scheduler

        # On failure Ray stops next anyway and ends the scheduler's processes.
        with contextlib.suppress(self._ray.exceptions.RayError, TimedOutError):
            stop_scheduler(self.namespace)

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidStateError(
                "the container manager is closed; create a new one with "
                "create_container_manager()",
                container_id="",
                state="closed",
                operation="use",
            )

    def _record(self, container_id: str) -> ContainerRecord:
        self._check_open()
        if not isinstance(container_id, str) or not container_id:
            raise InvalidInputError(
                f"invalid container id {container_id!r}: expected a non-empty string",
                field="container_id",
                value=container_id,
            )
        record = self.records.get(container_id)
        if record is None:
            raise ContainerNotFoundError(container_id)
        return record

    def _handle(self, container_id: str, record: ContainerRecord | None = None) -> Any:
        """Return the container's actor handle, or None; ``record`` saves a read."""
        handle = self._handles.get(container_id)
        if handle is None:
            actor_name = (record or self._record(container_id)).actor_name
            if not actor_name:
                return None
            try:
                handle = self._ray.get_actor(actor_name, namespace=self.namespace)
            except ValueError:
                return None
            self._handles[container_id] = handle
        return handle

    def _no_actor(self, container_id: str, method: str) -> None:
        """Raise the error for a call to a container that has no actor."""
        record = self._record(container_id)
        if record.state in (S.SUSPENDED, S.TERMINATED, S.FAILED):
            # No actor is expected in these states: the call is invalid.
            operation = _OPERATIONS.get(method, method.replace("_", " "))
            raise InvalidStateError(
                f"cannot {operation} container {container_id!r}: it is "
                f"{record.state.value}",
                container_id=container_id,
                state=record.state.value,
                operation=method,
            )
        self._mark_lost(container_id, "container actor not found")

    def _call(self, container_id: str, method: str, *args: Any) -> Any:
        """Call an actor method, deliver its events, return or raise its result."""
        handle = self._handle(container_id)
        if handle is None:
            self._no_actor(container_id, method)
        try:
            if method == "adopt":
                ref = handle.adopt.remote(*args)
            else:
                ref = handle.invoke.remote(container_id, method, *args)
            reply: Reply = self._ray.get(ref)
        except actor_gone_errors() as exc:
            self._handles.pop(container_id, None)
            self._mark_lost(container_id, f"container actor died: {exc}")
        if reply.stale:
            # The actor was recycled for another container after this one ended.
            self._handles.pop(container_id, None)
            self._no_actor(container_id, method)
        self.events.dispatch(reply.events)
        if reply.error is not None:
            raise reply.error
        return reply.value

    def _mark_lost(self, container_id: str, reason: str) -> None:
        """Record that a container's actor is gone, then raise SandboxError."""
        record = self._record(container_id)
        if record.state not in (S.FAILED, S.TERMINATED, S.SUSPENDED):
            self._set_state(record, S.FAILED, reason)
        raise SandboxError(
            f"container {container_id!r} is unavailable: {reason}; terminate it "
            "and create a new one",
            container_id=container_id,
        )

    def _set_state(self, record: ContainerRecord, state: S, detail: str = "") -> None:
        """Change a record's state from the manager side (no actor involved)."""
        events = events_for_transition(
            record.container_id, record.state, state, detail=detail
        )
        record.state = state
        record.updated_at = time.time()
        if state is S.FAILED:
            record.last_error = detail
        self.records.put(record)
        self.records.append_events(events)
        self.events.dispatch(events)

    def _kill_actor(self, container_id: str) -> None:
        handle = self._handle(container_id)
        self._handles.pop(container_id, None)
        if handle is not None:
            self._ray.kill(handle, no_restart=True)
