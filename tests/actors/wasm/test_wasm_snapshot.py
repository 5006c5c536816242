"""Suspend and resume: workspace snapshots."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tarfile
from pathlib import Path

import pytest

from incontainer.actors.wasm import WasmSandbox
from incontainer.actors.wasm.snapshot import SNAPSHOT_VERSION, create_snapshot
from incontainer.config import Resources
from incontainer.errors import InvalidInputError, InvalidStateError


def tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Map each relative path to its permission bits and file contents."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        mode = path.stat().st_mode & 0o777
        data = path.read_bytes() if path.is_file() else None
        found[path.relative_to(root).as_posix()] = (mode, data)
    return found


def fill(workspace: Path) -> None:
    (workspace / "a.txt").write_bytes(b"alpha\n")
    (workspace / "sub" / "deep").mkdir(parents=True)
    (workspace / "sub" / "deep" / "bin.dat").write_bytes(bytes(range(256)) * 10)
    (workspace / "sub" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(workspace / "sub" / "run.sh", 0o755)
    (workspace / "shared.txt").write_text("rw\n")
    os.chmod(workspace / "shared.txt", 0o666)
    (workspace / "empty").mkdir()
    os.chmod(workspace / "sub" / "deep", 0o700)


def test_suspend_resume_keeps_files(
    sandbox: WasmSandbox, workspace: Path, wasm_cache: Path, tmp_path: Path
) -> None:
    fill(workspace)
    sandbox.execute("tee", ["guest.txt"], stdin=b"from guest\n")
    before = tree(workspace)
    snap = sandbox.suspend()
    with pytest.raises(InvalidStateError) as info:
        sandbox.execute("true", [])
    assert info.value.state == "suspended"

    other = tmp_path / "other"
    other.mkdir()
    (other / "stale.txt").write_text("removed by resume")
    box = WasmSandbox(other, resources=Resources(), cache_dir=wasm_cache)
    box.resume(snap)
    with box:
        assert box.execute("cat", ["guest.txt"]).stdout == b"from guest\n"
    assert tree(other) == before

    sandbox.resume(snap)
    assert sandbox.execute("cat", ["a.txt"]).stdout == b"alpha\n"
    assert tree(workspace) == before


def test_snapshot_is_deterministic(workspace: Path) -> None:
    fill(workspace)
    first = create_snapshot(workspace)
    second = create_snapshot(workspace)
    assert first == second
    assert first[:8] == b"INCWASM\0"
    assert struct.unpack(">H", first[8:10])[0] == SNAPSHOT_VERSION


def test_corrupt_snapshot_rejected(sandbox: WasmSandbox, workspace: Path) -> None:
    fill(workspace)
    snap = bytearray(sandbox.suspend())
    (workspace / "after.txt").write_text("kept")
    before = tree(workspace)
    snap[-600] ^= 0xFF
    for bad in (bytes(snap), b"", b"INCWASM\0" + b"\0" * 60, b"garbage" * 20):
        with pytest.raises(InvalidInputError) as info:
            sandbox.resume(bad)
        assert info.value.field == "snapshot"
    assert tree(workspace) == before
    with pytest.raises(InvalidStateError):
        sandbox.execute("true", [])


def wrap(payload: bytes) -> bytes:
    """Frame a tar payload as a valid snapshot, to test the entry checks."""
    header = struct.pack(
        ">8sHHQ32s",
        b"INCWASM\0",
        SNAPSHOT_VERSION,
        0,
        len(payload),
        hashlib.sha256(payload).digest(),
    )
    return header + payload


def tar_with(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info.size = len(data) if info.isreg() else 0
        tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def member(
    name: str, kind: bytes = tarfile.REGTYPE, target: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "entry",
    [
        member("/etc/evil"),
        member("../evil"),
        member("a/../../evil"),
        member("link", tarfile.SYMTYPE, "/etc/passwd"),
        member("hard", tarfile.LNKTYPE, "a.txt"),
        member("dev", tarfile.CHRTYPE),
        member("fifo", tarfile.FIFOTYPE),
    ],
    ids=lambda e: e.name,
)
def test_unsafe_entries_rejected(
    workspace: Path, wasm_cache: Path, entry: tarfile.TarInfo
) -> None:
    (workspace / "a.txt").write_text("x")
    box = WasmSandbox(workspace, resources=Resources(), cache_dir=wasm_cache)
    with pytest.raises(InvalidInputError):
        box.resume(wrap(tar_with(entry, b"evil")))
    assert sorted(p.name for p in workspace.iterdir()) == ["a.txt"]
    assert sorted(p.name for p in workspace.parent.iterdir()) == ["workspace"]


def test_resume_while_running_rejected(sandbox: WasmSandbox, workspace: Path) -> None:
    snap = create_snapshot(workspace)
    with pytest.raises(InvalidStateError):
        sandbox.resume(snap)
