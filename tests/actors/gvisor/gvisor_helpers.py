"""Helpers shared by the gVisor tests: polling and leftover checks."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from incontainer.actors.gvisor import cgroups

# Bound for polling loops: teardown measured at well under a second here,
# and this leaves room for a loaded 2-core CI machine.
POLL_LIMIT_S = 60.0


def require_runsc() -> str:
    path = shutil.which("runsc")
    if path is None:
        pytest.skip("runsc not installed")
    return path


def wait_until(
    predicate: Callable[[], Any], *, limit_s: float = POLL_LIMIT_S, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns a true value; fail after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {limit_s} s for {what or predicate}")
        time.sleep(0.05)


def new_container_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sandbox_pids(info: dict[str, Any], container_id: str) -> set[int]:
    """Return host pids of the sandbox: its cgroup members and processes
    whose command line names its bundle."""
    pids: set[int] = set()
    for directory in cgroups.cgroup_dirs(f"{info['cgroup_parent']}/{container_id}"):
        try:
            text = (directory / "cgroup.procs").read_text()
        except OSError:
            continue
        pids.update(int(p) for p in text.split())
    bundle = f"{info['bundles']}/{container_id}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if bundle in cmdline:
            pids.add(int(entry.name))
    return pids


def alive(pids: set[int]) -> set[int]:
    """Return the pids of ``pids`` that still exist and are not zombies."""
    living = set()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] != "Z":
            living.add(pid)
    return living


def leftovers(info: dict[str, Any], container_id: str) -> list[str]:
    """List everything of ``container_id`` still on the node."""
    found = []
    bundle = Path(info["bundles"]) / container_id
    if bundle.exists():
        found.append(f"bundle {bundle}")
    listed = subprocess.run(
        [info["runsc"], "--root", info["runsc_root"], "list", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if container_id in listed:
        found.append(f"runsc container {container_id}")
    for directory in cgroups.cgroup_dirs(f"{info['cgroup_parent']}/{container_id}"):
        found.append(f"cgroup {directory}")
    found += [f"process {pid}" for pid in alive(sandbox_pids(info, container_id))]
    return found


def ensure_ray() -> None:
    """Start the suite's local Ray if it is not running (as ``ray_cluster``
    does), for fixtures wider than one test."""
    import ray

    from incontainer._util.ray_local import init_ray

    if not ray.is_initialized():
        resources = {"gvisor": 1000.0} if shutil.which("runsc") else {}
        init_ray(num_cpus=4, resources=resources, namespace="incontainer-test")
