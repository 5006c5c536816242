"""The sandbox's handle on its worker process."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from incontainer._util.priority import normal_priority
from incontainer.actors.wasm.protocol import read_frame, write_frame

__all__ = ["WorkerProcess"]


class WorkerProcess:
    """One running ``incontainer.actors.wasm.worker`` child.

    Guest stdout and stderr land in two memfds shared with the child, so
    they stay readable after the child is killed. ``kill`` is safe to call
    twice and from another thread while ``receive`` waits.
    """

    def __init__(self, *, cache_dir: Path, fuel: bool) -> None:
        self.fuel = fuel
        self.stdout_fd = os.memfd_create("incontainer-wasm-stdout")
        self.stderr_fd = os.memfd_create("incontainer-wasm-stderr")
        lifeline_read, self._lifeline_write = os.pipe()
        command = [
            sys.executable,
            "-m",
            "incontainer.actors.wasm.worker",
            "--cache-dir",
            str(cache_dir),
            "--lifeline-fd",
            str(lifeline_read),
            "--stdout-fd",
            str(self.stdout_fd),
            "--stderr-fd",
            str(self.stderr_fd),
        ]
        if fuel:
            command.append("--fuel")
        # The worker runs the guest, so it gets normal priority, as the same
        # module run by wasmtime-py directly would.
        normal_priority()
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
                pass_fds=(lifeline_read, self.stdout_fd, self.stderr_fd),
                cwd="/",
            )
        except BaseException:
            self._close_fds()
            raise
        finally:
            os.close(lifeline_read)
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._request_fd = self._proc.stdin.fileno()
        self._reply_fd = self._proc.stdout.fileno()
        self.killed = False
        # Requests sent and module paths the worker was asked to load.
        self.requests = 0
        self.modules: set[str] = set()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def alive(self) -> bool:
        return not self.killed and self._proc.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        """Send one request; raises OSError when the worker is gone."""
        write_frame(self._request_fd, message)

    def receive(self, deadline: float | None) -> dict[str, Any]:
        """Wait for one reply; see ``protocol.read_frame`` for the errors."""
        return read_frame(self._reply_fd, deadline)

    def read_output(self, cap: int) -> tuple[bytes, bytes]:
        """Return the guest output captured so far by the current execution."""
        return _read_memfd(self.stdout_fd, cap), _read_memfd(self.stderr_fd, cap)

    def exit_status(self) -> int | None:
        return self._proc.poll()

    def interrupt(self) -> None:
        """SIGKILL the worker without reaping it; safe from any thread."""
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()

    def kill(self) -> None:
        """SIGKILL the worker, reap it and close every descriptor.

        Only the thread that drives the worker may call this, because it
        closes the descriptors that ``receive`` and ``read_output`` use.
        """
        if self.killed:
            return
        self.killed = True
        self.interrupt()
        self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self._lifeline_write, self.stdout_fd, self.stderr_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_memfd(fd: int, cap: int) -> bytes:
    size = min(os.fstat(fd).st_size, cap)
    return os.pread(fd, size, 0) if size else b""
