"""incontainer: hybrid WASM and gVisor containers as Ray actors."""

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
from incontainer.jobs import JobsFile, load_jobs
from incontainer.manager import ContainerManager, create_container_manager
from incontainer.workload import Workload, WorkloadResult, run_workload

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
