"""Read and remove the host cgroups runsc creates for each sandbox.

runsc 0.0~20221219 creates the cgroup given as ``cgroupsPath`` with the
cgroupfs driver under every mounted controller (cgroup v1) or once in the
unified hierarchy (cgroup v2). `runsc delete` removes the leaf, not its
parents.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

__all__ = [
    "CGROUP_ROOT",
    "cgroup_dirs",
    "cgroup_version",
    "child_names",
    "has_processes",
    "limit_hit",
    "memory_usage",
    "remove",
    "remove_empty_parents",
]

CGROUP_ROOT = Path("/sys/fs/cgroup")


@functools.cache
def cgroup_version() -> int:
    """Return 2 for a unified hierarchy at /sys/fs/cgroup, else 1."""
    return 2 if (CGROUP_ROOT / "cgroup.controllers").exists() else 1


def _hierarchies() -> list[Path]:
    if cgroup_version() == 2:
        return [CGROUP_ROOT]
    try:
        entries = list(CGROUP_ROOT.iterdir())
    except OSError:
        return []
    return [e for e in entries if e.is_dir() and not e.is_symlink()]


def cgroup_dirs(path: str) -> list[Path]:
    """Return the existing directories of cgroup ``path`` in every hierarchy."""
    relative = path.strip("/")
    dirs = [h / relative for h in _hierarchies()]
    return [d for d in dirs if d.is_dir()]


def child_names(parent: str) -> set[str]:
    """Return the names of child cgroups of ``parent`` in any hierarchy."""
    names: set[str] = set()
    for directory in cgroup_dirs(parent):
        with contextlib.suppress(OSError):
            names.update(e.name for e in directory.iterdir() if e.is_dir())
    return names


def _read_counters(path: Path) -> dict[str, int]:
    counters = {}
    try:
        text = path.read_text()
    except OSError:
        return {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            counters[key] = int(value)
    return counters


def limit_hit(path: str) -> str | None:
    """Return "memory" or "pids" if that limit of cgroup ``path`` was hit.

    Memory counts only OOM kills (v1 memory.oom_control, v2 memory.events);
    pids counts forks the controller rejected (pids.events "max").
    """
    relative = path.strip("/")
    if cgroup_version() == 2:
        memory_file = CGROUP_ROOT / relative / "memory.events"
        pids_file = CGROUP_ROOT / relative / "pids.events"
    else:
        memory_file = CGROUP_ROOT / "memory" / relative / "memory.oom_control"
        pids_file = CGROUP_ROOT / "pids" / relative / "pids.events"
    if _read_counters(memory_file).get("oom_kill", 0) > 0:
        return "memory"
    if _read_counters(pids_file).get("max", 0) > 0:
        return "pids"
    return None


def memory_usage(path: str) -> int | None:
    """Return the bytes charged to cgroup ``path``, or None if unknown."""
    relative = path.strip("/")
    if cgroup_version() == 2:
        usage_file = CGROUP_ROOT / relative / "memory.current"
    else:
        usage_file = CGROUP_ROOT / "memory" / relative / "memory.usage_in_bytes"
    try:
        return int(usage_file.read_text())
    except (OSError, ValueError):
        return None


def has_processes(path: str) -> bool:
    """Return True if any hierarchy of cgroup ``path`` still has a process."""
    for directory in cgroup_dirs(path):
        with contextlib.suppress(OSError):
            if (directory / "cgroup.procs").read_text().strip():
                return True
    return False


def remove(path: str) -> list[Path]:
    """Remove cgroup ``path`` and its empty children; return what remains.

    A cgroup with processes cannot be removed; it is left and returned.
    """
    left = []
    for directory in cgroup_dirs(path):
        for sub, _, _ in sorted(os.walk(directory), key=lambda w: -len(w[0])):
            try:
                os.rmdir(sub)
            except FileNotFoundError:
                continue
            except OSError:
                left.append(Path(sub))
    return left


def remove_empty_parents(path: str) -> None:
    """Remove cgroup ``path`` and its ancestors where they are empty.

    A parent still in use (it has child cgroups) stays.
    """
    parts = path.strip("/").split("/")
    for depth in range(len(parts), 0, -1):
        for directory in cgroup_dirs("/".join(parts[:depth])):
            with contextlib.suppress(OSError):
                directory.rmdir()
