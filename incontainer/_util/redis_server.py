"""Start and stop a private ``redis-server`` bound to 127.0.0.1.

Used by the embedded default and by the test fixtures. The server runs with
AOF on (``appendfsync everysec``) in its own data directory and listens only
on loopback, on a port picked free at start.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from incontainer.errors import BackendUnavailableError, StoreUnavailableError

__all__ = ["RedisServer", "find_redis_server", "free_port"]

INSTALL_HINT = "install it with `apt-get install redis-server`"


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this child when its parent dies.

    Runs in the child between fork and exec. The signal fires when the
    thread that started the server exits, so servers are started from a
    thread that lives as long as their owner (the main thread, normally).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_redis_server() -> str | None:
    """Return the path of ``redis-server`` or None when it is not installed."""
    return shutil.which("redis-server")


class RedisServer:
    """A ``redis-server`` child process owned by this object.

    ``start()`` blocks until the server replies to PING; ``stop()`` shuts it down
    and waits for the process, and is safe to call twice.
    """

    def __init__(self, data_dir: Path, *, port: int | None = None, aof: bool = True):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.aof = aof
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer 127.0.0.1:{self.port} {state} dir={self.data_dir}>"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        binary = find_redis_server()
        if binary is None:
            raise BackendUnavailableError(
                "redis-server not found", program="redis-server", hint=INSTALL_HINT
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
        args = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.aof else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
            "--pidfile", str(self.data_dir / "redis.pid"),
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        self._wait_ready(timeout_s)
        return self

    def _stop_orphan(self) -> None:
        """Stop a redis-server left on this data directory by a dead owner.

        Two servers appending to one AOF directory corrupt it. The caller
        holds the directory's lock, so a server still running there was
        started by a process that died before it could stop it.
        """
        pid_file = self.data_dir / "redis.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except (OSError, ValueError):
            return
        if b"redis-server" not in cmdline or Path(cwd) != self.data_dir.resolve():
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        log_tail = self._log_tail()
        self.stop()
        raise StoreUnavailableError(
            f"redis-server on 127.0.0.1:{self.port} did not become ready within "
            f"{timeout_s} s; its log ends with: {log_tail}"
        )

    def _log_tail(self) -> str:
        try:
            lines = (self.data_dir / "redis.log").read_text().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:])

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would (for fault tests)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> RedisServer:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
