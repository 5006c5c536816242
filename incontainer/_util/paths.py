"""Data directory location and symlink-safe writes into workspaces."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

__all__ = ["default_data_dir", "guest_relative_parts", "write_file_beneath"]


def default_data_dir() -> Path:
    """Return ``$XDG_DATA_HOME/incontainer``, or ``~/.local/share/incontainer``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "incontainer"


def guest_relative_parts(guest_path: str, *, prefix: str) -> list[str]:
    """Split ``guest_path`` (absolute under ``prefix``, or relative) into parts.

    Raises ValueError when the path contains NUL or ``..``, leaves ``prefix``,
    or names ``prefix`` itself.
    """
    if "\0" in guest_path:
        raise ValueError("path contains a NUL byte")
    relative = guest_path
    if guest_path.startswith("/"):
        if guest_path != prefix and not guest_path.startswith(prefix + "/"):
            raise ValueError(f"path is outside {prefix}")
        relative = guest_path[len(prefix) :].lstrip("/")
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError("path must name a file below the workspace, without '..'")
    return parts


def write_file_beneath(root: Path, parts: list[str], content: bytes) -> None:
    """Write ``content`` to ``root/parts...`` without following any symlink.

    Every directory is opened relative to its parent with O_NOFOLLOW. So a
    symlink that the guest placed anywhere on the path, the file included,
    makes the write fail with ValueError instead of reaching a host file,
    even if the guest swaps a directory for a symlink during the walk.
    Missing directories are created.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    directory = os.open(root, flags)
    try:
        for name in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=directory)
            try:
                child = os.open(name, flags, dir_fd=directory)
            except OSError as exc:
                raise _unsafe(name, exc) from None
            os.close(directory)
            directory = child
        write_flags = (
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        )
        try:
            handle = os.open(parts[-1], write_flags, 0o644, dir_fd=directory)
        except OSError as exc:
            raise _unsafe(parts[-1], exc) from None
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
    finally:
        os.close(directory)


def _unsafe(name: str, exc: OSError) -> ValueError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return ValueError(f"{name!r} is a symlink or not a directory")
    if exc.errno == errno.EISDIR:
        return ValueError(f"{name!r} is a directory")
    return ValueError(f"cannot write {name!r}: {exc.strerror}")
