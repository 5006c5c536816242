"""Workspace snapshots: a versioned header and a deterministic tar.

Layout: 8-byte magic ``INCWASM\\0``, a big-endian u16 format version, a u16
reserved as zero, a u64 payload length, the 32-byte SHA-256 of the payload,
then the payload, an uncompressed tar of the workspace. Entries are sorted by
path, owners are zeroed and only regular files and directories with their
permission bits (mode & 0o777) and mtimes are stored, so the same workspace
gives the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import struct
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from incontainer.errors import InvalidInputError

__all__ = ["SNAPSHOT_VERSION", "create_snapshot", "restore_snapshot"]

SNAPSHOT_MAGIC = b"INCWASM\0"
SNAPSHOT_VERSION = 1
_HEADER = struct.Struct(">8sHHQ32s")


def create_snapshot(workspace: Path) -> bytes:
    """Return a snapshot of every regular file and directory in ``workspace``.

    NOTE: symlinks, FIFOs and other special files are left out, because a
    restore would reject them.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _walk_sorted(workspace):
            _add_entry(tar, workspace, path)
    payload = buffer.getvalue()
    header = _HEADER.pack(
        SNAPSHOT_MAGIC,
        SNAPSHOT_VERSION,
        0,
        len(payload),
        hashlib.sha256(payload).digest(),
    )
    return header + payload


def restore_snapshot(snapshot: bytes, workspace: Path) -> None:
    """Replace the contents of ``workspace`` with those of ``snapshot``.

    The snapshot is checked and unpacked into a sibling directory first.
    InvalidInputError is raised, with the workspace unchanged, for a corrupt
    snapshot, an unknown version, or an entry that is not a regular file or
    directory inside the workspace.
    """
    members, payload = _validate(snapshot)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{workspace.name}.restore-", dir=workspace.parent)
    )
    retired = staging.with_name(staging.name.replace(".restore-", ".old-"))
    try:
        _extract(payload, members, staging)
        staging.chmod(workspace.stat().st_mode & 0o7777)
        os.rename(workspace, retired)
        try:
            os.rename(staging, workspace)
        except OSError:
            os.rename(retired, workspace)
            raise
    finally:
        for leftover in (staging, retired):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def _walk_sorted(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        found.extend(base / name for name in dirnames)
        found.extend(base / name for name in filenames)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix().encode())


def _add_entry(tar: tarfile.TarFile, root: Path, path: Path) -> None:
    if path.is_symlink() or not (path.is_dir() or path.is_file()):
        return
    st = path.stat()
    info = tarfile.TarInfo(path.relative_to(root).as_posix())
    info.mode = st.st_mode & 0o777
    info.mtime = int(st.st_mtime)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if path.is_dir():
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        return
    info.size = st.st_size
    with path.open("rb") as f:
        tar.addfile(info, f)


def _corrupt(reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"invalid snapshot: {reason}; pass bytes returned by WasmSandbox.suspend()",
        field="snapshot",
    )


def _validate(snapshot: bytes) -> tuple[list[tarfile.TarInfo], bytes]:
    if not isinstance(snapshot, bytes | bytearray | memoryview):
        raise _corrupt(f"expected bytes, got {type(snapshot).__name__}")
    data = bytes(snapshot)
    if len(data) < _HEADER.size:
        raise _corrupt(f"only {len(data)} bytes, shorter than the header")
    magic, version, _reserved, length, digest = _HEADER.unpack_from(data)
    payload = data[_HEADER.size :]
    if magic != SNAPSHOT_MAGIC:
        raise _corrupt("wrong magic bytes")
    if version != SNAPSHOT_VERSION:
        raise _corrupt(f"format version {version}, expected {SNAPSHOT_VERSION}")
    if length != len(payload) or hashlib.sha256(payload).digest() != digest:
        raise _corrupt("length or SHA-256 does not match the payload")
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as tar:
            members = tar.getmembers()
    except tarfile.TarError as exc:
        raise _corrupt(f"unreadable tar ({exc})") from exc
    for member in members:
        _check_member(member)
    return members, payload


def _check_member(member: tarfile.TarInfo) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or not name.parts:
        raise _corrupt(f"entry {member.name!r} leaves the workspace")
    if not (member.isreg() or member.isdir()):
        raise _corrupt(f"entry {member.name!r} is not a regular file or directory")


def _extract(payload: bytes, members: list[tarfile.TarInfo], target: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as tar:
        try:
            tar.extractall(target, members=members, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise _corrupt(f"extraction failed ({exc})") from exc
    # The data filter drops group and other write bits, so the stored
    # permission bits are put back. Deepest paths go first, so read-only
    # directories are set after their contents.
    for member in sorted(members, key=lambda m: m.name.count("/"), reverse=True):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(target / member.name, member.mode & 0o777)
