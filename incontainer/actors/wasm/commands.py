"""Turn a command and its arguments into a module path and a WASI argv."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from incontainer.actors.backend import GUEST_WORKSPACE
from incontainer.config import Mount, check_env
from incontainer.errors import InvalidInputError

__all__ = ["GuestFiles", "ResolvedCommand", "check_args", "check_env_values"]

_COMMAND_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class ResolvedCommand:
    """A command ready to run: the module file and its known digest."""

    module: Path
    sha256: str | None


@dataclass(frozen=True)
class _Root:
    guest: PurePosixPath
    host: Path
    writable: bool


class GuestFiles:
    """The guest's file view: the workspace and the mounts, as preopens."""

    def __init__(self, workspace: Path, mounts: Sequence[Mount]) -> None:
        self.workspace = workspace
        roots = [_Root(PurePosixPath(GUEST_WORKSPACE), workspace, True)]
        for mount in mounts:
            roots.append(
                _Root(
                    PurePosixPath(mount.guest_path),
                    Path(mount.host_path).resolve(),
                    not mount.read_only,
                )
            )
        # Longest guest path first, so a mount inside /workspace wins.
        self._roots = sorted(roots, key=lambda r: len(r.guest.parts), reverse=True)

    def preopens(self) -> list[tuple[str, str, bool]]:
        """Return ``(host, guest, writable)`` for each preopened directory.

        The workspace is also preopened as ``.``: wasi-libc resolves relative
        paths against a ``.`` preopen, so CPython (whose getcwd() is ``/``)
        finds relative paths in the workspace too.
        """
        entries = [(str(r.host), str(r.guest), r.writable) for r in self._roots]
        entries.append((str(self.workspace), ".", True))
        return entries

    def to_host(self, guest_path: str) -> Path | None:
        """Map an absolute guest path to a host path inside its root, or None."""
        path = PurePosixPath(guest_path)
        for root in self._roots:
            if path == root.guest or root.guest in path.parents:
                relative = path.relative_to(root.guest)
                host = (root.host / relative).resolve()
                if host == root.host or root.host in host.parents:
                    return host
                return None
        return None


def resolve_command(
    command: str,
    files: GuestFiles,
    command_path: Sequence[Path],
    python: tuple[Path, str | None] | None,
) -> ResolvedCommand:
    """Find the module that runs ``command``.

    ``python`` names the module (and digest) of the ``python`` command; a
    path ending in ``.wasm`` is a guest path (relative ones are inside the
    workspace) or an absolute host path; any other name is looked up as
    ``<name>.wasm`` in ``command_path``. Raises InvalidInputError when
    nothing matches.
    """
    if not isinstance(command, str) or not command or "\0" in command:
        raise InvalidInputError(
            f"invalid command {command!r}: expected a non-empty string without NUL",
            field="command",
            value=command,
        )
    if command == "python" and python is not None:
        return ResolvedCommand(python[0], python[1])
    if command.endswith(".wasm"):
        return ResolvedCommand(_resolve_module_path(command, files), None)
    if _COMMAND_NAME.match(command):
        for directory in command_path:
            candidate = directory / f"{command}.wasm"
            if candidate.is_file():
                return ResolvedCommand(candidate, None)
    searched = ", ".join(str(d) for d in command_path) or "(empty)"
    raise InvalidInputError(
        f"command {command!r} not found: no {command}.wasm in the command path "
        f"{searched}; use 'python', a builtin tool or a path to a .wasm module",
        field="command",
        value=command,
    )


def _resolve_module_path(command: str, files: GuestFiles) -> Path:
    guest = command if command.startswith("/") else f"{GUEST_WORKSPACE}/{command}"
    host = files.to_host(guest)
    if host is None and command.startswith("/"):
        host = Path(command)
    if host is None or not host.is_file():
        raise InvalidInputError(
            f"module {command!r} not found: expected a .wasm file in "
            f"{GUEST_WORKSPACE}, a mount or an absolute host path",
            field="command",
            value=command,
        )
    return host


def check_args(args: Sequence[str | bytes]) -> list[str]:
    """Validate guest arguments and return them as strings.

    Each item must be valid UTF-8 (bytes that decode, or str without lone
    surrogates) and must not contain NUL, because WASI passes C strings.
    """
    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        raise InvalidInputError(
            f"invalid args {args!r}: expected a list of strings",
            field="args",
            value=args,
        )
    checked: list[str] = []
    for index, item in enumerate(args):
        checked.append(_check_text(f"args[{index}]", item))
    return checked


def _check_text(field: str, item: object) -> str:
    if isinstance(item, bytes):
        try:
            item = item.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"invalid {field} {item!r}: not valid UTF-8 ({exc.reason})",
                field=field,
                value=item,
            ) from None
    if not isinstance(item, str):
        raise InvalidInputError(
            f"invalid {field} {item!r}: expected a string", field=field, value=item
        )
    try:
        item.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"invalid {field} {item!r}: not valid UTF-8 ({exc.reason}); "
            "remove lone surrogates",
            field=field,
            value=item,
        ) from None
    if "\0" in item:
        raise InvalidInputError(
            f"invalid {field} {item!r}: contains NUL", field=field, value=item
        )
    return item


def check_env_values(field: str, env: Mapping[str, str]) -> dict[str, str]:
    """Validate an environment mapping: names, no NUL, valid UTF-8 values."""
    checked = check_env(field, env)
    for key, value in checked.items():
        _check_text(f"{field}[{key}]", value)
    return checked


def check_timeout(timeout_s: float | None) -> float | None:
    """Validate a per-execution timeout in seconds (None means the default)."""
    if timeout_s is None:
        return None
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
        raise InvalidInputError(
            f"invalid timeout_s {timeout_s!r}: expected a number of seconds",
            field="timeout_s",
            value=timeout_s,
        )
    if not math.isfinite(timeout_s) or timeout_s <= 0:
        raise InvalidInputError(
            f"invalid timeout_s {timeout_s!r}: expected a positive finite number",
            field="timeout_s",
            value=timeout_s,
        )
    return float(timeout_s)


def check_stdin(stdin: bytes | bytearray | memoryview | None) -> bytes | None:
    """Validate guest stdin and return it as bytes (None means empty)."""
    if stdin is None:
        return None
    if isinstance(stdin, bytes | bytearray | memoryview):
        return bytes(stdin)
    raise InvalidInputError(
        f"invalid stdin of type {type(stdin).__name__}: expected bytes or None",
        field="stdin",
        value=type(stdin).__name__,
    )


def host_directory(field: str, value: object) -> Path:
    """Validate that ``value`` names an existing host directory."""
    if not isinstance(value, str | os.PathLike):
        raise InvalidInputError(
            f"invalid {field} {value!r}: expected a path", field=field, value=value
        )
    path = Path(value)
    if not path.is_dir():
        raise InvalidInputError(
            f"invalid {field} {str(path)!r}: not an existing directory",
            field=field,
            value=str(path),
        )
    return path.resolve()
