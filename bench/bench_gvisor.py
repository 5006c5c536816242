"""gVisor backend latency against raw runsc commands in the same run.

Run ``python bench/bench_gvisor.py`` as root on a machine with runsc. It
starts a local Ray with the ``gvisor`` resource and measures:

1. cold path: container create to first result, that is writing the bundle,
   `runsc create`, `start` and one `exec /bin/true`. GVisorBackend goes
   through the node actor; the raw path runs the same runsc commands with
   subprocess on a bundle from the same bundle writer;
2. warm exec: one `/bin/true` in a running sandbox, GVisorBackend.execute
   versus a raw `runsc exec`.

Rounds alternate between the two sides so drift affects both alike.
Targets: at most 1.3x raw on the cold path and 1.2x on warm exec.
Teardown is not timed on either side.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from incontainer.actors.gvisor import GVisorBackend, SandboxSpec, ensure_node_actor
from incontainer.actors.gvisor.bundle import write_bundle
from incontainer.actors.gvisor.process import ChildReaper
from incontainer.config import IsolationLevel, Resources

RESOURCES = Resources(cpu=1.0, memory_mb=256)


class RawRunsc:
    """The same work as the backend, as plain runsc commands."""

    def __init__(self, base: Path):
        self.base = base
        self.root = base / "root"
        self.root.mkdir(parents=True)
        self.runsc = shutil.which("runsc") or "runsc"

    def argv(self, *args: str) -> list[str]:
        return [self.runsc, "--root", str(self.root), "--network=none", *args]

    def create_start_exec(self, name: str, workspace: Path) -> None:
        bundle = self.base / name
        spec = SandboxSpec(name, str(workspace), resources=RESOURCES)
        write_bundle(bundle, spec, cgroups_path=f"/incontainer-bench/{name}")
        log = os.open(bundle / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            subprocess.run(
                self.argv("create", "--bundle", str(bundle), name),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                check=True,
            )
        finally:
            os.close(log)
        subprocess.run(self.argv("start", name), check=True)
        self.exec_true(name)

    def exec_true(self, name: str) -> None:
        done = subprocess.run(
            self.argv("exec", name, "/bin/true"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"raw runsc exec failed: {done.stderr!r}")

    def remove(self, name: str) -> None:
        subprocess.run(self.argv("delete", "--force", name), check=False)
        shutil.rmtree(self.base / name, ignore_errors=True)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for path in (
                hierarchy / "incontainer-bench" / name,
                hierarchy / "incontainer-bench",
            ):
                if path.is_dir():
                    with contextlib.suppress(OSError):
                        path.rmdir()


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def make_backend(node: Any, name: str, workspace: Path) -> GVisorBackend:
    return GVisorBackend(
        node,
        name,
        resources=RESOURCES,
        mounts=(),
        env={},
        isolation=IsolationLevel.STANDARD,
        workspace=workspace,
    )


def bench_cold(
    node: Any, raw: RawRunsc, workspace: Path, rounds: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"backend": [], "raw": []}
    for i in range(rounds):
        backend = make_backend(node, f"cold-{i}", workspace)

        def backend_cold(backend: GVisorBackend = backend) -> None:
            backend.start()
            backend.execute("/bin/true", [], stdin=None, env={}, timeout_s=30)

        times["backend"].append(timed(backend_cold))
        backend.close()
        name = f"raw-cold-{i}"

        def raw_cold(name: str = name) -> None:
            raw.create_start_exec(name, workspace)

        times["raw"].append(timed(raw_cold))
        raw.remove(name)
    return times


def bench_warm(
    node: Any, raw: RawRunsc, workspace: Path, rounds: int
) -> dict[str, list[float]]:
    backend = make_backend(node, "warm", workspace)
    backend.start()
    raw.create_start_exec("raw-warm", workspace)
    times: dict[str, list[float]] = {"backend": [], "raw": []}
    try:
        for _ in range(rounds):
            times["backend"].append(
                timed(
                    lambda: backend.execute(
                        "/bin/true", [], stdin=None, env={}, timeout_s=30
                    )
                )
            )
            times["raw"].append(timed(lambda: raw.exec_true("raw-warm")))
    finally:
        backend.close()
        raw.remove("raw-warm")
    return times


def report(rows: list[tuple[str, dict[str, list[float]], float]]) -> str:
    lines = [
        "| path | GVisorBackend median (ms) | raw runsc median (ms) | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for label, times, target in rows:
        ours = statistics.median(times["backend"]) * 1000
        theirs = statistics.median(times["raw"]) * 1000
        lines.append(
            f"| {label} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}x | "
            f"<= {target}x |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cold-rounds", type=int, default=10, help="cold starts per side"
    )
    parser.add_argument(
        "--warm-rounds", type=int, default=40, help="warm execs per side"
    )
    options = parser.parse_args()
    if shutil.which("runsc") is None:
        print("runsc not installed", file=sys.stderr)
        return 1

    import ray

    from incontainer._util.ray_local import init_ray

    init_ray(num_cpus=2, resources={"gvisor": 1000.0}, namespace="incontainer-bench")
    # The raw side's sandboxes are children of this process once runsc
    # exits; reaping them here keeps its untimed teardown as fast as the
    # node actor's.
    reaper = ChildReaper()
    reaper.start()
    base = Path(tempfile.mkdtemp(prefix="incontainer-bench-gvisor-"))
    workspace = base / "workspace"
    workspace.mkdir()
    node = ensure_node_actor(data_dir=str(base / "node"), reap_interval_s=0)
    try:
        raw = RawRunsc(base / "raw")
        # One untimed round each warms caches (page cache, Python imports).
        bench_cold(node, raw, workspace, 1)
        cold = bench_cold(node, raw, workspace, options.cold_rounds)
        warm = bench_warm(node, raw, workspace, options.warm_rounds)
        print(
            report(
                [
                    ("cold: create to first result", cold, 1.3),
                    ("warm exec /bin/true", warm, 1.2),
                ]
            )
        )
    finally:
        ray.get(node.close_all.remote())
        ray.kill(node)
        ray.shutdown()
        reaper.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
