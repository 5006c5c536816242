"""Read a jobs file (YAML) into workloads, with errors that name the line.

Format::

    defaults:            # optional, merged into every job
      environment: client
      timeout: 60
    jobs:
      - name: word-frequency          # required, unique
        command: python               # required
        args: [wordfreq.py, /data/GPL-3]
        files: {wordfreq.py: wordfreq.py}   # guest path: host path
        mounts: [{host: /usr/share/common-licenses, guest: /data}]
        environment: client           # client (WASM), server (gVisor), auto
        isolation: standard           # standard, enhanced, maximum
        stdin: "text"                 # optional
        timeout: 30                   # seconds
        resources: {memory_mb: 256, fuel: 1000000000}
        env: {LANG: C.UTF-8}

Host paths in ``files`` are relative to the jobs file. A mount's host path
may be ``pkg:NAME`` or ``pkg:NAME/sub/dir`` for the directory of an installed
Python package, so a jobs file can use data that a package ships.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from incontainer.config import (
    MAX_TIMEOUT_S,
    ContainerConfig,
    SecurityContext,
    short_repr,
)
from incontainer.errors import InvalidInputError, JobsFileError
from incontainer.workload import Workload

__all__ = ["JobsFile", "load_jobs"]

_PACKAGE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

JOB_FIELDS = frozenset(
    {
        "name", "command", "args", "files", "mounts", "environment", "isolation",
        "stdin", "timeout", "resources", "env", "permissions",
    }
)  # fmt: skip


@dataclass(frozen=True)
class JobsFile:
    """The workloads read from a file, and the errors of entries that were not."""

    path: Path
    workloads: tuple[Workload, ...]
    errors: tuple[JobsFileError, ...]


def _key_line(node: yaml.MappingNode, key: str) -> int:
    lines = [k.start_mark.line + 1 for k, _ in node.value if k.value == key]
    return int(lines[-1]) if lines else 1


def _line_of(node: yaml.Node, field_name: str | None = None) -> int:
    if field_name and isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if getattr(key, "value", None) == field_name:
                return int(key.start_mark.line) + 1
    return int(node.start_mark.line) + 1


def _compose(path: Path) -> tuple[yaml.Node | None, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JobsFileError(
            f"{path}: cannot read jobs file: {exc}", path=str(path)
        ) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise JobsFileError(
            f"{path}:{line}: invalid YAML: {getattr(exc, 'problem', exc)}",
            path=str(path),
            line=line,
        ) from None
    finally:
        loader.dispose()
    return node, data


def load_jobs(path: str | Path) -> JobsFile:
    """Parse ``path``; invalid jobs are collected as errors, valid ones kept.

    Raises JobsFileError when the file as a whole is unreadable: missing,
    invalid YAML, or without a ``jobs`` list.
    """
    path = Path(path)
    node, data = _compose(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("jobs"), list):
        raise JobsFileError(
            f"{path}:1: field 'jobs' is missing: expected a mapping with a 'jobs' list",
            path=str(path),
            line=1,
            field="jobs",
        )
    defaults = data.get("defaults") or {}
    assert isinstance(node, yaml.MappingNode)
    if not isinstance(defaults, Mapping):
        line = _key_line(node, "defaults")
        raise JobsFileError(
            f"{path}:{line}: field 'defaults' is invalid: expected a mapping of "
            f"job fields, got {short_repr(defaults)}",
            path=str(path),
            line=line,
            field="defaults",
        )
    # PyYAML keeps the last of repeated keys, so the node must be the last too.
    jobs_node = [v for k, v in node.value if k.value == "jobs"][-1]
    workloads: list[Workload] = []
    errors: list[JobsFileError] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["jobs"]):
        entry_node = jobs_node.value[index]
        try:
            workload = _workload(
                path,
                {**defaults, **entry} if isinstance(entry, Mapping) else entry,
                index,
            )
            if workload.name in seen:
                raise _FieldError("name", f"duplicate job name {workload.name!r}")
            seen.add(workload.name)
            workloads.append(workload)
        except _FieldError as exc:
            line = _line_of(entry_node, exc.field_name)
            errors.append(
                JobsFileError(
                    f"{path}:{line}: job {index + 1}, field '{exc.field_name}': "
                    f"{exc.message}",
                    path=str(path),
                    line=line,
                    field=exc.field_name,
                )
            )
    return JobsFile(path, tuple(workloads), tuple(errors))


class _FieldError(Exception):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field_name = field_name
        self.message = message


def _require(entry: Mapping[str, Any], name: str, kind: type) -> Any:
    if name not in entry:
        raise _FieldError(name, "missing required field")
    value = entry[name]
    if not isinstance(value, kind) or value == "":
        raise _FieldError(name, f"expected {kind.__name__}, got {short_repr(value)}")
    return value


def _workload(path: Path, entry: Any, index: int) -> Workload:
    if not isinstance(entry, Mapping):
        raise _FieldError("job", f"expected a mapping, got {short_repr(entry)}")
    unknown = sorted(str(key) for key in set(entry) - JOB_FIELDS - {"defaults"})
    if unknown:
        raise _FieldError(unknown[0], f"unknown field; known: {sorted(JOB_FIELDS)}")
    name = _require(entry, "name", str)
    command = _require(entry, "command", str)
    if entry.get("environment", "client") == "client":
        _check_wasm_command(command)
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(
        isinstance(a, str | int | float) for a in args
    ):
        raise _FieldError("args", f"expected a list of strings, got {short_repr(args)}")
    timeout = entry.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_TIMEOUT_S
    ):
        raise _FieldError(
            "timeout",
            f"expected a positive number of seconds, at most {MAX_TIMEOUT_S:.0f}, "
            f"got {short_repr(timeout)}",
        )
    stdin = entry.get("stdin")
    if stdin is not None and not isinstance(stdin, str):
        raise _FieldError("stdin", f"expected a string, got {short_repr(stdin)}")
    config_data = {
        "name": name if _safe_name(name) else f"job-{index + 1}",
        "environment": entry.get("environment", "client"),
        "resources": entry.get("resources") or {},
        "mounts": [_mount(path, m) for m in entry.get("mounts") or []],
        "env": entry.get("env") or {},
    }
    try:
        config = ContainerConfig.from_dict(config_data)
        security = SecurityContext(
            isolation_level=entry.get("isolation", "standard"),
            **({"permissions": entry["permissions"]} if "permissions" in entry else {}),
        )
    except InvalidInputError as exc:
        field_name = exc.field.split(".")[0].split("[")[0] or "job"
        if field_name == "isolation_level":
            field_name = "isolation"
        raise _FieldError(field_name, str(exc)) from None
    return Workload(
        name=name,
        command=command,
        args=tuple(str(a) for a in args),
        config=config,
        security=security,
        stdin=stdin.encode() if stdin is not None else None,
        timeout_s=float(timeout) if timeout is not None else None,
        env=config.env,
        files=_files(path, entry.get("files") or {}),
    )


def _check_wasm_command(command: str) -> None:
    """Reject a WASM command that is neither python, a .wasm file nor a tool."""
    if command == "python" or command.endswith(".wasm"):
        return
    tools = Path(__file__).parent / "actors" / "wasm" / "tools"
    known = sorted(p.stem for p in tools.glob("*.wasm"))
    if command not in known:
        raise _FieldError(
            "command",
            f"unknown command {command!r} for a WASM container; use python, a "
            f".wasm path, or one of: {', '.join(known)}",
        )


def _safe_name(name: str) -> bool:
    try:
        ContainerConfig(name=name)
    except InvalidInputError:
        return False
    return True


def _files(path: Path, files: Any) -> dict[str, bytes]:
    if not isinstance(files, Mapping):
        raise _FieldError(
            "files",
            f"expected a mapping of guest path to host path, got {short_repr(files)}",
        )
    result = {}
    for guest, host in files.items():
        source = (path.parent / str(host)).resolve()
        try:
            result[str(guest)] = source.read_bytes()
        except OSError as exc:
            raise _FieldError(
                "files", f"cannot read {source}: {exc.strerror}"
            ) from None
    return result


def _mount(path: Path, mount: Any) -> dict[str, Any]:
    if not isinstance(mount, Mapping):
        raise _FieldError("mounts", f"expected a mapping, got {short_repr(mount)}")
    host = str(mount.get("host", mount.get("host_path", "")))
    if host.startswith("pkg:"):
        host = _package_dir(host)
    elif host and not host.startswith("/"):
        host = str((path.parent / host).resolve())
    if host and not Path(host).is_dir():
        raise _FieldError("mounts", f"host directory {host} not found")
    return {
        "host_path": host,
        "guest_path": mount.get("guest", mount.get("guest_path", "")),
        "read_only": mount.get("read_only", True),
    }


def _package_dir(spec: str) -> str:
    """Return the directory of a top-level package, without importing it."""
    package, _, sub = spec[len("pkg:") :].partition("/")
    if not _PACKAGE_NAME.fullmatch(package):
        raise _FieldError(
            "mounts",
            f"invalid package name in {short_repr(spec)}: expected pkg:NAME or "
            "pkg:NAME/sub/dir with a top-level package NAME",
        )
    # find_spec of a top-level name locates it without running its code.
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise _FieldError("mounts", f"Python package {package!r} not installed")
    base = Path(next(iter(found.submodule_search_locations))).resolve()
    target = (base / sub).resolve()
    if target != base and base not in target.parents:
        raise _FieldError("mounts", f"{short_repr(spec)} leaves the package directory")
    return str(target)
