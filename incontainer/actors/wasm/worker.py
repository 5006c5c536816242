"""The worker process that runs WASM guests for one sandbox.

Start it with ``python -m incontainer.actors.wasm.worker``; the sandbox does
so and drives it over its stdin and stdout with frames from
``incontainer.actors.wasm.protocol``. The worker keeps one wasmtime Engine,
a Linker with WASI defined and every module it has loaded, so an execution
only creates a Store, a WASI configuration and an instance.

Guests run in a separate process because a wall-clock deadline must hold
while a guest blocks in a host call such as ``poll_oneoff`` (sleep). Epoch
interruption fires only when the call returns, but the parent can SIGKILL
this process at any moment.

Each request gets one reply frame, ``done`` or ``error``, when its module is
already loaded. Otherwise the worker first sends ``loading`` and, once the
module is ready, ``started``. The sandbox starts the guest's deadline only
then, because compiling CPython takes seconds. A loaded module skips those
frames, because each extra round trip costs a process wake-up.

The worker exits when its parent dies: a daemon thread blocks reading the
lifeline pipe, whose write end only the parent holds, and ends the process
on end of file.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime

from incontainer.actors.wasm.cache import ModuleCache
from incontainer.actors.wasm.protocol import read_frame, write_frame
from incontainer.actors.wasm.runtime import EngineOptions

__all__ = ["main"]


@dataclass
class _LoadedModule:
    signature: tuple[int, int, int, int]
    pre: wasmtime.InstancePre


class _Capture:
    """A WASI output callback that keeps the first ``cap`` bytes in a file.

    The file is a memfd shared with the parent, so the parent can still read
    the partial output after it killed this process. Bytes past the cap are
    counted and dropped; every write succeeds for the guest.
    """

    def __init__(self, fd: int, cap: int) -> None:
        self.fd = fd
        self.cap = cap
        self.written = 0
        self.truncated = False
        os.ftruncate(fd, 0)

    def __call__(self, data: bytes) -> None:
        room = self.cap - self.written
        if len(data) > room:
            self.truncated = True
            data = data[:room]
        if data:
            os.pwrite(self.fd, data, self.written)
            self.written += len(data)


class Worker:
    """Execute run requests with one engine and a cache of modules."""

    def __init__(self, args: argparse.Namespace) -> None:
        options = EngineOptions(fuel=args.fuel)
        config = wasmtime.Config()
        config.consume_fuel = options.fuel
        self.fuel_enabled = options.fuel
        self.engine = wasmtime.Engine(config)
        self.linker = wasmtime.Linker(self.engine)
        self.linker.define_wasi()
        self.cache = ModuleCache(self.engine, Path(args.cache_dir), options.cache_tag())
        self.modules: dict[str, _LoadedModule] = {}
        self.stdout_fd: int = args.stdout_fd
        self.stderr_fd: int = args.stderr_fd
        self.stdin_fd = os.memfd_create("incontainer-wasm-stdin")

    def is_loaded(self, path: str) -> bool:
        """Return whether ``path`` is loaded and unchanged on disk since."""
        known = self.modules.get(path)
        return known is not None and known.signature == _signature(path)

    def load(self, path: str, sha256: str | None) -> dict[str, Any]:
        """Make ``path`` ready to instantiate; return how it was obtained."""
        signature = _signature(path)
        known = self.modules.get(path)
        if known is not None and known.signature == signature:
            return {"compiled": False, "cache_hit": False, "replaced_corrupt": False}
        outcome = self.cache.load(Path(path), sha256)
        pre = self.linker.instantiate_pre(outcome.module)
        self.modules[path] = _LoadedModule(signature, pre)
        return {
            "compiled": outcome.compiled,
            "cache_hit": outcome.cache_hit,
            "replaced_corrupt": outcome.replaced_corrupt,
        }

    def run(self, request: dict[str, Any], reply_fd: int) -> dict[str, Any]:
        """Run one guest to completion and return the ``done`` frame."""
        stdout = _Capture(self.stdout_fd, request["output_cap"])
        stderr = _Capture(self.stderr_fd, request["output_cap"])
        load_started = time.monotonic()
        try:
            ready = self.is_loaded(request["module"])
            if not ready:
                write_frame(reply_fd, {"event": "loading"})
            loaded = self.load(request["module"], request.get("sha256"))
        except (OSError, wasmtime.WasmtimeError) as exc:
            return {"event": "error", "phase": "load", "message": str(exc)}
        if not ready:
            write_frame(reply_fd, {"event": "started", **loaded})
        load_s = time.monotonic() - load_started

        store = wasmtime.Store(self.engine)
        store.set_wasi(self._wasi_config(request, stdout, stderr))
        store.set_limits(memory_size=request["memory_bytes"])
        fuel = request.get("fuel")
        if self.fuel_enabled:
            store.set_fuel(fuel if fuel is not None else 2**63 - 1)
        result = self._call_start(store, self.modules[request["module"]].pre)
        if self.fuel_enabled and fuel is not None:
            result["fuel_consumed"] = fuel - store.get_fuel()
        result["truncated"] = stdout.truncated or stderr.truncated
        if ready:
            result.update(loaded, load_s=load_s)
        return result

    def _wasi_config(
        self, request: dict[str, Any], stdout: _Capture, stderr: _Capture
    ) -> wasmtime.WasiConfig:
        wasi = wasmtime.WasiConfig()
        wasi.argv = request["argv"]
        wasi.env = request["env"]
        for host, guest, writable in request["preopens"]:
            wasi.preopen_dir(host, guest, writable)
        wasi.stdout_custom = stdout
        wasi.stderr_custom = stderr
        stdin = request.get("stdin")
        if stdin is not None:
            # wasmtime-py 50 only takes stdin from a path, which it opens at
            # once; /proc/self/fd/N reopens the memfd at offset 0.
            os.ftruncate(self.stdin_fd, 0)
            os.pwrite(self.stdin_fd, stdin, 0)
            wasi.stdin_file = f"/proc/self/fd/{self.stdin_fd}"
        return wasi

    def _call_start(
        self, store: wasmtime.Store, pre: wasmtime.InstancePre
    ) -> dict[str, Any]:
        done: dict[str, Any] = {"event": "done", "kind": "exit", "exit_code": 0}
        try:
            instance = pre.instantiate(store)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            return {"event": "done", "kind": "instantiate", "message": str(exc)}
        exports = instance.exports(store)
        start = exports.get("_start")
        if not isinstance(start, wasmtime.Func):
            return {
                "event": "done",
                "kind": "instantiate",
                "message": "module exports no _start function; only WASI "
                "commands can run",
            }
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            done["exit_code"] = exc.code
        except wasmtime.Trap as exc:
            code = exc.trap_code
            done.update(
                kind="trap", trap_code=code.name if code else "", message=str(exc)
            )
        except wasmtime.WasmtimeError as exc:
            done.update(kind="error", message=str(exc))
        memory = exports.get("memory")
        if isinstance(memory, wasmtime.Memory):
            done["memory_bytes"] = memory.data_len(store)
        return done


def _signature(path: str) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _serve(worker: Worker, request_fd: int, reply_fd: int) -> None:
    while True:
        try:
            request = read_frame(request_fd)
        except EOFError:
            return
        try:
            reply = worker.run(request, reply_fd)
        except Exception as exc:
            # Anything unexpected goes back to the sandbox, which raises it.
            detail = "".join(traceback.format_exception_only(exc)).strip()
            reply = {"event": "error", "phase": "run", "message": detail}
        write_frame(reply_fd, reply)


def _watch_lifeline(fd: int) -> None:
    while os.read(fd, 4096):
        pass
    os._exit(0)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run WASM guests for a sandbox.")
    parser.add_argument("--cache-dir", required=True, help="compiled-module cache")
    parser.add_argument("--fuel", action="store_true", help="meter guests with fuel")
    parser.add_argument("--lifeline-fd", type=int, required=True)
    parser.add_argument("--stdout-fd", type=int, required=True)
    parser.add_argument("--stderr-fd", type=int, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve run requests on stdin until it closes or the parent dies."""
    args = _parse_args(argv)
    threading.Thread(
        target=_watch_lifeline, args=(args.lifeline_fd,), daemon=True
    ).start()
    # Replies go to a private copy of stdout, and fd 1 then points at stderr.
    # So stray prints (wasmtime-py prints failed output callbacks) cannot
    # corrupt the frame stream.
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    _serve(Worker(args), request_fd=0, reply_fd=reply_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
