"""One gVisor sandbox on this node: its record and the runsc steps on it.

The node actor holds a ``Sandbox`` per container and calls these functions
with the sandbox's lock held, except ``execute``, which holds it only to
check the state so that executions run side by side.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incontainer.actors.gvisor import cgroups
from incontainer.actors.gvisor.process import run_captured
from incontainer.actors.gvisor.runsc import Runsc, RunscError
from incontainer.config import ExecResult
from incontainer.errors import (
    InvalidStateError,
    OutOfMemoryError,
    SandboxError,
    TimedOutError,
    TooManyProcessesError,
)

__all__ = [
    "Owner",
    "Sandbox",
    "checkpoint",
    "create_and_start",
    "execute",
    "kill_guest_tree",
    "mark_failed",
    "pause",
    "read_record",
    "remove",
    "restore",
    "resume",
    "stop_gracefully",
]

OWNER_FILE = "owner.json"
_LOG_FILE = "runsc.log"
# runsc prefixes its own error with this when the command cannot start, and
# then exits with 128, which a guest may also use as its exit code.
_START_FAILED = "executing processes for container:"
# Seconds to wait for `runsc state` to see a sandbox that crashed as stopped;
# the child reaper needs one poll interval (20 ms) to collect it.
_STOPPED_WAIT_S = 2.0
_POLL_S = 0.05


@dataclass(frozen=True)
class Owner:
    """The Ray actor (or driver job) whose container this sandbox serves."""

    kind: str  # "actor" or "job"
    id: str


@dataclass(eq=False)
class Sandbox:
    """The node actor's record of one sandbox.

    ``status`` is one of creating, running, paused, checkpointed, failed,
    terminating. ``failure`` names the limit that killed it ("memory",
    "pids") or "stopped" when it stopped for another reason.
    """

    container_id: str
    bundle: Path
    network: str
    cgroups_path: str
    memory_mb: int
    owner: Owner
    status: str = "creating"
    failure: str | None = None
    image: Path | None = None
    executions: int = 0
    running_execs: int = 0
    created_at: float = field(default_factory=time.time)
    process: dict[str, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _sequence: int = 0

    def __repr__(self) -> str:
        return (
            f"<Sandbox {self.container_id} status={self.status} "
            f"failure={self.failure} execs={self.running_execs}/{self.executions}>"
        )

    @property
    def log_path(self) -> Path:
        return self.bundle / _LOG_FILE

    def next_sequence(self) -> int:
        with self.lock:
            self._sequence += 1
            return self._sequence

    def snapshot(self) -> dict[str, Any]:
        """Return a plain-data view for callers of the node actor."""
        return {
            "container_id": self.container_id,
            "status": self.status,
            "failed": self.failure is not None,
            "failure": self.failure,
            "memory_mb": self.memory_mb,
            "executions": self.executions,
            "running_execs": self.running_execs,
            "image": str(self.image) if self.image else None,
            "owner": {"kind": self.owner.kind, "id": self.owner.id},
            "memory_usage_bytes": cgroups.memory_usage(self.cgroups_path),
        }

    def write_record(self) -> None:
        """Store what a restarted node actor needs to adopt or reap this."""
        record = {
            "container_id": self.container_id,
            "network": self.network,
            "cgroups_path": self.cgroups_path,
            "memory_mb": self.memory_mb,
            "owner": {"kind": self.owner.kind, "id": self.owner.id},
            "created_at": self.created_at,
        }
        partial = self.bundle / (OWNER_FILE + ".partial")
        partial.write_text(json.dumps(record))
        os.replace(partial, self.bundle / OWNER_FILE)


def read_record(bundle: Path) -> Sandbox | None:
    """Rebuild a Sandbox from its bundle directory, or None if incomplete."""
    try:
        record = json.loads((bundle / OWNER_FILE).read_text())
        config = json.loads((bundle / "config.json").read_text())
        owner = Owner(str(record["owner"]["kind"]), str(record["owner"]["id"]))
        return Sandbox(
            container_id=str(record["container_id"]),
            bundle=bundle,
            network=str(record["network"]),
            cgroups_path=str(record["cgroups_path"]),
            memory_mb=int(record["memory_mb"]),
            owner=owner,
            created_at=float(record["created_at"]),
            process=dict(config["process"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def create_and_start(runsc: Runsc, sandbox: Sandbox) -> None:
    """Run `runsc create` and `start` on a written bundle."""
    config = json.loads((sandbox.bundle / "config.json").read_text())
    sandbox.process = dict(config["process"])
    runsc.spawn(
        sandbox.network,
        "create",
        "--bundle",
        str(sandbox.bundle),
        sandbox.container_id,
        log_path=sandbox.log_path,
        sandbox_id=sandbox.container_id,
    )
    runsc.run(sandbox.network, "start", sandbox.container_id)
    sandbox.status = "running"


def execute(
    runsc: Runsc,
    sandbox: Sandbox,
    argv: Sequence[str],
    *,
    stdin: bytes | None,
    env: Mapping[str, str],
    cwd: str,
    timeout_s: float | None,
    output_cap: int,
) -> ExecResult:
    """Run one command in a running sandbox and return its result."""
    cid = sandbox.container_id
    with sandbox.lock:
        _require_running(sandbox, "execute")
        sandbox.running_execs += 1
        sequence = sandbox.next_sequence()
    process_file = sandbox.bundle / f"exec-{sequence}.json"
    pid_file = sandbox.bundle / f"exec-{sequence}.pid"
    try:
        process_file.write_text(json.dumps(_process(sandbox, argv, env, cwd)))
        command = runsc.argv(
            sandbox.network,
            "exec",
            "--process",
            str(process_file),
            "--internal-pid-file",
            str(pid_file),
            cid,
        )
        outcome = run_captured(
            command,
            stdin=stdin,
            timeout_s=timeout_s,
            output_cap=output_cap,
            on_timeout=lambda: kill_guest_tree(runsc, sandbox, pid_file),
        )
    finally:
        with sandbox.lock:
            sandbox.running_execs -= 1
            sandbox.executions += 1
        for path in (process_file, pid_file):
            path.unlink(missing_ok=True)

    partial = {"partial_stdout": outcome.stdout, "partial_stderr": outcome.stderr}
    _raise_if_failed(runsc, sandbox, outcome.exit_code, partial)
    if outcome.exit_code is None:
        raise TimedOutError(
            f"command {argv[0]!r} in container {cid!r} timed out after "
            f"{timeout_s} s and was killed; raise the timeout or resources.wall_time_s",
            container_id=cid,
            **partial,
        )
    exit_code = outcome.exit_code
    if exit_code == 128 and outcome.stderr.startswith(_START_FAILED.encode()):
        exit_code = _start_failure_code(runsc, sandbox, outcome.stderr)
    return ExecResult(
        exit_code=exit_code,
        stdout=outcome.stdout,
        stderr=outcome.stderr,
        truncated=outcome.truncated,
        duration_s=outcome.duration_s,
        backend="gvisor",
        resource_usage=_usage(sandbox),
    )


def _require_running(sandbox: Sandbox, operation: str) -> None:
    if sandbox.status != "running":
        raise InvalidStateError(
            f"cannot {operation} in container {sandbox.container_id!r}: its "
            f"sandbox is {sandbox.status}",
            container_id=sandbox.container_id,
            state=sandbox.status,
            operation=operation,
        )


def _process(
    sandbox: Sandbox, argv: Sequence[str], env: Mapping[str, str], cwd: str
) -> dict[str, Any]:
    # Start from the container's own process spec so an execution gets the
    # same capabilities, rlimits and noNewPrivileges as the sandbox's init.
    process = dict(sandbox.process)
    base = dict(entry.split("=", 1) for entry in process.get("env", []))
    base.update(env)
    process["args"] = list(argv)
    process["env"] = [f"{k}={v}" for k, v in base.items()]
    process["cwd"] = cwd
    return process


def _usage(sandbox: Sandbox) -> dict[str, float]:
    usage = cgroups.memory_usage(sandbox.cgroups_path)
    return {} if usage is None else {"sandbox_memory_bytes": float(usage)}


def _start_failure_code(runsc: Runsc, sandbox: Sandbox, stderr: bytes) -> int:
    # runsc could not start the command. Report it the way a shell does
    # when the sandbox is fine; otherwise the sandbox itself is broken.
    text = stderr.decode(errors="replace")
    if "no such file or directory" in text:
        return 127
    if "permission denied" in text:
        return 126
    if runsc.status(sandbox.container_id) != "running":
        raise SandboxError(
            f"sandbox of container {sandbox.container_id!r} is not running: "
            f"{text.strip()}",
            container_id=sandbox.container_id,
        )
    return 128


def _raise_if_failed(
    runsc: Runsc, sandbox: Sandbox, exit_code: int | None, partial: dict[str, bytes]
) -> None:
    """Raise the typed error if the sandbox died during the execution.

    runsc exec exits with 128 when it loses the sandbox, so only then is
    `runsc state` called, because it costs about 10 ms. The cgroup counters
    are cheap and always read.
    """
    cid = sandbox.container_id
    if sandbox.status == "terminating":
        raise SandboxError(
            f"container {cid!r} was closed during the execution", container_id=cid
        )
    limit = cgroups.limit_hit(sandbox.cgroups_path)
    lost = exit_code == 128 and _lost_sandbox(partial["partial_stderr"])
    if limit is None and lost and _stopped(runsc, sandbox):
        limit = cgroups.limit_hit(sandbox.cgroups_path) or "stopped"
    if limit is None:
        return
    mark_failed(runsc, sandbox, limit)
    if limit == "memory":
        raise OutOfMemoryError(
            f"container {cid!r} used more than its {sandbox.memory_mb} MB memory "
            "limit, so the sandbox was killed: raise resources.memory_mb and "
            "create the container again",
            container_id=cid,
            **partial,
        )
    if limit == "pids":
        raise TooManyProcessesError(
            f"container {cid!r} started more processes than its pids limit "
            "allows, so the sandbox was killed: raise resources.pids and create "
            "the container again",
            container_id=cid,
            **partial,
        )
    raise SandboxError(
        f"sandbox of container {cid!r} stopped during the execution; see "
        f"{sandbox.log_path} on its node",
        container_id=cid,
    )


def _stopped(runsc: Runsc, sandbox: Sandbox) -> bool:
    """Return True once `runsc state` reports the sandbox as gone.

    A crashed sandbox process stays a zombie until the child reaper takes
    it, and runsc reports it as running until then.
    """
    deadline = time.monotonic() + _STOPPED_WAIT_S
    while time.monotonic() < deadline:
        try:
            status = runsc.status(sandbox.container_id)
        except RunscError:
            status = "unknown"
        if status in ("stopped", "missing"):
            return True
        time.sleep(_POLL_S)
    return False


def _lost_sandbox(stderr: bytes) -> bool:
    # runsc exec writes this when its connection to the sandbox breaks,
    # for example "urpc method \"containerManager.WaitPID\" failed: EOF".
    return b"urpc method" in stderr[-4096:]


def mark_failed(runsc: Runsc, sandbox: Sandbox, limit: str) -> None:
    """Record that a limit killed the sandbox and make sure it is stopped."""
    with sandbox.lock:
        if sandbox.failure is None:
            sandbox.failure = limit
        sandbox.status = "failed"
    # The sentry may survive a rejected fork; stop it so the failure is final.
    with contextlib.suppress(RunscError):
        runsc.kill(sandbox.container_id, sandbox.network, "KILL")


def kill_guest_tree(runsc: Runsc, sandbox: Sandbox, pid_file: Path) -> None:
    """Kill an execution's guest process and its descendants."""
    try:
        root = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    for _ in range(3):
        try:
            processes = runsc.ps(sandbox.container_id, sandbox.network)
        except RunscError:
            return
        children: dict[int, list[int]] = {}
        for process in processes:
            children.setdefault(process.ppid, []).append(process.pid)
        alive = {p.pid for p in processes}
        victims = _descendants(root, children) | ({root} & alive)
        if not victims:
            return
        for pid in sorted(victims):
            with contextlib.suppress(RunscError):
                runsc.kill(sandbox.container_id, sandbox.network, "KILL", pid=pid)


def _descendants(root: int, children: Mapping[int, list[int]]) -> set[int]:
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def pause(runsc: Runsc, sandbox: Sandbox) -> None:
    _require_running(sandbox, "pause")
    runsc.run(sandbox.network, "pause", sandbox.container_id)
    sandbox.status = "paused"


def resume(runsc: Runsc, sandbox: Sandbox) -> None:
    if sandbox.status != "paused":
        _require_running(sandbox, "resume")
        return
    runsc.run(sandbox.network, "resume", sandbox.container_id)
    sandbox.status = "running"


def checkpoint(runsc: Runsc, sandbox: Sandbox) -> Path:
    """Save the sandbox's memory and processes to a new image directory.

    The sandbox stops and its container is deleted, so its memory is freed;
    ``restore`` starts it again from the image. runsc refuses a non-empty
    image directory, so each checkpoint gets a fresh one.
    """
    if sandbox.status == "paused":
        resume(runsc, sandbox)
    _require_running(sandbox, "checkpoint")
    image = sandbox.bundle / f"image-{sandbox.next_sequence()}"
    image.mkdir(mode=0o700)
    cid = sandbox.container_id
    try:
        # `checkpoint --leave-running` never returns in this runsc build, so
        # the sandbox always stops here and is restored later.
        runsc.run(sandbox.network, "checkpoint", "--image-path", str(image), cid)
    except RunscError:
        shutil.rmtree(image, ignore_errors=True)
        raise
    sandbox.status = "checkpointed"
    sandbox.image = image
    runsc.delete(cid, sandbox.network)
    return image


def restore(runsc: Runsc, sandbox: Sandbox, image: Path) -> None:
    """Start the sandbox again from ``image``; processes continue from there."""
    if sandbox.status != "checkpointed":
        _require_running(sandbox, "restore")
        return
    if not (image / "checkpoint.img").is_file():
        raise SandboxError(
            f"checkpoint image {str(image)!r} of container {sandbox.container_id!r} "
            "not found on this node",
            container_id=sandbox.container_id,
        )
    runsc.spawn(
        sandbox.network,
        "restore",
        "--detach",
        "--image-path",
        str(image),
        "--bundle",
        str(sandbox.bundle),
        sandbox.container_id,
        log_path=sandbox.log_path,
        sandbox_id=sandbox.container_id,
    )
    sandbox.status = "running"
    sandbox.image = None
    shutil.rmtree(image, ignore_errors=True)


def stop_gracefully(runsc: Runsc, sandbox: Sandbox, grace_s: float) -> None:
    """Send SIGTERM to every guest process and wait up to ``grace_s``.

    Returns early once only the init process is left. Guests that ignore
    SIGTERM are killed by the `runsc delete --force` that follows. The
    caller has checked that the sandbox was running.
    """
    if grace_s <= 0:
        return
    cid, network = sandbox.container_id, sandbox.network
    try:
        if len(runsc.ps(cid, network)) <= 1:
            return
        runsc.kill(cid, network, signal.SIGTERM.name, all_processes=True)
    except RunscError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        time.sleep(_POLL_S)
        try:
            if len(runsc.ps(cid, network)) <= 1:
                return
        except RunscError:
            return


def remove(runsc: Runsc, sandbox: Sandbox) -> list[str]:
    """Delete the container, its cgroup and its bundle; return what is left."""
    cid = sandbox.container_id
    left = []
    if runsc.status(cid) != "missing":
        try:
            runsc.delete(cid, sandbox.network)
        except RunscError as exc:
            left.append(f"runsc container: {exc}")
    if cgroups.has_processes(sandbox.cgroups_path):
        left.append(f"processes in cgroup {sandbox.cgroups_path}")
    else:
        left += [f"cgroup {p}" for p in cgroups.remove(sandbox.cgroups_path)]
    if not left:
        shutil.rmtree(sandbox.bundle, ignore_errors=True)
        if sandbox.bundle.exists():
            left.append(f"bundle {sandbox.bundle}")
    return left
