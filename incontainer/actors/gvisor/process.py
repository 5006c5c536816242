"""Host processes of the node actor: the child reaper and `runsc exec` runs."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from incontainer._util.priority import normal_priority

__all__ = ["ChildReaper", "ProcessOutcome", "run_captured"]

logger = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36
# runsc re-executes itself through /proc/self/exe for the sandbox, the gofer
# and the ptrace stubs, so their command name is "exe". The runsc command
# line processes this module starts keep the name "runsc" and are waited for
# by subprocess, so the reaper never takes their exit status away.
_SANDBOX_COMM = "exe"
# Seconds `runsc exec` may take to return after its guest process was killed.
_EXIT_GRACE_S = 10.0
_READ_CHUNK = 65536


class ChildReaper:
    """Adopt and reap the sandbox processes that runsc leaves behind.

    `runsc create` exits after starting the sandbox and gofer processes, so
    they are re-parented. Without a subreaper they go to PID 1, and when PID
    1 reaps slowly (about 1.8 s in the Firecracker VM these numbers come
    from) `runsc kill` and `delete` wait for the zombie: 1.5 to 3.5 s per
    teardown. As subreaper this process reaps them within ``interval_s``,
    which brought kill plus delete down to about 40 ms there.
    """

    def __init__(self, interval_s: float = 0.02):
        self.interval_s = interval_s
        self.enabled = False
        self.reaped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            logger.warning(
                "prctl(PR_SET_CHILD_SUBREAPER) failed with errno %d; "
                "sandbox teardown will wait for PID 1 to reap",
                ctypes.get_errno(),
            )
            return
        self.enabled = True
        self._thread = threading.Thread(
            target=self._run, name="gvisor-child-reaper", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.reap()
            except OSError:
                logger.exception("reaping sandbox processes failed")

    def reap(self) -> int:
        """Reap every zombie child that is a sandbox process; return the count."""
        try:
            if os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                return 0
        except ChildProcessError:
            return 0
        count = 0
        for pid in _zombie_children():
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    count += 1
        self.reaped += count
        return count


def _zombie_children() -> list[int]:
    zombies = []
    for task in Path("/proc/self/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in children:
            comm, state = _comm_and_state(int(pid))
            if state == "Z" and comm == _SANDBOX_COMM:
                zombies.append(int(pid))
    return zombies


def _comm_and_state(pid: int) -> tuple[str, str]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "", ""
    # The command name is in parentheses and may itself contain spaces.
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    state = stat[stat.rindex(")") + 2 :].split(" ", 1)[0]
    return comm, state


@dataclass(frozen=True)
class ProcessOutcome:
    """Exit status and captured output of one process.

    ``exit_code`` is None when the deadline passed and the process was
    killed. ``truncated`` is true when either stream passed its cap.
    """

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    truncated: bool
    duration_s: float

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


class _Capture:
    def __init__(self, cap: int):
        self.cap = cap
        self.chunks: list[bytes] = []
        self.size = 0
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap - self.size
        if room > 0:
            kept = data[:room]
            self.chunks.append(kept)
            self.size += len(kept)

    def value(self) -> bytes:
        return b"".join(self.chunks)


def run_captured(
    argv: Sequence[str],
    *,
    stdin: bytes | None,
    timeout_s: float | None,
    output_cap: int,
    on_timeout: Callable[[], None],
) -> ProcessOutcome:
    """Run ``argv`` with stdout and stderr captured up to ``output_cap`` each.

    Output past the cap is read and dropped so the guest never blocks on a
    full pipe. The run ends when the process exits, not at end of file:
    a guest's background process may hold the pipes open for longer, and
    whatever it writes after the exit is lost. At the deadline
    ``on_timeout`` must make the process exit (by killing its guest side).
    """
    normal_priority()
    started = time.monotonic()
    deadline = None if timeout_s is None else started + timeout_s
    stdin_fd = _stdin_fd(stdin)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = subprocess.Popen(
            list(argv), stdin=stdin_fd, stdout=out_w, stderr=err_w, close_fds=True
        )
    finally:
        for fd in (stdin_fd, out_w, err_w):
            if fd >= 0:
                os.close(fd)
    captures = {out_r: _Capture(output_cap), err_r: _Capture(output_cap)}
    try:
        exited = _pump(proc, captures, deadline)
        if not exited:
            on_timeout()
            _wait_or_kill(proc)
        _drain(captures)
    finally:
        for fd in captures:
            os.close(fd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = captures[out_r], captures[err_r]
    return ProcessOutcome(
        exit_code=proc.returncode if exited else None,
        stdout=out.value(),
        stderr=err.value(),
        truncated=out.total > out.size or err.total > err.size,
        duration_s=time.monotonic() - started,
    )


def _stdin_fd(stdin: bytes | None) -> int:
    if stdin is None:
        return os.open(os.devnull, os.O_RDONLY)
    # A memfd rather than a pipe, so writing stdin never waits for the guest
    # to read it and nothing is written to disk.
    fd = os.memfd_create("incontainer-stdin", os.MFD_CLOEXEC)
    _write_all(fd, stdin)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pump(
    proc: subprocess.Popen[bytes],
    captures: dict[int, _Capture],
    deadline: float | None,
) -> bool:
    """Copy output until the process exits (True) or the deadline (False)."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        with selectors.DefaultSelector() as selector:
            for fd in captures:
                selector.register(fd, selectors.EVENT_READ)
            selector.register(pidfd, selectors.EVENT_READ)
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                for key, _ in selector.select(remaining):
                    if key.fd == pidfd:
                        proc.wait()
                        return True
                    data = os.read(key.fd, _READ_CHUNK)
                    if data:
                        captures[key.fd].add(data)
                    else:
                        selector.unregister(key.fd)
    finally:
        os.close(pidfd)


def _drain(captures: dict[int, _Capture]) -> None:
    # Output written before the exit is already in the pipes; read it
    # without waiting for writers that outlive the process.
    for fd, capture in captures.items():
        os.set_blocking(fd, False)
        while True:
            try:
                data = os.read(fd, _READ_CHUNK)
            except BlockingIOError:
                break
            if not data:
                break
            capture.add(data)


def _wait_or_kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=_EXIT_GRACE_S)
    except subprocess.TimeoutExpired:
        logger.warning(
            "runsc exec %d did not exit after its guest was killed", proc.pid
        )
        proc.kill()
        proc.wait()
