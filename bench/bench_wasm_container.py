"""WASM container through Ray versus raw wasmtime-py, in the same run.

Usage: ``python bench/bench_wasm_container.py [--runs N]``. Starts the
embedded default (a local Ray on 127.0.0.1 and a private redis-server) in a
temporary data directory and measures, with medians:

- warm execution of a trivial module (the ``true`` tool) and of about 10 ms
  of guest work (``sha256sum`` over a 1 MiB file) through
  ``ContainerManager.execute_command``, which is a Ray actor call into the
  container's sandbox, versus raw wasmtime-py in this process with the
  module compiled once and a fresh Store and instance per run. The two
  sides alternate run by run, so both see the same load;
- container create-to-first-result: create, start and the first ``echo``
  through a new container actor, versus raw wasmtime-py compiling and
  running ``echo`` once.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench_wasm_raw import WORK_FILE_BYTES, RawRunner, paired_medians_ms

from incontainer import ContainerConfig, create_container_manager
from incontainer.manager import ContainerManager


def create_to_first_result(manager: ContainerManager, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        container_id = manager.create_container(ContainerConfig(name="bench"))
        manager.start_container(container_id)
        manager.execute_command(container_id, "echo", ["first"])
        samples.append(time.perf_counter() - start)
        manager.terminate_container(container_id)
    return statistics.median(samples) * 1000.0


def raw_first_result(workspace: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        RawRunner(workspace).run("echo", ["first"])
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed runs per case")
    parser.add_argument("--cold-runs", type=int, default=5, help="new containers")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "raw-workspace"
        workspace.mkdir()
        data = os.urandom(WORK_FILE_BYTES)
        (workspace / "data.bin").write_bytes(data)
        raw = RawRunner(workspace)
        rows = []
        with create_container_manager(data_dir=Path(tmp) / "data") as manager:
            container_id = manager.create_container(ContainerConfig(name="warm"))
            manager.write_files(container_id, {"data.bin": data})
            manager.start_container(container_id)
            execute = functools.partial(manager.execute_command, container_id)
            for label, tool, tool_args in [
                ("trivial (`true`)", "true", []),
                ("sha256sum 1 MiB (about 10 ms)", "sha256sum", ["data.bin"]),
            ]:
                assert execute(tool, tool_args).stdout == raw.run(tool, tool_args)
                raw_ms, box_ms = paired_medians_ms(
                    [
                        functools.partial(raw.run, tool, tool_args),
                        functools.partial(execute, tool, tool_args),
                    ],
                    args.runs,
                )
                rows.append((label, raw_ms, box_ms))
            manager.terminate_container(container_id)
            cold_ms = create_to_first_result(manager, args.cold_runs)
        raw_cold_ms = raw_first_result(workspace, args.cold_runs)

    print(f"runs per warm case: {args.runs}; new containers: {args.cold_runs}")
    print("medians in ms\n")
    print("| case | raw wasmtime-py | WASM container via Ray | overhead | ratio |")
    print("|---|---:|---:|---:|---:|")
    for label, raw_ms, box_ms in rows:
        print(
            f"| warm {label} | {raw_ms:.3f} | {box_ms:.3f} | "
            f"{box_ms - raw_ms:+.3f} | {box_ms / raw_ms:.2f}x |"
        )
    print(
        f"| create-to-first-result (`echo`) | {raw_cold_ms:.3f} | {cold_ms:.3f} | "
        f"{cold_ms - raw_cold_ms:+.3f} | {cold_ms / raw_cold_ms:.2f}x |"
    )


if __name__ == "__main__":
    main()
