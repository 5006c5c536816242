"""Configuration and result types shared by every layer.

These are frozen dataclasses that validate themselves on construction, so an
invalid value is rejected at the public entry point with the field it is in
and never reaches the layers below.
"""

from __future__ import annotations

import enum
import math
import re
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from incontainer.errors import InvalidInputError

__all__ = [
    "ContainerConfig",
    "ContainerEvent",
    "ContainerInfo",
    "ContainerState",
    "EnvironmentType",
    "EventType",
    "ExecResult",
    "IsolationLevel",
    "Mount",
    "Resources",
    "SecurityContext",
    "short_repr",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The maximum wall-clock deadline accepted, in seconds (7 days). Longer ones
# are almost always a unit mistake, and the sandboxes' timers take C ints.
MAX_TIMEOUT_S = 7 * 24 * 3600.0
PERMISSIONS = frozenset({"create", "read", "write", "execute", "delete", "network"})


class EnvironmentType(str, enum.Enum):
    """Backend of a container: WASM, gVisor, or the scheduler's choice."""

    CLIENT = "client"
    SERVER = "server"
    AUTO = "auto"


class IsolationLevel(str, enum.Enum):
    STANDARD = "standard"
    ENHANCED = "enhanced"
    MAXIMUM = "maximum"


class ContainerState(str, enum.Enum):
    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    SUSPENDED = "suspended"
    RESUMING = "resuming"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"
    BLOCKED = "blocked"


class EventType(str, enum.Enum):
    CREATED = "created"
    STARTED = "started"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    TERMINATED = "terminated"
    FAILED = "failed"
    STATE_CHANGED = "state-changed"
    BLOCKED = "blocked"


_REPR = reprlib.Repr()
_REPR.maxstring = 80
_REPR.maxother = 80
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 8
_REPR.maxlevel = 3


def short_repr(value: object) -> str:
    """Return a repr cut to about 80 characters, for error messages.

    A value from a jobs file can be huge (YAML aliases expand); the message
    must stay readable and small.
    """
    return _REPR.repr(value)


def _invalid(field_name: str, value: object, expectation: str) -> InvalidInputError:
    return InvalidInputError(
        f"invalid {field_name} {short_repr(value)}: {expectation}",
        field=field_name,
        value=value,
    )


def _check_positive(field_name: str, value: float | None, *, integer: bool) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(field_name, value, "expected a number")
    if integer and not isinstance(value, int):
        raise _invalid(field_name, value, "expected a whole number")
    if not math.isfinite(value) or value <= 0:
        raise _invalid(field_name, value, "expected a positive finite number")


def _enum_value(enum_type: type[enum.Enum], field_name: str, value: object) -> Any:
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in enum_type)
        raise _invalid(field_name, value, f"expected one of {choices}") from None


def check_env(field_name: str, env: Mapping[str, str]) -> dict[str, str]:
    """Validate an environment mapping and return it as a plain dict."""
    if not isinstance(env, Mapping):
        raise _invalid(field_name, env, "expected a mapping of names to strings")
    for key, value in env.items():
        if not isinstance(key, str) or not _ENV_NAME_RE.match(key):
            raise _invalid(f"{field_name} name", key, "expected [A-Za-z_][A-Za-z0-9_]*")
        if not isinstance(value, str) or "\0" in value:
            raise _invalid(
                f"{field_name}[{key}]", value, "expected a string without NUL"
            )
    return dict(env)


def check_timeout(timeout: float | None) -> float | None:
    """Validate a wall-clock deadline in seconds; None means the default."""
    if timeout is None:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_TIMEOUT_S
    ):
        raise InvalidInputError(
            f"invalid timeout {timeout!r}: expected a positive number of seconds, "
            f"at most {MAX_TIMEOUT_S:.0f} (7 days)",
            field="timeout",
            value=timeout,
        )
    return float(timeout)


@dataclass(frozen=True)
class Resources:
    """Resource limits of a container and of each execution in it.

    ``fuel`` is wasmtime fuel per WASM execution (None means unmetered);
    ``wall_time_s`` is the default wall-clock deadline per execution.
    """

    cpu: float = 1.0
    memory_mb: int = 256
    disk_mb: int = 512
    fuel: int | None = None
    wall_time_s: float | None = 60.0
    pids: int | None = None

    def __post_init__(self) -> None:
        _check_positive("resources.cpu", self.cpu, integer=False)
        _check_positive("resources.memory_mb", self.memory_mb, integer=True)
        _check_positive("resources.disk_mb", self.disk_mb, integer=True)
        _check_positive("resources.fuel", self.fuel, integer=True)
        _check_positive("resources.wall_time_s", self.wall_time_s, integer=False)
        if self.wall_time_s is not None and self.wall_time_s > MAX_TIMEOUT_S:
            raise _invalid(
                "resources.wall_time_s",
                self.wall_time_s,
                f"expected at most {MAX_TIMEOUT_S:.0f} seconds (7 days)",
            )
        _check_positive("resources.pids", self.pids, integer=True)


@dataclass(frozen=True)
class Mount:
    """A host directory made visible to the guest at ``guest_path``."""

    host_path: str
    guest_path: str
    read_only: bool = True

    def __post_init__(self) -> None:
        for name in ("host_path", "guest_path"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.startswith("/"):
                raise _invalid(f"mount.{name}", value, "expected an absolute path")
            if "\0" in value or ".." in value.split("/"):
                raise _invalid(f"mount.{name}", value, "must not contain NUL or '..'")
        if self.guest_path.rstrip("/") in ("", "/proc", "/dev", "/sys"):
            raise _invalid("mount.guest_path", self.guest_path, "reserved guest path")
        if not isinstance(self.read_only, bool):
            raise _invalid("mount.read_only", self.read_only, "expected true or false")


@dataclass(frozen=True)
class ContainerConfig:
    """Definition of a container: its name, backend, resources, mounts and env."""

    name: str = "container"
    environment: EnvironmentType = EnvironmentType.CLIENT
    resources: Resources = field(default_factory=Resources)
    mounts: tuple[Mount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise _invalid(
                "name", self.name, "expected 1-63 of [A-Za-z0-9_.-], starting alnum"
            )
        env_type = _enum_value(EnvironmentType, "environment.type", self.environment)
        object.__setattr__(self, "environment", env_type)
        if not isinstance(self.resources, Resources):
            raise _invalid("resources", self.resources, "expected Resources")
        mounts = tuple(self.mounts)
        guests = [m.guest_path.rstrip("/") for m in mounts]
        if len(set(guests)) != len(guests):
            raise _invalid("mounts", guests, "guest paths must be unique")
        object.__setattr__(self, "mounts", mounts)
        object.__setattr__(self, "env", check_env("env", self.env))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContainerConfig:
        """Build a config from plain data, as found in YAML or JSON.

        ``environment`` may be a string or ``{"type": ...}``; mounts are
        mappings with ``host_path`` (or ``host``), ``guest_path`` (or
        ``guest``) and ``read_only``.
        """
        if not isinstance(data, Mapping):
            raise _invalid("config", data, "expected a mapping")
        known = {"name", "environment", "resources", "mounts", "env"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise _invalid(
                "config", unknown[0], f"unknown field; known: {sorted(known)}"
            )
        environment = data.get("environment", "client")
        if isinstance(environment, Mapping):
            environment = environment.get("type", "client")
        resources = data.get("resources") or {}
        if not isinstance(resources, Mapping):
            raise _invalid("resources", resources, "expected a mapping")
        try:
            res = Resources(**resources)
        except TypeError as exc:
            raise _invalid("resources", dict(resources), str(exc)) from None
        return cls(
            name=data.get("name", "container"),
            environment=environment,
            resources=res,
            mounts=tuple(_mount_from_dict(m) for m in data.get("mounts") or ()),
            env=data.get("env") or {},
        )


def _mount_from_dict(data: Any) -> Mount:
    if isinstance(data, Mount):
        return data
    if not isinstance(data, Mapping):
        raise _invalid("mounts", data, "expected a mapping per mount")
    return Mount(
        host_path=data.get("host_path", data.get("host", "")),
        guest_path=data.get("guest_path", data.get("guest", "")),
        read_only=data.get("read_only", True),
    )


@dataclass(frozen=True)
class SecurityContext:
    """Identity, permissions and isolation level of a container's user."""

    user_id: str = "anonymous"
    permissions: frozenset[str] = frozenset({"create", "read", "write", "execute"})
    isolation_level: IsolationLevel = IsolationLevel.STANDARD

    def __post_init__(self) -> None:
        if (
            not isinstance(self.user_id, str)
            or not self.user_id
            or "\0" in self.user_id
        ):
            raise _invalid("user_id", self.user_id, "expected a non-empty string")
        if isinstance(self.permissions, str) or not isinstance(
            self.permissions, Sequence | frozenset | set
        ):
            raise _invalid("permissions", self.permissions, "expected a list of names")
        perms = frozenset(self.permissions)
        unknown = sorted(perms - PERMISSIONS)
        if unknown:
            raise _invalid(
                "permissions",
                unknown[0],
                f"unknown permission; known: {sorted(PERMISSIONS)}",
            )
        object.__setattr__(self, "permissions", perms)
        level = _enum_value(IsolationLevel, "isolation_level", self.isolation_level)
        object.__setattr__(self, "isolation_level", level)


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one command run in a container.

    A non-zero ``exit_code`` is the guest's own exit status, not an error.
    ``truncated`` is true when stdout or stderr passed the output cap and
    the rest was discarded. ``duration_s`` is wall-clock seconds of the run.
    """

    exit_code: int
    stdout: bytes
    stderr: bytes
    truncated: bool
    duration_s: float
    backend: str
    resource_usage: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class ContainerInfo:
    """Snapshot of one container's record in the state store."""

    container_id: str
    name: str
    state: ContainerState
    backend: str
    node_id: str
    user_id: str
    created_at: float
    updated_at: float
    exec_count: int = 0
    last_error: str = ""


@dataclass(frozen=True)
class ContainerEvent:
    """One lifecycle event: ``type`` happened to ``container_id`` at ``timestamp``.

    ``previous_state`` and ``state`` are set for state-changed events.
    """

    type: EventType
    container_id: str
    timestamp: float
    previous_state: ContainerState | None = None
    state: ContainerState | None = None
    detail: str = ""
