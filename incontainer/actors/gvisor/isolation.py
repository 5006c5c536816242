"""Isolation levels and the sandbox controls each one turns on.

The table in docs/gvisor.md mirrors ``CONTROLS``; a test checks every
control from inside a running sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from incontainer.config import IsolationLevel

__all__ = [
    "CONTROLS",
    "IsolationControls",
    "controls_for",
    "host_pids_limit",
]

# Docker's default capability set without CAP_NET_RAW.
_STANDARD_CAPS = (
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
)
_ENHANCED_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
)


@dataclass(frozen=True)
class IsolationControls:
    """The controls one isolation level applies to a gVisor sandbox.

    ``pids`` is the default guest process limit, which a container's own
    ``Resources.pids`` replaces. ``tmp_options`` are the mount options of
    the guest's /tmp, /var/tmp and /dev/shm. ``read_only_mounts`` makes
    every container mount read-only, ignoring its own ``read_only`` flag.
    """

    level: IsolationLevel
    network: str
    capabilities: tuple[str, ...]
    read_only_mounts: bool
    tmp_options: tuple[str, ...]
    pids: int
    nofile: int


CONTROLS: dict[IsolationLevel, IsolationControls] = {
    IsolationLevel.STANDARD: IsolationControls(
        level=IsolationLevel.STANDARD,
        network="none",
        capabilities=_STANDARD_CAPS,
        read_only_mounts=False,
        tmp_options=("nosuid", "nodev"),
        pids=256,
        nofile=4096,
    ),
    IsolationLevel.ENHANCED: IsolationControls(
        level=IsolationLevel.ENHANCED,
        network="none",
        capabilities=_ENHANCED_CAPS,
        read_only_mounts=False,
        tmp_options=("nosuid", "nodev"),
        pids=128,
        nofile=1024,
    ),
    IsolationLevel.MAXIMUM: IsolationControls(
        level=IsolationLevel.MAXIMUM,
        network="none",
        capabilities=(),
        read_only_mounts=True,
        tmp_options=("nosuid", "nodev", "noexec"),
        pids=64,
        nofile=256,
    ),
}


def controls_for(
    level: IsolationLevel, *, sandbox_network: bool = False
) -> IsolationControls:
    """Return the controls of ``level``.

    ``sandbox_network`` lets the standard level use gVisor's own network
    stack. It is off by default because runsc 0.0~20221219 fails to start a
    sandbox with ``--network=sandbox`` when the caller is in the host's root
    network namespace, which is where a Ray worker runs.
    """
    controls = CONTROLS[IsolationLevel(level)]
    if sandbox_network and controls.level is IsolationLevel.STANDARD:
        return replace(controls, network="sandbox")
    return controls


# Host threads of one sandbox, measured with runsc 0.0~20221219 on the ptrace
# platform (2-core Debian 12 VM): 37 to 38 when idle, and about 19 more for
# each guest process alive at the same time (40 sleeping processes: 765).
_IDLE_HOST_THREADS = 64
_HOST_THREADS_PER_PROCESS = 24


def host_pids_limit(guest_pids: int) -> int:
    """Convert a limit on guest processes to the host pids cgroup limit.

    gVisor runs guest processes inside its own kernel, so the host pids
    controller counts the sentry's and the ptrace stubs' threads instead.
    NOTE: the guest limit is therefore approximate: a guest with many
    threads in one process reaches it later than one with many processes.
    """
    return _IDLE_HOST_THREADS + _HOST_THREADS_PER_PROCESS * guest_pids
