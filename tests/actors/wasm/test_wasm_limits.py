"""Fuel, wall-clock and memory limits, and the worker process lifetime."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import wasmtime

from incontainer.actors.wasm import WasmSandbox
from incontainer.config import Resources
from incontainer.errors import OutOfFuelError, OutOfMemoryError, TimedOutError

LOOP_WAT = (
    '(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))'
)

MALLOC_LOOP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  size_t total = 0;
  for (;;) {
    char *p = malloc(1 << 20);
    if (p == NULL) {
      fprintf(stderr, "malloc failed after %zu MiB\n", total);
      return 1;
    }
    memset(p, 1, 1 << 20);
    total += (size_t)p[total % 100];
  }
}
"""


def process_exists(pid: int) -> bool:
    """Tell whether ``pid`` is a live or zombie process."""
    return Path(f"/proc/{pid}").exists()


@pytest.fixture
def loop_module(workspace: Path) -> str:
    (workspace / "loop.wasm").write_bytes(wasmtime.wat2wasm(LOOP_WAT))
    return "loop.wasm"


def test_infinite_loop_runs_out_of_fuel(
    workspace: Path, wasm_cache: Path, loop_module: str
) -> None:
    with WasmSandbox(
        workspace, resources=Resources(fuel=1_000_000), cache_dir=wasm_cache
    ) as box:
        with pytest.raises(OutOfFuelError) as info:
            box.execute(loop_module, [])
        ok = box.execute("echo", ["after"])
        stats = box.statistics()
    assert info.value.limit == "fuel"
    assert ok.stdout == b"after\n"
    assert 0 < ok.resource_usage["fuel_consumed"] < 1_000_000
    assert stats["out_of_fuel"] == 1
    assert stats["worker_spawns"] == 1


def test_python_loop_runs_out_of_fuel_with_output(
    workspace: Path, wasm_cache: Path
) -> None:
    with (
        WasmSandbox(
            workspace, resources=Resources(fuel=400_000_000), cache_dir=wasm_cache
        ) as box,
        pytest.raises(OutOfFuelError) as info,
    ):
        box.execute("python", ["-c", "print('started', flush=True)\nwhile True: pass"])
    assert info.value.partial_stdout == b"started\n"


@pytest.mark.realtime
def test_loop_times_out(sandbox: WasmSandbox, loop_module: str) -> None:
    # The loop never ends, so only the deadline can stop it; the assertion
    # does not depend on how long that took.
    pid = sandbox.statistics()["worker_pid"]
    with pytest.raises(TimedOutError) as info:
        sandbox.execute(loop_module, [], timeout_s=0.2)
    assert info.value.limit == "wall_time"
    stats = sandbox.statistics()
    assert stats["timeouts"] == 1
    assert stats["worker_pid"] is None
    assert pid is None or not process_exists(pid)


@pytest.mark.realtime
@pytest.mark.timeout(60)
def test_python_sleep_times_out(sandbox: WasmSandbox) -> None:
    # The guest blocks inside the poll_oneoff host call for 1000 s, so only
    # killing the worker stops it within the 60 s test timeout. That leaves
    # 59 s of margin over the 1 s deadline.
    sandbox.execute("true", [])
    old_pid = sandbox.statistics()["worker_pid"]
    code = "import time; print('before', flush=True); time.sleep(1000)"
    with pytest.raises(TimedOutError) as info:
        sandbox.execute("python", ["-c", code], timeout_s=1)
    assert info.value.partial_stdout == b"before\n"
    assert not process_exists(old_pid)
    after = sandbox.execute("echo", ["again"])
    assert after.stdout == b"again\n"
    assert sandbox.statistics()["worker_spawns"] == 2


@pytest.mark.realtime
@pytest.mark.timeout(60)
def test_c_sleep_times_out_by_default_wall_time(
    workspace: Path, wasm_cache: Path
) -> None:
    # Same margin as above: the 1000 s sleep must end at the 0.5 s default.
    with (
        WasmSandbox(
            workspace, resources=Resources(wall_time_s=0.5), cache_dir=wasm_cache
        ) as box,
        pytest.raises(TimedOutError),
    ):
        box.execute("sleep", ["1000"])


def test_python_bytearray_bomb(sandbox: WasmSandbox) -> None:
    with pytest.raises(OutOfMemoryError) as info:
        sandbox.execute("python", ["-c", "b = bytearray(10**9)"])
    assert info.value.limit == "memory"
    assert b"MemoryError" in info.value.partial_stderr
    assert sandbox.statistics()["out_of_memory"] == 1


def test_python_list_append_bomb(sandbox: WasmSandbox) -> None:
    code = "l = []\nwhile True: l.append(object())"
    with pytest.raises(OutOfMemoryError):
        sandbox.execute("python", ["-c", code])


def test_python_caught_memory_error_is_no_error(sandbox: WasmSandbox) -> None:
    code = "try:\n    b = bytearray(10**9)\nexcept MemoryError:\n    print('caught')"
    result = sandbox.execute("python", ["-c", code])
    assert result.exit_code == 0
    assert result.stdout == b"caught\n"


def test_c_malloc_loop(sandbox: WasmSandbox, workspace: Path, tmp_path: Path) -> None:
    clang = _require_clang()
    source = tmp_path / "malloc_loop.c"
    source.write_text(MALLOC_LOOP_C)
    subprocess.run(
        [
            clang,
            "--target=wasm32-wasi",
            "--sysroot=/usr",
            "-O2",
            "-o",
            str(workspace / "malloc_loop.wasm"),
            str(source),
        ],
        check=True,
    )
    with pytest.raises(OutOfMemoryError) as info:
        sandbox.execute("malloc_loop.wasm", [])
    assert b"malloc failed" in info.value.partial_stderr


def test_memory_limit_below_module_minimum(workspace: Path, wasm_cache: Path) -> None:
    # CPython's module requests 10 MiB of linear memory at instantiation.
    with (
        WasmSandbox(
            workspace, resources=Resources(memory_mb=4), cache_dir=wasm_cache
        ) as box,
        pytest.raises(OutOfMemoryError),
    ):
        box.execute("python", ["-c", "pass"])


def test_short_timeout_excludes_worker_start(workspace: Path, wasm_cache: Path) -> None:
    # A new worker takes about 0.25 s to import wasmtime before it reads the
    # request; only the guest's run counts against the timeout.
    with WasmSandbox(workspace, resources=Resources(), cache_dir=wasm_cache) as box:
        first = box.execute("true", [], timeout_s=0.05)
        again = box.execute("true", [], timeout_s=0.05)
    assert first.exit_code == 0
    assert again.exit_code == 0


def test_close_kills_worker(workspace: Path, wasm_cache: Path) -> None:
    box = WasmSandbox(workspace, resources=Resources(), cache_dir=wasm_cache)
    box.start()
    box.execute("true", [])
    pid = box.statistics()["worker_pid"]
    assert process_exists(pid)
    box.close()
    assert not process_exists(pid)


def test_suspend_releases_worker(sandbox: WasmSandbox) -> None:
    sandbox.execute("true", [])
    pid = sandbox.statistics()["worker_pid"]
    sandbox.suspend()
    assert not process_exists(pid)


@pytest.mark.realtime
@pytest.mark.timeout(60)
def test_worker_exits_when_parent_dies(workspace: Path, wasm_cache: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, pathlib
        from incontainer.actors.wasm import WasmSandbox
        from incontainer.config import Resources
        box = WasmSandbox(pathlib.Path({str(workspace)!r}), resources=Resources(),
                          cache_dir=pathlib.Path({str(wasm_cache)!r}))
        box.start()
        box.execute("true", [])
        print(box.statistics()["worker_pid"], flush=True)
        os._exit(0)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    pid = int(proc.stdout.strip())
    # The worker notices end of file on its lifeline pipe at once; 30 s is
    # a bound for a loaded CI machine, not an expected duration.
    deadline = time.monotonic() + 30
    while _alive_not_zombie(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive_not_zombie(pid)


def _alive_not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _require_clang() -> str:
    from incontainer.actors.wasm.tools.build import find_clang

    clang = find_clang()
    if clang is None:
        pytest.skip("clang not installed")
    return clang


@pytest.mark.realtime
def test_no_orphans_after_many_timeouts(workspace: Path, wasm_cache: Path) -> None:
    pids = []
    with WasmSandbox(workspace, resources=Resources(), cache_dir=wasm_cache) as box:
        for _ in range(3):
            box.execute("true", [])
            pids.append(box.statistics()["worker_pid"])
            with pytest.raises(TimedOutError):
                box.execute("sleep", ["1000"], timeout_s=0.05)
    assert len(set(pids)) == 3
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}")
