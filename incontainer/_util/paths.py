"""Where incontainer keeps its files on a node."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_data_dir", "resolve_guest_path"]


def default_data_dir() -> Path:
    """Return ``$XDG_DATA_HOME/incontainer``, or ``~/.local/share/incontainer``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "incontainer"


def resolve_guest_path(root: Path, guest_path: str, *, prefix: str) -> Path:
    """Map ``guest_path`` (absolute under ``prefix`` or relative) into ``root``.

    Raises ValueError when the path escapes ``root``, holds NUL, or names
    ``root`` itself; symlinks already inside ``root`` are resolved first.
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
    candidate = root.joinpath(*parts)
    resolved_root = root.resolve()
    resolved = candidate.parent.resolve() / candidate.name
    if resolved_root not in resolved.parents:
        raise ValueError("path leaves the workspace through a symlink")
    return candidate
