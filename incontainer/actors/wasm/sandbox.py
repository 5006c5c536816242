"""The WASM backend: runs WASI modules in wasmtime for one container."""

from __future__ import annotations

import enum
import logging
import re
import threading
import time
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from incontainer.actors.backend import GUEST_WORKSPACE
from incontainer.actors.wasm import commands, runtime, snapshot
from incontainer.actors.wasm.process import WorkerProcess
from incontainer.actors.wasm.protocol import FrameTimeout
from incontainer.config import ExecResult, Mount, Resources
from incontainer.errors import (
    InvalidInputError,
    InvalidStateError,
    OutOfFuelError,
    OutOfMemoryError,
    SandboxError,
    TimedOutError,
)

__all__ = ["DEFAULT_OUTPUT_CAP_BYTES", "WasmSandbox"]

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_CAP_BYTES = 1 << 20
_MIB = 1 << 20
# CPython prints this as the last stderr line when an allocation fails and
# nothing catches the MemoryError.
_MEMORY_ERROR_LINE = re.compile(rb"(?m)^MemoryError(: .*)?\s*\Z")


class _State(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class WasmSandbox:
    """One container's WASM sandbox.

    ``workspace`` is the host directory mounted writable at /workspace in
    the guest. Each Mount is preopened at its guest path, read-only mounts
    with ``fs_mutable=False``. Commands run in a worker process that keeps
    the engine and the loaded modules warm; ``cache_dir`` holds compiled
    modules shared by every sandbox on the node.

    ``worker`` is a worker process started ahead of time, which the sandbox
    takes over; ``execute`` raises InvalidStateError before ``start``, while
    suspended and after ``close``.
    """

    name = "wasm"

    def __init__(
        self,
        workspace: Path,
        *,
        resources: Resources,
        cache_dir: Path,
        mounts: Sequence[Mount] = (),
        env: Mapping[str, str] | None = None,
        output_cap_bytes: int = DEFAULT_OUTPUT_CAP_BYTES,
        command_path: Sequence[Path] = (runtime.TOOLS_DIR,),
        container_id: str = "",
        python_module: Path | None = None,
        worker: WorkerProcess | None = None,
    ) -> None:
        if not isinstance(resources, Resources):
            raise InvalidInputError(
                f"invalid resources {resources!r}: expected Resources",
                field="resources",
                value=resources,
            )
        if isinstance(output_cap_bytes, bool) or not isinstance(output_cap_bytes, int):
            raise InvalidInputError(
                f"invalid output_cap_bytes {output_cap_bytes!r}: expected an integer",
                field="output_cap_bytes",
                value=output_cap_bytes,
            )
        if output_cap_bytes < 0:
            raise InvalidInputError(
                f"invalid output_cap_bytes {output_cap_bytes}: expected 0 or more",
                field="output_cap_bytes",
                value=output_cap_bytes,
            )
        self._workspace = commands.host_directory("workspace", workspace)
        self._mounts = tuple(self._check_mount(m) for m in mounts)
        self._files = commands.GuestFiles(self._workspace, self._mounts)
        self._env = commands.check_env_values("env", env or {})
        self._resources = resources
        self._cap = output_cap_bytes
        self._command_path = tuple(Path(p) for p in command_path)
        self._python_module = (
            commands.host_directory("python_module", Path(python_module).parent)
            / Path(python_module).name
            if python_module is not None
            else None
        )
        self._cache_dir = Path(cache_dir)
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        self.container_id = container_id

        self._state = _State.CREATED
        self._state_lock = threading.Lock()
        self._exec_lock = threading.Lock()
        # A worker started ahead of time (by a warm pool) is used only when
        # its engine matches: fuel metering is fixed when a worker starts.
        self._worker: WorkerProcess | None = None
        if worker is not None and worker.fuel == (resources.fuel is not None):
            self._worker = worker
        elif worker is not None:
            worker.kill()
        self._counters: dict[str, int] = dict.fromkeys(
            (
                "executions",
                "failures",
                "timeouts",
                "out_of_fuel",
                "out_of_memory",
                "worker_spawns",
                "modules_compiled",
                "cache_hits",
                "cache_replaced",
            ),
            0,
        )
        self._peak_memory = 0

    @staticmethod
    def _check_mount(mount: Mount) -> Mount:
        if not isinstance(mount, Mount):
            raise InvalidInputError(
                f"invalid mount {mount!r}: expected incontainer.config.Mount",
                field="mounts",
                value=mount,
            )
        commands.host_directory("mount.host_path", mount.host_path)
        return mount

    # Lifecycle

    def start(self) -> None:
        """Allow executions; the worker starts with the first one."""
        with self._state_lock:
            self._require({_State.CREATED, _State.RUNNING}, "start")
            self._state = _State.RUNNING

    def suspend(self) -> bytes:
        """Stop accepting work, stop the worker and snapshot the workspace.

        Returns bytes that ``resume`` accepts, on this or another sandbox.
        """
        with self._state_lock:
            self._require({_State.RUNNING}, "suspend")
            self._state = _State.SUSPENDED
        with self._exec_lock:
            self._stop_worker()
            return snapshot.create_snapshot(self._workspace)

    def resume(self, snapshot_bytes: bytes) -> None:
        """Restore the workspace from ``snapshot_bytes`` and accept work.

        Allowed after ``suspend`` and on a sandbox not yet started. Raises
        InvalidInputError, leaving the workspace unchanged, when the snapshot
        is corrupt.
        """
        with self._state_lock:
            self._require({_State.CREATED, _State.SUSPENDED}, "resume")
        with self._exec_lock:
            try:
                snapshot.restore_snapshot(snapshot_bytes, self._workspace)
            except OSError as exc:
                raise SandboxError(
                    f"restoring the workspace {self._workspace} failed: {exc}",
                    container_id=self.container_id,
                ) from exc
        with self._state_lock:
            self._state = _State.RUNNING

    def take_worker(self) -> WorkerProcess | None:
        """Hand over the worker process when it is idle and alive, else None.

        The sandbox starts a new worker if it executes again. A container
        actor keeps the worker for its next container when it is recycled.
        A worker that loaded a module from the workspace or a mount is not
        handed over, because it would keep that module in memory.
        """
        if not self._exec_lock.acquire(blocking=False):
            return None
        try:
            worker, self._worker = self._worker, None
        finally:
            self._exec_lock.release()
        if worker is None:
            return None
        shared = {str(self._python()[0])}
        if not worker.alive() or any(
            path not in shared and Path(path).parent not in self._command_path
            for path in worker.modules
        ):
            worker.kill()
            return None
        return worker

    def close(self) -> None:
        """Kill the worker and refuse further work; safe to call twice.

        An ``execute`` running in another thread stops with SandboxError.
        """
        with self._state_lock:
            self._state = _State.CLOSED
            worker = self._worker
        if worker is not None:
            worker.interrupt()
        with self._exec_lock:
            self._stop_worker()

    def __enter__(self) -> WasmSandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        worker = self._worker
        pid = worker.pid if worker is not None and worker.alive() else None
        return (
            f"<WasmSandbox container_id={self.container_id!r} "
            f"state={self._state.value} worker_pid={pid} "
            f"executions={self._counters['executions']}>"
        )

    def statistics(self) -> Mapping[str, Any]:
        """Return a read-only snapshot of the counters and the current state."""
        worker = self._worker
        return types.MappingProxyType(
            {
                "state": self._state.value,
                "container_id": self.container_id,
                "worker_pid": worker.pid
                if worker is not None and worker.alive()
                else None,
                "peak_memory_bytes": self._peak_memory,
                **self._counters,
            }
        )

    def _require(self, allowed: set[_State], operation: str) -> None:
        if self._state in allowed:
            return
        hint = {
            _State.CREATED: "call start() first",
            _State.SUSPENDED: "call resume() first",
            _State.CLOSED: "create a new sandbox",
            _State.RUNNING: "call suspend() first",
        }[self._state]
        raise InvalidStateError(
            f"cannot {operation} a WASM sandbox in state {self._state.value}: {hint}",
            container_id=self.container_id,
            state=self._state.value,
            operation=operation,
        )

    # Execution

    def execute(
        self,
        command: str,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> ExecResult:
        """Run ``command`` with ``args`` to completion and return its result.

        A non-zero guest exit code is returned in the result. Raises
        InvalidInputError for bad arguments or an unknown command,
        OutOfFuelError, OutOfMemoryError or TimedOutError when a limit is
        hit (with the partial output), and SandboxError for other traps.
        The deadline counts from the moment the module is loaded, so a first
        compile (about 3 s for CPython) does not count against it.
        """
        request = self._build_request(command, args, stdin, env)
        timeout = commands.check_timeout(timeout_s)
        if timeout is None:
            timeout = self._resources.wall_time_s
        with self._exec_lock:
            with self._state_lock:
                self._require({_State.RUNNING}, "execute")
                worker = self._ensure_worker()
            self._counters["executions"] += 1
            try:
                return self._run(worker, request, timeout)
            except SandboxError:
                self._counters["failures"] += 1
                raise
            except BaseException:
                # The worker may still reply to this request later, and that
                # reply would be read as the next request's, so stop it.
                self._counters["failures"] += 1
                self._stop_worker()
                raise

    def _build_request(
        self,
        command: str,
        args: Sequence[str],
        stdin: bytes | None,
        env: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        argv = commands.check_args(args)
        data = commands.check_stdin(stdin)
        merged = {"PWD": GUEST_WORKSPACE, **self._env}
        merged.update(commands.check_env_values("env", env or {}))
        python = self._python()
        resolved = commands.resolve_command(
            command, self._files, self._command_path, python
        )
        return {
            "module": str(resolved.module),
            "sha256": resolved.sha256,
            "argv": [command, *argv],
            "env": sorted(merged.items()),
            "stdin": data,
            "preopens": self._files.preopens(),
            "memory_bytes": self._resources.memory_mb * _MIB,
            "fuel": self._resources.fuel,
            "output_cap": self._cap,
        }

    def _python(self) -> tuple[Path, str | None]:
        if self._python_module is not None:
            return self._python_module, None
        return runtime.python_module_path(), runtime.PYTHON_SHA256

    def _ensure_worker(self) -> WorkerProcess:
        if self._worker is not None and not self._worker.alive():
            self._stop_worker()
        if self._worker is None:
            self._worker = WorkerProcess(
                cache_dir=self._cache_dir, fuel=self._resources.fuel is not None
            )
            self._counters["worker_spawns"] += 1
            logger.debug(
                "started WASM worker pid %d for container %r",
                self._worker.pid,
                self.container_id,
            )
        return self._worker

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()

    def _run(
        self, worker: WorkerProcess, request: dict[str, Any], timeout: float | None
    ) -> ExecResult:
        # Phase 1: send the request. A loaded module runs at once and the
        # first reply is its result. Otherwise the worker sends "loading",
        # and the deadline starts when it sends "started".
        sent_at = time.monotonic()
        deadline = sent_at + timeout if timeout is not None else None
        # A new worker imports wasmtime before it reads the request, which is
        # not guest time either, and it never has the module loaded.
        first_deadline = deadline if worker.requests else None
        worker.requests += 1
        worker.modules.add(request["module"])
        try:
            worker.send(request)
            reply = worker.receive(deadline=first_deadline)
            if reply.get("event") == "loading":
                reply = worker.receive(deadline=None)
                if reply.get("event") != "started":
                    return self._raise_worker_error(reply)
                self._count_load(reply)
                run_started = time.monotonic()
                load_s = run_started - sent_at
                deadline = run_started + timeout if timeout is not None else None
                # Phase 2: wait for the guest, killing the worker at the deadline.
                reply = worker.receive(deadline=deadline)
            else:
                self._count_load(reply)
                load_s = float(reply.get("load_s", 0.0))
        except FrameTimeout:
            raise self._timed_out(worker, timeout) from None
        except (OSError, EOFError, ValueError) as exc:
            raise self._worker_lost(exc) from exc
        duration = time.monotonic() - sent_at - load_s
        done = reply

        # Phase 3: read the output and classify the outcome.
        stdout, stderr = worker.read_output(self._cap)
        if done.get("event") != "done":
            return self._raise_worker_error(done)
        return self._result(done, stdout, stderr, duration, load_s)

    def _count_load(self, started: Mapping[str, Any]) -> None:
        self._counters["modules_compiled"] += int(bool(started.get("compiled")))
        self._counters["cache_hits"] += int(bool(started.get("cache_hit")))
        self._counters["cache_replaced"] += int(bool(started.get("replaced_corrupt")))

    def _result(
        self,
        done: Mapping[str, Any],
        stdout: bytes,
        stderr: bytes,
        duration: float,
        load_s: float,
    ) -> ExecResult:
        memory = int(done.get("memory_bytes", 0))
        self._peak_memory = max(self._peak_memory, memory)
        usage: dict[str, float] = {
            "peak_memory_bytes": float(memory),
            "module_load_s": load_s,
        }
        if done.get("fuel_consumed") is not None:
            usage["fuel_consumed"] = float(done["fuel_consumed"])
        kind = done.get("kind")
        exit_code = int(done.get("exit_code", 0))
        failed = kind != "exit" or exit_code != 0
        if failed and self._memory_exhausted(done, memory, stderr):
            self._counters["out_of_memory"] += 1
            raise OutOfMemoryError(
                f"guest ran out of memory: limit {self._resources.memory_mb} MiB "
                f"(resources.memory_mb), linear memory at {memory} bytes",
                container_id=self.container_id,
                partial_stdout=stdout,
                partial_stderr=stderr,
            )
        if kind == "trap" and done.get("trap_code") == "OUT_OF_FUEL":
            self._counters["out_of_fuel"] += 1
            raise OutOfFuelError(
                f"guest used all {self._resources.fuel} units of fuel "
                "(resources.fuel); raise the limit or do less work",
                container_id=self.container_id,
                partial_stdout=stdout,
                partial_stderr=stderr,
            )
        if kind != "exit":
            raise SandboxError(
                f"guest failed: {kind} {done.get('trap_code') or ''}: "
                f"{done.get('message', '')}".replace("  ", " "),
                container_id=self.container_id,
            )
        return ExecResult(
            exit_code=exit_code,
            stdout=stdout,
            stderr=stderr,
            truncated=bool(done.get("truncated")),
            duration_s=duration,
            backend=self.name,
            resource_usage=usage,
        )

    def _memory_exhausted(
        self, done: Mapping[str, Any], memory: int, stderr: bytes
    ) -> bool:
        """Tell whether a failed run failed because memory growth was denied.

        wasmtime-py 50 gives no signal when the store limiter denies
        ``memory.grow``: the guest gets -1 and malloc returns NULL. So
        a failed run counts as out of memory when its linear memory ended
        within a margin of the limit, when CPython's last stderr line is
        MemoryError, or when instantiation failed on the memory limit.

        NOTE: this is inferred. A guest that fails for another reason close
        to the limit is reported as out of memory, and a single large
        allocation refused far below the limit is detected only through
        CPython's MemoryError line.
        """
        limit = self._resources.memory_mb * _MIB
        if done.get("kind") == "instantiate":
            return "exceeds memory limits" in str(done.get("message", ""))
        margin = max(_MIB, limit // 16)
        if memory >= limit - margin:
            return True
        return _MEMORY_ERROR_LINE.search(stderr[-4096:]) is not None

    def _timed_out(self, worker: WorkerProcess, timeout: float | None) -> TimedOutError:
        worker.interrupt()
        stdout, stderr = worker.read_output(self._cap)
        self._stop_worker()
        self._counters["timeouts"] += 1
        return TimedOutError(
            f"execution timed out after {timeout} s; the worker was killed. "
            "Pass a larger timeout_s or raise resources.wall_time_s",
            container_id=self.container_id,
            partial_stdout=stdout,
            partial_stderr=stderr,
        )

    def _worker_lost(self, exc: BaseException) -> SandboxError:
        worker = self._worker
        status = worker.exit_status() if worker is not None else None
        self._stop_worker()
        if self._state is _State.CLOSED:
            return SandboxError(
                "sandbox was closed while the command ran",
                container_id=self.container_id,
            )
        return SandboxError(
            f"WASM worker process failed (exit status {status}): {exc}",
            container_id=self.container_id,
        )

    def _raise_worker_error(self, reply: Mapping[str, Any]) -> ExecResult:
        phase = reply.get("phase", "run")
        message = reply.get("message", "no message")
        if phase == "load":
            raise SandboxError(
                f"loading the module failed: {message}",
                container_id=self.container_id,
            )
        raise SandboxError(
            f"WASM worker failed: {message}", container_id=self.container_id
        )
