"""Each isolation level's controls, checked from inside a real sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from incontainer.actors.gvisor import CONTROLS, cgroups, host_pids_limit
from incontainer.config import IsolationLevel, Mount, Resources

# Linux capability numbers (include/uapi/linux/capability.h).
CAP_NUMBERS = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_RAW": 13,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_ADMIN": 21,
    "CAP_MKNOD": 27,
    "CAP_AUDIT_WRITE": 29,
    "CAP_SETFCAP": 31,
}

PROBE = r"""
import os, resource, socket, subprocess
status = dict(line.split(":\t", 1) for line in open("/proc/self/status"))
print("cap", int(status["CapEff"], 16))
print("ifaces", ",".join(name for _, name in socket.if_nameindex()))
print("nofile", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
subprocess.run(["cp", "/bin/true", "/tmp/t"], check=True)
try:
    print("tmpexec", subprocess.run(["/tmp/t"]).returncode)
except PermissionError:
    print("tmpexec", "denied")
open("/workspace/owned", "w").close()
print("chown", subprocess.run(["chown", "65534", "/workspace/owned"]).returncode)
print("mountwrite", subprocess.run(["touch", "/mnt/data/x"]).returncode)
print("syswrite", subprocess.run(["sh", "-c", "echo 1 > /sys/x"]).returncode)
"""


def probe(backend: Any) -> dict[str, str]:
    result = backend.execute("python3", ["-c", PROBE], stdin=None, env={}, timeout_s=60)
    assert result.exit_code == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.decode().splitlines())


@pytest.mark.parametrize("level", list(IsolationLevel))
def test_level_controls_inside_sandbox(
    make_backend: Any, node_info: dict[str, Any], tmp_path: Path, level: IsolationLevel
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    controls = CONTROLS[level]
    backend = make_backend(
        isolation=level,
        mounts=(Mount(str(data), "/mnt/data", read_only=False),),
        resources=Resources(memory_mb=192, wall_time_s=60.0),
    )
    seen = probe(backend)

    expected_caps = sum(1 << CAP_NUMBERS[name] for name in controls.capabilities)
    assert int(seen["cap"]) == expected_caps
    assert seen["ifaces"] == "lo"
    assert int(seen["nofile"]) == controls.nofile
    assert seen["tmpexec"] == ("denied" if "noexec" in controls.tmp_options else "0")
    assert seen["chown"] == ("1" if "CAP_CHOWN" not in controls.capabilities else "0")
    # A writable mount stays writable unless the level forces read-only.
    assert seen["mountwrite"] == ("1" if controls.read_only_mounts else "0")
    assert seen["syswrite"] != "0"

    cgroup = f"{node_info['cgroup_parent']}/{backend.container_id}"
    pids_dirs = [d for d in cgroups.cgroup_dirs(cgroup) if (d / "pids.max").exists()]
    assert pids_dirs, f"no pids cgroup for {cgroup}"
    assert int((pids_dirs[0] / "pids.max").read_text()) == host_pids_limit(
        controls.pids
    )
    memory = f"{node_info['cgroup_parent']}/{backend.container_id}"
    assert (cgroups.memory_usage(memory) or 0) > 0


def test_cpu_quota_follows_resources(
    make_backend: Any, node_info: dict[str, Any]
) -> None:
    backend = make_backend(resources=Resources(cpu=0.5, memory_mb=128))
    cgroup = f"{node_info['cgroup_parent']}/{backend.container_id}"
    quota_files = [
        d / "cpu.cfs_quota_us"
        for d in cgroups.cgroup_dirs(cgroup)
        if (d / "cpu.cfs_quota_us").exists()
    ]
    if cgroups.cgroup_version() == 2:
        assert (
            Path("/sys/fs/cgroup") / cgroup.strip("/") / "cpu.max"
        ).read_text().split()[0] == "50000"
    else:
        assert quota_files
        assert quota_files[0].read_text().strip() == "50000"
