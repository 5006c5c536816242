"""A curated root file system for gVisor sandboxes.

The guest never sees the host's ``/``. Each sandbox gets its own small root
directory: the host's system directories are bind-mounted read-only over
empty mount points (or recreated as the same relative symlinks on a merged
/usr host), /etc is synthesized, and /root, /home and /var are empty.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

__all__ = [
    "BUSYBOX_APPLETS",
    "GUEST_BIN",
    "RESERVED_GUEST_PATHS",
    "SYSTEM_DIRS",
    "build_rootfs",
    "find_busybox",
    "guest_path_error",
    "system_binds",
]

# Host directories shared read-only with every guest.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64")

# Host paths under /etc that are safe to share: the dynamic linker cache and
# Debian's alternatives symlinks, which point into /usr.
_ETC_COPIES = ("/etc/ld.so.cache",)
_ETC_BINDS = ("/etc/alternatives",)

# Guest directory placed first on PATH. It contains busybox applet links for
# tools whose GNU versions fail under runsc 0.0~20221219: coreutils `ls` and
# `stat` call statx(2), which returns EINVAL there.
GUEST_BIN = "/opt/incontainer/bin"
BUSYBOX_APPLETS = ("ls", "stat")

# Guest paths a container mount may not use or sit under, because the
# sandbox owns them or they are host directories shared read-only.
RESERVED_GUEST_PATHS = (
    "/",
    "/proc",
    "/dev",
    "/sys",
    "/etc",
    "/tmp",
    "/opt/incontainer",
    "/workspace",
    *SYSTEM_DIRS,
)

_EMPTY_DIRS = (
    "dev",
    "etc",
    "home",
    "mnt",
    "opt/incontainer/bin",
    "proc",
    "root",
    "run",
    "sys",
    "tmp",
    "var/tmp",
    "workspace",
)

_ETC_FILES = {
    "passwd": (
        "root:x:0:0:root:/root:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "group": "root:x:0:\nnogroup:x:65534:\n",
    "shadow": "",
    "hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\tincontainer\n",
    "hostname": "incontainer\n",
    # No name servers: the guest has no network in this build.
    "resolv.conf": "",
    "nsswitch.conf": ("passwd: files\ngroup: files\nshadow: files\nhosts: files\n"),
}


def find_busybox() -> str | None:
    """Return the host path of a statically linked busybox, if installed."""
    for path in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def guest_path_error(guest_path: str) -> str | None:
    """Return why ``guest_path`` cannot be a mount point, or None if it can."""
    path = PurePosixPath(guest_path)
    if not path.is_absolute() or ".." in path.parts:
        return "expected an absolute path without '..'"
    for reserved in RESERVED_GUEST_PATHS:
        if str(path) == reserved:
            return f"{reserved} is reserved by the sandbox"
        if reserved != "/" and path.is_relative_to(reserved):
            return f"paths under {reserved} are reserved by the sandbox"
    return None


def system_binds() -> list[str]:
    """Return the host system paths that are real directories, to bind."""
    binds = [d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    binds += [d for d in _ETC_BINDS if os.path.isdir(d)]
    return binds


def build_rootfs(rootfs: Path, mount_points: list[tuple[str, bool]]) -> None:
    """Create the guest's root directory at ``rootfs``.

    ``mount_points`` lists the guest path of each extra bind mount and
    whether its host source is a directory. A directory or an empty file is
    created for each. ``rootfs`` must not exist yet.
    """
    rootfs.mkdir(mode=0o755)
    for name in _EMPTY_DIRS:
        (rootfs / name).mkdir(mode=0o755, parents=True, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    _link_system_dirs(rootfs)
    _write_etc(rootfs / "etc")
    _link_busybox(rootfs / GUEST_BIN.lstrip("/"))
    for guest_path, is_dir in mount_points:
        _make_mount_point(rootfs, guest_path, is_dir)


def _link_system_dirs(rootfs: Path) -> None:
    # On a merged-/usr host /bin is a symlink such as "usr/bin"; the guest
    # gets the same symlink so it resolves inside the read-only /usr bind.
    for host_dir in SYSTEM_DIRS:
        target = rootfs / host_dir.lstrip("/")
        if os.path.islink(host_dir):
            link = os.readlink(host_dir)
            if not os.path.isabs(link):
                target.symlink_to(link)
                continue
            target.symlink_to(os.path.relpath(link, "/"))
        elif os.path.isdir(host_dir):
            target.mkdir(mode=0o755)


def _write_etc(etc: Path) -> None:
    for name, text in _ETC_FILES.items():
        (etc / name).write_text(text)
    (etc / "shadow").chmod(0o600)
    for host_path in _ETC_COPIES:
        if os.path.isfile(host_path):
            shutil.copyfile(host_path, etc / os.path.basename(host_path))
    for host_path in _ETC_BINDS:
        if os.path.isdir(host_path):
            (etc / os.path.basename(host_path)).mkdir(mode=0o755)
    (etc / "localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")


def _link_busybox(guest_bin: Path) -> None:
    busybox = find_busybox()
    if busybox is None:
        return
    for applet in BUSYBOX_APPLETS:
        (guest_bin / applet).symlink_to(busybox)


def _make_mount_point(rootfs: Path, guest_path: str, is_dir: bool) -> None:
    target = rootfs / guest_path.lstrip("/")
    if is_dir:
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
    else:
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        target.touch(mode=0o644)
    # The rootfs has no symlinks below the reserved paths, so a resolved
    # mount point outside it means a reserved path slipped through.
    if not target.resolve().is_relative_to(rootfs.resolve()):
        raise ValueError(f"mount point {guest_path!r} resolves outside the rootfs")
