"""OCI bundles (config.json plus a curated rootfs) for gVisor sandboxes."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incontainer.actors.backend import GUEST_WORKSPACE
from incontainer.actors.gvisor.isolation import (
    IsolationControls,
    controls_for,
    host_pids_limit,
)
from incontainer.actors.gvisor.rootfs import (
    GUEST_BIN,
    build_rootfs,
    guest_path_error,
    system_binds,
)
from incontainer.config import IsolationLevel, Mount, Resources, check_env
from incontainer.errors import InvalidInputError

__all__ = [
    "GUEST_PATH",
    "SandboxSpec",
    "base_env",
    "build_config",
    "check_sandbox_id",
    "write_bundle",
]

GUEST_PATH = f"{GUEST_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SANDBOX_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_MIB = 1024 * 1024
_CPU_PERIOD_US = 100_000
# A reaping init: perl is in Debian's essential set, and the guest's PID 1
# must wait() for orphaned processes or their zombies count against the
# pids limit. coreutils `sleep` is the fallback when perl is missing.
_PERL_INIT = ["/usr/bin/perl", "-e", "while (1) { sleep 1 if wait() < 0 }"]
_SLEEP_INIT = ["/bin/sleep", "infinity"]


def check_sandbox_id(value: object) -> str:
    """Validate a container id for use as a runsc container id and dir name."""
    if not isinstance(value, str) or not _SANDBOX_ID_RE.match(value):
        raise InvalidInputError(
            f"invalid container_id {value!r}: expected 1-128 of [A-Za-z0-9_.-], "
            "starting with a letter or digit",
            field="container_id",
            value=value,
        )
    return value


@dataclass(frozen=True)
class SandboxSpec:
    """Everything needed to write one sandbox's bundle.

    ``workspace`` is a host directory, bind-mounted read-write at
    /workspace. ``sandbox_network`` selects gVisor's network stack at the
    standard level where the host supports it.
    """

    container_id: str
    workspace: str
    resources: Resources = field(default_factory=Resources)
    mounts: tuple[Mount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    isolation: IsolationLevel = IsolationLevel.STANDARD
    sandbox_network: bool = False

    def __post_init__(self) -> None:
        check_sandbox_id(self.container_id)
        if not isinstance(self.resources, Resources):
            raise InvalidInputError(
                f"invalid resources {self.resources!r}: expected Resources",
                field="resources",
                value=self.resources,
            )
        object.__setattr__(self, "env", check_env("env", self.env))
        object.__setattr__(self, "mounts", tuple(self.mounts))
        object.__setattr__(self, "isolation", _isolation(self.isolation))
        _check_workspace(self.workspace)
        for mount in self.mounts:
            _check_mount(mount)

    @property
    def controls(self) -> IsolationControls:
        return controls_for(self.isolation, sandbox_network=self.sandbox_network)

    @property
    def guest_pids(self) -> int:
        return self.resources.pids or self.controls.pids


def _isolation(value: object) -> IsolationLevel:
    try:
        return IsolationLevel(value)
    except ValueError:
        choices = ", ".join(repr(level.value) for level in IsolationLevel)
        raise InvalidInputError(
            f"invalid isolation {value!r}: expected one of {choices}",
            field="isolation",
            value=value,
        ) from None


def _check_workspace(workspace: object) -> None:
    if not isinstance(workspace, str) or not os.path.isabs(workspace):
        raise InvalidInputError(
            f"invalid workspace {workspace!r}: expected an absolute host path",
            field="workspace",
            value=workspace,
        )
    if not os.path.isdir(workspace):
        raise InvalidInputError(
            f"workspace {workspace!r} not found: create the directory first",
            field="workspace",
            value=workspace,
        )


def _check_mount(mount: object) -> None:
    if not isinstance(mount, Mount):
        raise InvalidInputError(
            f"invalid mount {mount!r}: expected incontainer.config.Mount",
            field="mounts",
            value=mount,
        )
    reason = guest_path_error(os.path.normpath(mount.guest_path))
    if reason is not None:
        raise InvalidInputError(
            f"invalid mount.guest_path {mount.guest_path!r}: {reason}; "
            "mount under another path such as /mnt or /data",
            field="mount.guest_path",
            value=mount.guest_path,
        )
    if not os.path.exists(mount.host_path):
        raise InvalidInputError(
            f"mount.host_path {mount.host_path!r} not found on this node",
            field="mount.host_path",
            value=mount.host_path,
        )


def base_env(spec: SandboxSpec) -> dict[str, str]:
    """Return the environment every process of the sandbox starts with."""
    env = {"PATH": GUEST_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
    env.update(spec.env)
    return env


def build_config(spec: SandboxSpec, *, cgroups_path: str) -> dict[str, Any]:
    """Return the OCI runtime config (config.json) of ``spec``."""
    controls = spec.controls
    caps = list(controls.capabilities)
    process = {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": _PERL_INIT if os.path.exists(_PERL_INIT[0]) else _SLEEP_INIT,
        "env": [f"{k}={v}" for k, v in base_env(spec).items()],
        "cwd": GUEST_WORKSPACE,
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
            "inheritable": caps,
        },
        "noNewPrivileges": True,
        "rlimits": _rlimits(spec, controls),
    }
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "incontainer",
        "mounts": _mounts(spec, controls),
        "linux": {
            "namespaces": [
                {"type": kind} for kind in ("pid", "network", "ipc", "uts", "mount")
            ],
            "cgroupsPath": cgroups_path,
            # NOTE: no maskedPaths or readonlyPaths: runsc 0.0~20221219
            # ignores both. Its /proc has no kcore and refuses writes to
            # /proc/sys at every level.
            "resources": _resources(spec),
        },
    }


def _rlimits(spec: SandboxSpec, controls: IsolationControls) -> list[dict[str, Any]]:
    # RLIMIT_FSIZE bounds each file at the container's disk size: the
    # workspace is a plain host directory without a quota.
    fsize = spec.resources.disk_mb * _MIB
    limits = {
        "RLIMIT_NOFILE": controls.nofile,
        "RLIMIT_CORE": 0,
        "RLIMIT_FSIZE": fsize,
    }
    return [{"type": k, "hard": v, "soft": v} for k, v in limits.items()]


def _resources(spec: SandboxSpec) -> dict[str, Any]:
    resources = spec.resources
    return {
        "memory": {"limit": resources.memory_mb * _MIB},
        "cpu": {
            "quota": max(1000, int(resources.cpu * _CPU_PERIOD_US)),
            "period": _CPU_PERIOD_US,
        },
        "pids": {"limit": host_pids_limit(spec.guest_pids)},
    }


def _tmpfs(destination: str, options: list[str]) -> dict[str, Any]:
    return {
        "destination": destination,
        "type": "tmpfs",
        "source": "tmpfs",
        "options": options,
    }


def _bind(source: str, destination: str, read_only: bool) -> dict[str, Any]:
    mode = "ro" if read_only else "rw"
    return {
        "destination": destination,
        "type": "bind",
        "source": source,
        "options": ["rbind", mode, "nosuid", "nodev"],
    }


def _mounts(spec: SandboxSpec, controls: IsolationControls) -> list[dict[str, Any]]:
    tmp_options = [*controls.tmp_options, "mode=1777"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        _tmpfs("/dev", ["nosuid", "mode=755"]),
        _tmpfs("/dev/shm", tmp_options),
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        _tmpfs("/tmp", tmp_options),
        _tmpfs("/var/tmp", tmp_options),
        _tmpfs("/root", ["nosuid", "nodev", "mode=700"]),
    ]
    mounts += [_bind(path, path, True) for path in system_binds()]
    mounts.append(_bind(spec.workspace, GUEST_WORKSPACE, False))
    force_read_only = controls.read_only_mounts
    for mount in spec.mounts:
        read_only = mount.read_only or force_read_only
        mounts.append(_bind(mount.host_path, mount.guest_path, read_only))
    return mounts


def write_bundle(bundle_dir: Path, spec: SandboxSpec, *, cgroups_path: str) -> Path:
    """Create ``bundle_dir`` with its rootfs and config.json; return the config.

    The config is written last through a temporary file and a rename, so a
    bundle directory with a config.json is always complete.
    """
    bundle_dir.mkdir(mode=0o700, parents=True)
    mount_points = [(m.guest_path, os.path.isdir(m.host_path)) for m in spec.mounts]
    build_rootfs(bundle_dir / "rootfs", mount_points)
    config = build_config(spec, cgroups_path=cgroups_path)
    path = bundle_dir / "config.json"
    partial = bundle_dir / "config.json.partial"
    partial.write_text(json.dumps(config, indent=1))
    os.replace(partial, path)
    return path
