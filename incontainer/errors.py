"""Exception tree for incontainer.

Every error the package raises derives from `IncontainerError`. The classes
are grouped by what a caller can do about them: fix the input, wait and retry,
resolve a state conflict, inspect a sandbox trap, add capacity, or accept a
policy decision. Errors from redis, wasmtime and runsc are translated at the
boundary and keep the original exception as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "CapacityError",
    "CheckpointError",
    "ConflictError",
    "ContainerNotFoundError",
    "ExecutionLimitError",
    "IncontainerError",
    "InvalidInputError",
    "InvalidStateError",
    "JobsFileError",
    "OutOfFuelError",
    "OutOfMemoryError",
    "PatchError",
    "PolicyViolationError",
    "SandboxError",
    "StateKeyNotFoundError",
    "StoreUnavailableError",
    "TimedOutError",
    "TooManyProcessesError",
    "VersionNotRetainedError",
]


def _rebuild(
    cls: type[BaseException], args: tuple[object, ...], state: dict[str, object]
) -> BaseException:
    error = cls.__new__(cls)
    BaseException.__init__(error, *args)
    error.__dict__.update(state)
    return error


class IncontainerError(Exception):
    """Root of every error raised by incontainer.

    Errors cross process boundaries (Ray actors raise them in workers), so
    pickling keeps every attribute instead of calling ``__init__`` again.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class InvalidInputError(IncontainerError, ValueError):
    """A value passed to a public entry point is invalid.

    ``field`` names the offending field or argument, and ``value`` is the
    rejected value. Nothing was changed: fix the value and call again.
    """

    def __init__(self, message: str, *, field: str = "", value: object = None):
        super().__init__(message)
        self.field = field
        self.value = value


class PatchError(InvalidInputError):
    """A JSON Patch (RFC 6902) is malformed or one of its operations failed.

    ``op_index`` is the 0-based index of the operation at fault (-1 when the
    patch as a whole is malformed), ``path`` its JSON Pointer and ``key`` the
    state key it was applied to, when there is one. The patch was applied
    atomically, so nothing changed.
    """

    def __init__(
        self,
        message: str,
        *,
        op_index: int = -1,
        path: str = "",
        key: str = "",
        value: object = None,
    ):
        super().__init__(message, field="patch", value=value)
        self.op_index = op_index
        self.path = path
        self.key = key


class VersionNotRetainedError(InvalidInputError):
    """A state version older than the patch log keeps was requested.

    ``version`` is the requested version and ``oldest_version`` the oldest one
    that can still be read; raise the log retention to keep more.
    """

    def __init__(self, message: str, *, version: int, oldest_version: int):
        super().__init__(message, field="version", value=version)
        self.version = version
        self.oldest_version = oldest_version


class JobsFileError(InvalidInputError):
    """A jobs file is unreadable or one of its entries is invalid.

    ``path`` is the file, ``line`` the 1-based line of the entry (0 when the
    whole file is at fault) and ``field`` the field that is wrong.
    """

    def __init__(self, message: str, *, path: str, line: int = 0, field: str = ""):
        super().__init__(message, field=field)
        self.path = path
        self.line = line


class ContainerNotFoundError(IncontainerError, KeyError):
    """No container with the id ``container_id`` exists (or it was removed)."""

    def __init__(self, container_id: str):
        super().__init__(
            f"container {container_id!r} not found: list containers with "
            "list_containers() or `incontainer ps`"
        )
        self.container_id = container_id

    def __str__(self) -> str:
        # KeyError would otherwise wrap the message in quotes.
        return str(self.args[0])


class StateKeyNotFoundError(IncontainerError, KeyError):
    """The container ``container_id`` has no state under ``key``."""

    def __init__(self, container_id: str, key: str):
        super().__init__(
            f"state key {key!r} not found in container {container_id!r}: write it "
            "with update_state() first"
        )
        self.container_id = container_id
        self.key = key

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidStateError(IncontainerError):
    """The operation is not allowed in the container's current state.

    ``state`` is the current state and ``operation`` the rejected operation.
    This does not mean the container is broken: it may accept the operation
    after another transition (for example exec after resume).
    """

    def __init__(self, message: str, *, container_id: str, state: str, operation: str):
        super().__init__(message)
        self.container_id = container_id
        self.state = state
        self.operation = operation


class ConflictError(IncontainerError):
    """A state update was based on a stale version.

    ``key`` is the state key, ``base_version`` the version the update was
    based on and ``current_version`` the version the store holds.
    """

    def __init__(
        self,
        message: str,
        *,
        container_id: str,
        key: str,
        base_version: int,
        current_version: int,
    ):
        super().__init__(message)
        self.container_id = container_id
        self.key = key
        self.base_version = base_version
        self.current_version = current_version


class StoreUnavailableError(IncontainerError):
    """The state store (Redis) could not be reached; retrying later may work."""


class CheckpointError(IncontainerError):
    """A checkpoint is missing parts or failed checksum verification.

    ``checkpoint_id`` names it. A failed checkpoint is deleted, not reported
    as done; take a new one.
    """

    def __init__(self, message: str, *, container_id: str, checkpoint_id: str):
        super().__init__(message)
        self.container_id = container_id
        self.checkpoint_id = checkpoint_id


class BackendUnavailableError(IncontainerError):
    """A program or runtime a backend needs is missing or broken.

    ``program`` names what is missing and ``hint`` tells how to install it.
    """

    def __init__(self, message: str, *, program: str, hint: str = ""):
        super().__init__(f"{message}; {hint}" if hint else message)
        self.program = program
        self.hint = hint


class SandboxError(IncontainerError):
    """The sandbox failed to run a command for a reason other than a limit.

    A guest that exits with a non-zero code is not an error: its exit code is
    in the result. ``container_id`` is set when the failure is tied to one.
    """

    def __init__(self, message: str, *, container_id: str = ""):
        super().__init__(message)
        self.container_id = container_id


class ExecutionLimitError(SandboxError):
    """An execution hit one of its limits and was stopped.

    ``limit`` names the limit, ``partial_stdout`` and ``partial_stderr`` hold
    the output captured before it was stopped.
    """

    limit = "limit"

    def __init__(
        self,
        message: str,
        *,
        container_id: str = "",
        partial_stdout: bytes = b"",
        partial_stderr: bytes = b"",
    ):
        super().__init__(message, container_id=container_id)
        self.partial_stdout = partial_stdout
        self.partial_stderr = partial_stderr


class OutOfFuelError(ExecutionLimitError):
    """The WASM guest used all the fuel it was given."""

    limit = "fuel"


class TimedOutError(ExecutionLimitError):
    """The execution ran past its wall-clock deadline and was killed."""

    limit = "wall_time"


class OutOfMemoryError(ExecutionLimitError):
    """The guest tried to use more memory than its limit allows."""

    limit = "memory"


class TooManyProcessesError(ExecutionLimitError):
    """The guest started more processes or threads than its pids limit."""

    limit = "pids"


class UnschedulableError(IncontainerError):
    """No placement in the cluster can ever run the workload as configured.

    ``reasons`` lists why each placement was excluded. Change the workload
    (environment, isolation, imports) or the cluster (add a gVisor node).
    """

    def __init__(self, message: str, *, reasons: tuple[str, ...] = ()):
        super().__init__(message)
        self.reasons = reasons


class CapacityError(IncontainerError):
    """No placement has room for the work now; retry later or add nodes."""


class PolicyViolationError(IncontainerError):
    """The security policy rejected the operation (for example, blocked)."""

    def __init__(self, message: str, *, container_id: str = "", rule: str = ""):
        super().__init__(message)
        self.container_id = container_id
        self.rule = rule
