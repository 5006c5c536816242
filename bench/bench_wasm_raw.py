"""Compare WasmSandbox.execute with raw wasmtime-py in the same run.

Usage: ``python bench/bench_wasm_raw.py [--runs N]``. Two workloads run warm
(after warm-up runs) both ways: ``true`` (a trivial module) and ``sha256sum``
over a 1 MiB file (about 10 ms of guest work). The raw side compiles each
module once and creates a fresh Store, WASI configuration and instance per
run in this process, capturing stdout with a callback as the sandbox does.
Prints a markdown table of medians, overheads and ratios.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import wasmtime

from incontainer.actors.wasm import TOOLS_DIR, WasmSandbox
from incontainer.config import Resources

WORK_FILE_BYTES = 1 << 20


def median_ms(run: Callable[[], object], runs: int) -> float:
    return paired_medians_ms([run], runs)[0]


def paired_medians_ms(
    functions: Sequence[Callable[[], object]], runs: int
) -> list[float]:
    """Return the median ms of each function, timed in turn within each round.

    Alternating the functions run by run lets every one of them see the same
    load from other processes, which on a shared 2-core VM drifts by tens of
    percent over a few seconds.
    """
    for _ in range(max(3, runs // 10)):
        for function in functions:
            function()
    samples: list[list[float]] = [[] for _ in functions]
    for _ in range(runs):
        for function, timings in zip(functions, samples, strict=True):
            start = time.perf_counter()
            function()
            timings.append(time.perf_counter() - start)
    return [statistics.median(timings) * 1000.0 for timings in samples]


class RawRunner:
    """Run WASI commands with wasmtime-py directly, one process, no worker."""

    def __init__(self, workspace: Path) -> None:
        self.engine = wasmtime.Engine()
        self.linker = wasmtime.Linker(self.engine)
        self.linker.define_wasi()
        self.workspace = workspace
        self.modules: dict[str, wasmtime.Module] = {}

    def run(self, tool: str, args: list[str]) -> bytes:
        module = self.modules.get(tool)
        if module is None:
            module = wasmtime.Module.from_file(
                self.engine, str(TOOLS_DIR / f"{tool}.wasm")
            )
            self.modules[tool] = module
        out: list[bytes] = []
        wasi = wasmtime.WasiConfig()
        wasi.argv = [tool, *args]
        wasi.env = [("PWD", "/workspace")]
        wasi.preopen_dir(str(self.workspace), "/workspace", True)
        wasi.stdout_custom = out.append
        store = wasmtime.Store(self.engine)
        store.set_wasi(wasi)
        store.set_limits(memory_size=256 << 20)
        instance = self.linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            if exc.code != 0:
                raise
        return b"".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed runs per case")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        (workspace / "data.bin").write_bytes(os.urandom(WORK_FILE_BYTES))
        cache = Path(tmp) / "cache"
        raw = RawRunner(workspace)
        cases = [
            ("trivial (`true`)", "true", []),
            ("sha256sum 1 MiB", "sha256sum", ["data.bin"]),
        ]
        rows = []
        with WasmSandbox(workspace, resources=Resources(), cache_dir=cache) as box:
            for label, tool, tool_args in cases:
                assert box.execute(tool, tool_args).stdout == raw.run(tool, tool_args)
                raw_run = functools.partial(raw.run, tool, tool_args)
                box_run = functools.partial(box.execute, tool, tool_args)
                raw_ms = median_ms(raw_run, args.runs)
                box_ms = median_ms(box_run, args.runs)
                rows.append((label, raw_ms, box_ms))

    print(f"runs per case: {args.runs}, medians in ms\n")
    print("| workload | raw wasmtime-py | WasmSandbox.execute | overhead | ratio |")
    print("|---|---:|---:|---:|---:|")
    for label, raw_ms, box_ms in rows:
        print(
            f"| {label} | {raw_ms:.3f} | {box_ms:.3f} | "
            f"{box_ms - raw_ms:+.3f} | {box_ms / raw_ms:.2f}x |"
        )


if __name__ == "__main__":
    main()
