"""incontainer: hybrid WASM and gVisor containers as Ray actors.

Configuration types and errors are imported eagerly. The manager, jobs and
workload entry points load on first use, because every WASM worker process
imports this package and should not pay for Redis and Ray imports.
"""

from typing import TYPE_CHECKING, Any

from incontainer.config import (
    ContainerConfig,
    ContainerEvent,
    ContainerInfo,
    ContainerState,
    EnvironmentType,
    EventType,
    ExecResult,
    IsolationLevel,
    Mount,
    Resources,
    SecurityContext,
)
from incontainer.errors import (
    BackendUnavailableError,
    CapacityError,
    ConflictError,
    ContainerNotFoundError,
    ExecutionLimitError,
    IncontainerError,
    InvalidInputError,
    InvalidStateError,
    JobsFileError,
    OutOfFuelError,
    OutOfMemoryError,
    PolicyViolationError,
    SandboxError,
    StoreUnavailableError,
    TimedOutError,
    TooManyProcessesError,
    UnschedulableError,
)

if TYPE_CHECKING:
    from incontainer.jobs import JobsFile, load_jobs
    from incontainer.manager import ContainerManager, create_container_manager
    from incontainer.workload import Workload, WorkloadResult, run_workload

_LAZY = {
    "JobsFile": "incontainer.jobs",
    "load_jobs": "incontainer.jobs",
    "ContainerManager": "incontainer.manager",
    "create_container_manager": "incontainer.manager",
    "Workload": "incontainer.workload",
    "WorkloadResult": "incontainer.workload",
    "run_workload": "incontainer.workload",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'incontainer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    # Entry points
    "ContainerManager",
    "create_container_manager",
    "load_jobs",
    "run_workload",
    # Configuration and results
    "ContainerConfig",
    "ContainerEvent",
    "ContainerInfo",
    "ContainerState",
    "EnvironmentType",
    "EventType",
    "ExecResult",
    "IsolationLevel",
    "JobsFile",
    "Mount",
    "Resources",
    "SecurityContext",
    "Workload",
    "WorkloadResult",
    # Errors
    "BackendUnavailableError",
    "CapacityError",
    "ConflictError",
    "ContainerNotFoundError",
    "ExecutionLimitError",
    "IncontainerError",
    "InvalidInputError",
    "InvalidStateError",
    "JobsFileError",
    "OutOfFuelError",
    "OutOfMemoryError",
    "PolicyViolationError",
    "SandboxError",
    "StoreUnavailableError",
    "TimedOutError",
    "TooManyProcessesError",
    "UnschedulableError",
]
