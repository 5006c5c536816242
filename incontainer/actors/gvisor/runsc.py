"""A thin wrapper around the runsc command line.

Every call passes the same global flags (``--root`` and ``--network``),
because runsc 0.0~20221219 reads them again on each command: a ``start``
without ``--network=none`` tries to set up networking for a sandbox that was
created without it and fails.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incontainer._util.priority import normal_priority
from incontainer.errors import BackendUnavailableError, SandboxError

__all__ = ["GuestProcess", "Runsc", "RunscError", "find_runsc"]

_INSTALL_HINT = (
    "install it with `apt-get install runsc` (Debian 12) or from "
    "https://gvisor.dev/docs/user_guide/install/"
)
# Seconds a runsc command other than exec may take. The slowest measured is
# `delete` of a running sandbox at about 2 s when nothing reaps its processes.
_COMMAND_TIMEOUT_S = 60.0


class RunscError(SandboxError):
    """A runsc command failed, as ``command``, ``returncode`` and ``stderr`` show."""

    def __init__(
        self,
        message: str,
        *,
        command: str,
        returncode: int,
        stderr: str,
        container_id: str = "",
    ):
        super().__init__(message, container_id=container_id)
        self.command = command
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class GuestProcess:
    """One row of `runsc ps`: a process in the sandbox's PID namespace."""

    pid: int
    ppid: int
    command: str


def find_runsc() -> str:
    """Return the path of runsc or raise BackendUnavailableError."""
    path = shutil.which("runsc")
    if path is None:
        raise BackendUnavailableError(
            "runsc not found on PATH", program="runsc", hint=_INSTALL_HINT
        )
    return path


class Runsc:
    """runsc commands against one root directory (``--root``)."""

    def __init__(self, root: Path, *, binary: str | None = None):
        self.root = root
        self.binary = binary or find_runsc()

    def __repr__(self) -> str:
        return f"Runsc(root={str(self.root)!r}, binary={self.binary!r})"

    def argv(self, network: str, *args: str) -> list[str]:
        """Return the full command line of one runsc subcommand."""
        return [self.binary, "--root", str(self.root), f"--network={network}", *args]

    def run(
        self,
        network: str,
        *args: str,
        sandbox_id: str = "",
        timeout_s: float = _COMMAND_TIMEOUT_S,
    ) -> str:
        """Run a short runsc command and return its stdout.

        Not for `create` and `restore`: their sandbox keeps inherited pipes
        open, so they take files instead (see ``spawn``).
        """
        argv = self.argv(network, *args)
        normal_priority()
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RunscError(
                f"runsc {args[0]} timed out after {timeout_s:.0f} s",
                command=args[0],
                returncode=-1,
                stderr="",
                container_id=sandbox_id,
            ) from exc
        if done.returncode != 0:
            raise _error(args[0], done.returncode, done.stderr, sandbox_id)
        return done.stdout.decode(errors="replace")

    def spawn(self, network: str, *args: str, log_path: Path, sandbox_id: str) -> None:
        """Run `create` or `restore` with output appended to ``log_path``.

        The sandbox inherits stdout and stderr, so pipes would never reach
        end of file. O_APPEND matters: without it the sandbox writes its
        later output from offset 0 over what runsc wrote before.
        """
        normal_priority()
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            proc = subprocess.Popen(
                self.argv(network, *args),
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
            )
        finally:
            os.close(fd)
        returncode = _wait(proc, _COMMAND_TIMEOUT_S)
        if returncode != 0:
            with open(log_path, "rb") as log:
                log.seek(start)
                stderr = log.read(8192)
            raise _error(args[0], returncode, stderr, sandbox_id)

    def state(self, sandbox_id: str) -> dict[str, Any] | None:
        """Return `runsc state` of a container, or None if runsc has none."""
        try:
            text = self.run("none", "state", sandbox_id, sandbox_id=sandbox_id)
        except RunscError as exc:
            if "does not exist" in exc.stderr or "not found" in exc.stderr:
                return None
            raise
        state: dict[str, Any] = json.loads(text)
        return state

    def status(self, sandbox_id: str) -> str:
        """Return "running", "paused", "stopped", "created" or "missing"."""
        state = self.state(sandbox_id)
        return "missing" if state is None else str(state.get("status", "unknown"))

    def ps(self, sandbox_id: str, network: str) -> list[GuestProcess]:
        """List the guest's processes (parsed from the table format)."""
        text = self.run(network, "ps", sandbox_id, sandbox_id=sandbox_id)
        processes = []
        for line in text.splitlines()[1:]:
            fields = line.split(None, 7)
            if len(fields) >= 3 and fields[1].isdigit() and fields[2].isdigit():
                command = fields[7] if len(fields) > 7 else ""
                processes.append(GuestProcess(int(fields[1]), int(fields[2]), command))
        return processes

    def list_ids(self) -> list[str]:
        """Return the ids of every container in the root directory."""
        if not self.root.exists():
            return []
        text = self.run("none", "list", "--quiet")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def kill(
        self,
        sandbox_id: str,
        network: str,
        signal: str,
        *,
        all_processes: bool = False,
        pid: int | None = None,
    ) -> None:
        """Send ``signal`` to the container's init, all processes, or ``pid``."""
        args = ["kill"]
        if all_processes:
            args.append("--all")
        if pid is not None:
            args += ["--pid", str(pid)]
        self.run(network, *args, sandbox_id, signal, sandbox_id=sandbox_id)

    def delete(self, sandbox_id: str, network: str) -> None:
        """Delete the container, killing it first if it still runs."""
        self.run(network, "delete", "--force", sandbox_id, sandbox_id=sandbox_id)


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """Wait for ``proc`` without polling; kill it after ``timeout_s``.

    Popen.wait with a timeout sleeps in growing steps of up to 50 ms, which
    added tens of milliseconds to a 115 ms `runsc create`.
    """
    pidfd = os.pidfd_open(proc.pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout_s)
    finally:
        os.close(pidfd)
    if not ready:
        proc.kill()
        proc.wait()
        raise RunscError(
            f"runsc timed out after {timeout_s:.0f} s and was killed",
            command=str(proc.args),
            returncode=-1,
            stderr="",
        )
    return proc.wait()


def _error(command: str, returncode: int, stderr: bytes, sandbox_id: str) -> RunscError:
    text = stderr.decode(errors="replace").strip()
    last_line = text.splitlines()[-1] if text else "no output"
    target = f" for sandbox {sandbox_id!r}" if sandbox_id else ""
    return RunscError(
        f"runsc {command} failed{target} with exit code {returncode}: {last_line}",
        command=command,
        returncode=returncode,
        stderr=text,
        container_id=sandbox_id,
    )
