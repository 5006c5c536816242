"""The gVisor backend a container actor drives, backed by the node actor."""

from __future__ import annotations

import json
import posixpath
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

from incontainer.actors.backend import GUEST_WORKSPACE
from incontainer.actors.gvisor.bundle import SandboxSpec, check_sandbox_id
from incontainer.actors.gvisor.node import DEFAULT_GRACE_S, DEFAULT_OUTPUT_CAP
from incontainer.actors.gvisor.sandbox import Owner
from incontainer.config import ExecResult, IsolationLevel, Mount, Resources, check_env
from incontainer.errors import (
    ExecutionLimitError,
    IncontainerError,
    InvalidInputError,
    InvalidStateError,
    OutOfMemoryError,
    SandboxError,
    TimedOutError,
    TooManyProcessesError,
)

__all__ = ["SUSPEND_MODES", "GVisorBackend"]

SUSPEND_MODES = ("pause", "checkpoint")
_SNAPSHOT_VERSION = 1


def _invalid(field: str, value: object, expectation: str) -> InvalidInputError:
    return InvalidInputError(
        f"invalid {field} {value!r}: {expectation}", field=field, value=value
    )


class GVisorBackend:
    """One container's gVisor sandbox, run by the node actor ``node``.

    The container actor must run on the node actor's node, because
    ``workspace`` and the mounts' host paths are paths on that node.
    ``suspend_mode`` "pause" freezes the sandbox in place. "checkpoint"
    saves its memory to an image directory on the node and stops it, so the
    memory is free until ``resume`` restores it.
    """

    name = "gvisor"

    def __init__(
        self,
        node: Any,
        container_id: str,
        *,
        resources: Resources,
        mounts: Sequence[Mount],
        env: Mapping[str, str],
        isolation: IsolationLevel,
        workspace: Path,
        suspend_mode: str = "pause",
        output_cap: int = DEFAULT_OUTPUT_CAP,
        grace_s: float = DEFAULT_GRACE_S,
    ):
        check_sandbox_id(container_id)
        if suspend_mode not in SUSPEND_MODES:
            raise _invalid(
                "suspend_mode", suspend_mode, f"expected one of {SUSPEND_MODES}"
            )
        if (
            isinstance(output_cap, bool)
            or not isinstance(output_cap, int)
            or output_cap <= 0
        ):
            raise _invalid(
                "output_cap", output_cap, "expected a positive number of bytes"
            )
        if not isinstance(grace_s, int | float) or grace_s < 0:
            raise _invalid("grace_s", grace_s, "expected seconds >= 0")
        if not isinstance(workspace, str | Path):
            raise _invalid("workspace", workspace, "expected a host directory path")

        self._node = node
        self.container_id = container_id
        self.suspend_mode = suspend_mode
        self.output_cap = output_cap
        self.grace_s = float(grace_s)
        self._spec = SandboxSpec(
            container_id=container_id,
            workspace=str(workspace),
            resources=resources,
            mounts=tuple(mounts),
            env=env,
            isolation=isolation,
        )

        self._lock = threading.Lock()
        self._state = "new"
        self._failure: str | None = None
        self._counters = {"executions": 0, "failures": 0, "timeouts": 0}

    def __repr__(self) -> str:
        return (
            f"<GVisorBackend {self.container_id} state={self._state} "
            f"failure={self._failure} executions={self._counters['executions']}>"
        )

    def __enter__(self) -> GVisorBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def failed(self) -> bool:
        """True once a memory or pids limit (or a crash) killed the sandbox."""
        return self._failure is not None

    @property
    def state(self) -> str:
        """new, running, suspended, failed or closed."""
        return self._state

    def start(self) -> None:
        """Create and start the sandbox on the node."""
        self._require("start", "new")
        _call(self._node.create.remote(self._spec, current_owner()))
        with self._lock:
            if self._state == "new":
                self._state = "running"

    def execute(
        self,
        command: str,
        args: Sequence[str],
        *,
        stdin: bytes | None,
        env: Mapping[str, str],
        timeout_s: float | None,
        cwd: str | None = None,
    ) -> ExecResult:
        """Run ``command`` with ``args`` in the sandbox and return its result.

        ``timeout_s`` defaults to ``resources.wall_time_s``. ``cwd`` is a
        guest path; a relative one is taken from /workspace. Raises
        TimedOutError, OutOfMemoryError or TooManyProcessesError when a limit
        is hit; after the last two the sandbox is gone and ``failed`` is set.
        """
        argv = _argv(command, args)
        if stdin is not None and not isinstance(stdin, bytes | bytearray):
            raise _invalid("stdin", type(stdin).__name__, "expected bytes or None")
        exec_env = check_env("env", env)
        timeout = _timeout(timeout_s, self._spec.resources.wall_time_s)
        guest_cwd = _cwd(cwd)
        self._require("execute", "running")
        request = self._node.execute.remote(
            self.container_id,
            argv,
            stdin=None if stdin is None else bytes(stdin),
            env=exec_env,
            cwd=guest_cwd,
            timeout_s=timeout,
            output_cap=self.output_cap,
        )
        try:
            result: ExecResult = _call(request)
        except ExecutionLimitError as exc:
            self._count_limit(exc)
            raise
        except SandboxError:
            self._count_failure("stopped" if self._state != "closed" else None)
            raise
        with self._lock:
            self._counters["executions"] += 1
        return result

    def suspend(self) -> bytes:
        """Pause or checkpoint the sandbox; return the snapshot for ``resume``.

        The snapshot is small JSON: the mode and container id and, for
        checkpoint mode, the image directory on this node (the image itself
        stays on the node).
        """
        self._require("suspend", "running")
        snapshot: dict[str, Any] = {
            "version": _SNAPSHOT_VERSION,
            "mode": self.suspend_mode,
            "container_id": self.container_id,
        }
        if self.suspend_mode == "checkpoint":
            snapshot["image"] = _call(self._node.checkpoint.remote(self.container_id))
        else:
            _call(self._node.pause.remote(self.container_id))
        with self._lock:
            self._state = "suspended"
        return json.dumps(snapshot).encode()

    def resume(self, snapshot: bytes) -> None:
        """Continue the sandbox from a snapshot returned by ``suspend``."""
        self._require("resume", "suspended")
        data = self._parse_snapshot(snapshot)
        if data["mode"] == "checkpoint":
            _call(self._node.restore.remote(self.container_id, str(data["image"])))
        else:
            _call(self._node.resume.remote(self.container_id))
        with self._lock:
            self._state = "running"

    def close(self) -> None:
        """Kill the sandbox (SIGTERM, ``grace_s``, then SIGKILL) and remove it.

        Safe to call twice and while ``execute`` runs, which then raises
        SandboxError. Anything the node cannot remove at once (listed in the
        node's log) is retried by its reaper.
        """
        with self._lock:
            if self._state == "closed":
                return
            started = self._state != "new"
            self._state = "closed"
        if started:
            _call(self._node.destroy.remote(self.container_id, self.grace_s))

    def statistics(self) -> Mapping[str, Any]:
        """Return counters and, while the sandbox exists, its node-side status.

        ``failed`` also turns true when a limit killed the sandbox between
        executions, which this call detects.
        """
        sandbox: dict[str, Any] | None = None
        if self._state in ("running", "suspended"):
            try:
                sandbox = _call(self._node.status.remote(self.container_id))
            except IncontainerError:
                sandbox = None
            if sandbox and sandbox.get("failure"):
                self._count_failure(sandbox["failure"], count=False)
        with self._lock:
            stats = {
                "backend": self.name,
                "container_id": self.container_id,
                "state": self._state,
                "failed": self.failed,
                "failure": self._failure,
                "suspend_mode": self.suspend_mode,
                **self._counters,
            }
        if sandbox is not None:
            stats["memory_usage_bytes"] = sandbox.get("memory_usage_bytes")
            stats["sandbox_status"] = sandbox.get("status")
        return MappingProxyType(stats)

    def _require(self, operation: str, *states: str) -> None:
        with self._lock:
            state = self._state
        if state not in states:
            hint = f"; it failed ({self._failure})" if state == "failed" else ""
            raise InvalidStateError(
                f"cannot {operation} container {self.container_id!r} while its "
                f"gVisor backend is {state}{hint}",
                container_id=self.container_id,
                state=state,
                operation=operation,
            )

    def _count_limit(self, exc: ExecutionLimitError) -> None:
        if isinstance(exc, TimedOutError):
            with self._lock:
                self._counters["timeouts"] += 1
            return
        limit = "memory" if isinstance(exc, OutOfMemoryError) else "pids"
        if not isinstance(exc, OutOfMemoryError | TooManyProcessesError):
            limit = exc.limit
        self._count_failure(limit)

    def _count_failure(self, failure: str | None, *, count: bool = True) -> None:
        with self._lock:
            if count:
                self._counters["failures"] += 1
            if failure is not None and self._state != "closed":
                self._failure = self._failure or failure
                self._state = "failed"

    def _parse_snapshot(self, snapshot: bytes) -> dict[str, Any]:
        try:
            data = json.loads(bytes(snapshot))
        except (TypeError, ValueError):
            data = None
        valid = (
            isinstance(data, dict)
            and data.get("version") == _SNAPSHOT_VERSION
            and data.get("mode") == self.suspend_mode
            and data.get("container_id") == self.container_id
            and (self.suspend_mode == "pause" or isinstance(data.get("image"), str))
        )
        if not valid:
            raise _invalid(
                "snapshot",
                bytes(snapshot)[:200]
                if isinstance(snapshot, bytes | bytearray)
                else snapshot,
                f"expected a {self.suspend_mode} snapshot of container "
                f"{self.container_id!r} from suspend()",
            )
        assert isinstance(data, dict)
        return data


def current_owner() -> Owner:
    """Return the Ray actor (or, outside actors, the job) running this code."""
    import ray

    context = ray.get_runtime_context()
    actor_id = context.get_actor_id()
    if actor_id:
        return Owner("actor", actor_id)
    return Owner("job", context.get_job_id())


def _call(ref: Any) -> Any:
    """Wait for a node actor call and re-raise its error unwrapped."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, IncontainerError):
            raise cause from exc
        raise SandboxError(f"gVisor node actor call failed: {cause!r}") from exc
    except RayActorError as exc:
        raise SandboxError(
            "gVisor node actor died; ensure_node_actor() starts a new one, which "
            "reaps sandboxes of closed containers"
        ) from exc


def _argv(command: object, args: object) -> list[str]:
    if not isinstance(command, str) or not command or "\0" in command:
        raise _invalid("command", command, "expected a non-empty string without NUL")
    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        raise _invalid("args", args, "expected a list of strings")
    for arg in args:
        if not isinstance(arg, str) or "\0" in arg:
            raise _invalid("args", arg, "expected strings without NUL")
    return [command, *args]


def _timeout(timeout_s: object, default: float | None) -> float | None:
    if timeout_s is None:
        return default
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
        raise _invalid("timeout_s", timeout_s, "expected seconds or None")
    if not 0 < timeout_s < float("inf"):
        raise _invalid("timeout_s", timeout_s, "expected a positive finite number")
    return float(timeout_s)


def _cwd(cwd: object) -> str:
    if cwd is None:
        return GUEST_WORKSPACE
    if not isinstance(cwd, str) or not cwd or "\0" in cwd:
        raise _invalid("cwd", cwd, "expected a guest path")
    return posixpath.normpath(posixpath.join(GUEST_WORKSPACE, cwd))
