from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnvironmentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENVIRONMENT_TYPE_UNSPECIFIED: _ClassVar[EnvironmentType]
    ENVIRONMENT_TYPE_CLIENT: _ClassVar[EnvironmentType]
    ENVIRONMENT_TYPE_SERVER: _ClassVar[EnvironmentType]
    ENVIRONMENT_TYPE_AUTO: _ClassVar[EnvironmentType]

class IsolationLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISOLATION_LEVEL_UNSPECIFIED: _ClassVar[IsolationLevel]
    ISOLATION_LEVEL_STANDARD: _ClassVar[IsolationLevel]
    ISOLATION_LEVEL_ENHANCED: _ClassVar[IsolationLevel]
    ISOLATION_LEVEL_MAXIMUM: _ClassVar[IsolationLevel]

class ContainerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTAINER_STATE_UNSPECIFIED: _ClassVar[ContainerState]
    CONTAINER_STATE_CREATING: _ClassVar[ContainerState]
    CONTAINER_STATE_CREATED: _ClassVar[ContainerState]
    CONTAINER_STATE_RUNNING: _ClassVar[ContainerState]
    CONTAINER_STATE_SUSPENDED: _ClassVar[ContainerState]
    CONTAINER_STATE_RESUMING: _ClassVar[ContainerState]
    CONTAINER_STATE_TERMINATING: _ClassVar[ContainerState]
    CONTAINER_STATE_TERMINATED: _ClassVar[ContainerState]
    CONTAINER_STATE_FAILED: _ClassVar[ContainerState]
    CONTAINER_STATE_BLOCKED: _ClassVar[ContainerState]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_CREATED: _ClassVar[EventType]
    EVENT_TYPE_STARTED: _ClassVar[EventType]
    EVENT_TYPE_SUSPENDED: _ClassVar[EventType]
    EVENT_TYPE_RESUMED: _ClassVar[EventType]
    EVENT_TYPE_TERMINATED: _ClassVar[EventType]
    EVENT_TYPE_FAILED: _ClassVar[EventType]
    EVENT_TYPE_STATE_CHANGED: _ClassVar[EventType]
    EVENT_TYPE_BLOCKED: _ClassVar[EventType]

class StateTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATE_TIER_UNSPECIFIED: _ClassVar[StateTier]
    STATE_TIER_CRITICAL: _ClassVar[StateTier]
    STATE_TIER_OPERATIONAL: _ClassVar[StateTier]
    STATE_TIER_NON_CRITICAL: _ClassVar[StateTier]
ENVIRONMENT_TYPE_UNSPECIFIED: EnvironmentType
ENVIRONMENT_TYPE_CLIENT: EnvironmentType
ENVIRONMENT_TYPE_SERVER: EnvironmentType
ENVIRONMENT_TYPE_AUTO: EnvironmentType
ISOLATION_LEVEL_UNSPECIFIED: IsolationLevel
ISOLATION_LEVEL_STANDARD: IsolationLevel
ISOLATION_LEVEL_ENHANCED: IsolationLevel
ISOLATION_LEVEL_MAXIMUM: IsolationLevel
CONTAINER_STATE_UNSPECIFIED: ContainerState
CONTAINER_STATE_CREATING: ContainerState
CONTAINER_STATE_CREATED: ContainerState
CONTAINER_STATE_RUNNING: ContainerState
CONTAINER_STATE_SUSPENDED: ContainerState
CONTAINER_STATE_RESUMING: ContainerState
CONTAINER_STATE_TERMINATING: ContainerState
CONTAINER_STATE_TERMINATED: ContainerState
CONTAINER_STATE_FAILED: ContainerState
CONTAINER_STATE_BLOCKED: ContainerState
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_CREATED: EventType
EVENT_TYPE_STARTED: EventType
EVENT_TYPE_SUSPENDED: EventType
EVENT_TYPE_RESUMED: EventType
EVENT_TYPE_TERMINATED: EventType
EVENT_TYPE_FAILED: EventType
EVENT_TYPE_STATE_CHANGED: EventType
EVENT_TYPE_BLOCKED: EventType
STATE_TIER_UNSPECIFIED: StateTier
STATE_TIER_CRITICAL: StateTier
STATE_TIER_OPERATIONAL: StateTier
STATE_TIER_NON_CRITICAL: StateTier

class Resources(_message.Message):
    __slots__ = ("cpu", "memory_mb", "disk_mb", "fuel", "wall_time_s", "pids")
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    DISK_MB_FIELD_NUMBER: _ClassVar[int]
    FUEL_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_S_FIELD_NUMBER: _ClassVar[int]
    PIDS_FIELD_NUMBER: _ClassVar[int]
    cpu: float
    memory_mb: int
    disk_mb: int
    fuel: int
    wall_time_s: float
    pids: int
    def __init__(self, cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., disk_mb: _Optional[int] = ..., fuel: _Optional[int] = ..., wall_time_s: _Optional[float] = ..., pids: _Optional[int] = ...) -> None: ...

class Mount(_message.Message):
    __slots__ = ("host_path", "guest_path", "read_only")
    HOST_PATH_FIELD_NUMBER: _ClassVar[int]
    GUEST_PATH_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    host_path: str
    guest_path: str
    read_only: bool
    def __init__(self, host_path: _Optional[str] = ..., guest_path: _Optional[str] = ..., read_only: _Optional[bool] = ...) -> None: ...

class ContainerConfig(_message.Message):
    __slots__ = ("name", "environment", "resources", "mounts", "env")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    name: str
    environment: EnvironmentType
    resources: Resources
    mounts: _containers.RepeatedCompositeFieldContainer[Mount]
    env: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., environment: _Optional[_Union[EnvironmentType, str]] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., mounts: _Optional[_Iterable[_Union[Mount, _Mapping]]] = ..., env: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SecurityContext(_message.Message):
    __slots__ = ("user_id", "permissions", "isolation_level")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    ISOLATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    permissions: _containers.RepeatedScalarFieldContainer[str]
    isolation_level: IsolationLevel
    def __init__(self, user_id: _Optional[str] = ..., permissions: _Optional[_Iterable[str]] = ..., isolation_level: _Optional[_Union[IsolationLevel, str]] = ...) -> None: ...

class ContainerInfo(_message.Message):
    __slots__ = ("container_id", "name", "state", "backend", "node_id", "user_id", "created_at", "updated_at", "exec_count", "last_error", "config", "security", "actor_name")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXEC_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_NAME_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    name: str
    state: ContainerState
    backend: str
    node_id: str
    user_id: str
    created_at: float
    updated_at: float
    exec_count: int
    last_error: str
    config: ContainerConfig
    security: SecurityContext
    actor_name: str
    def __init__(self, container_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[ContainerState, str]] = ..., backend: _Optional[str] = ..., node_id: _Optional[str] = ..., user_id: _Optional[str] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., exec_count: _Optional[int] = ..., last_error: _Optional[str] = ..., config: _Optional[_Union[ContainerConfig, _Mapping]] = ..., security: _Optional[_Union[SecurityContext, _Mapping]] = ..., actor_name: _Optional[str] = ...) -> None: ...

class ContainerEvent(_message.Message):
    __slots__ = ("type", "container_id", "timestamp", "previous_state", "state", "detail")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    type: EventType
    container_id: str
    timestamp: float
    previous_state: ContainerState
    state: ContainerState
    detail: str
    def __init__(self, type: _Optional[_Union[EventType, str]] = ..., container_id: _Optional[str] = ..., timestamp: _Optional[float] = ..., previous_state: _Optional[_Union[ContainerState, str]] = ..., state: _Optional[_Union[ContainerState, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class ExecRequest(_message.Message):
    __slots__ = ("container_id", "command", "args", "stdin", "timeout_s", "env", "workdir")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    command: str
    args: _containers.RepeatedScalarFieldContainer[bytes]
    stdin: bytes
    timeout_s: float
    env: _containers.ScalarMap[str, str]
    workdir: str
    def __init__(self, container_id: _Optional[str] = ..., command: _Optional[str] = ..., args: _Optional[_Iterable[bytes]] = ..., stdin: _Optional[bytes] = ..., timeout_s: _Optional[float] = ..., env: _Optional[_Mapping[str, str]] = ..., workdir: _Optional[str] = ...) -> None: ...

class ExecResult(_message.Message):
    __slots__ = ("exit_code", "stdout", "stderr", "truncated", "duration_s", "backend", "resource_usage")
    class ResourceUsageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_USAGE_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    stdout: bytes
    stderr: bytes
    truncated: bool
    duration_s: float
    backend: str
    resource_usage: _containers.ScalarMap[str, float]
    def __init__(self, exit_code: _Optional[int] = ..., stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., truncated: _Optional[bool] = ..., duration_s: _Optional[float] = ..., backend: _Optional[str] = ..., resource_usage: _Optional[_Mapping[str, float]] = ...) -> None: ...

class Workload(_message.Message):
    __slots__ = ("workload_id", "name", "config", "security", "command", "args", "stdin", "timeout_s", "files")
    class FilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORKLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    workload_id: str
    name: str
    config: ContainerConfig
    security: SecurityContext
    command: str
    args: _containers.RepeatedScalarFieldContainer[bytes]
    stdin: bytes
    timeout_s: float
    files: _containers.ScalarMap[str, str]
    def __init__(self, workload_id: _Optional[str] = ..., name: _Optional[str] = ..., config: _Optional[_Union[ContainerConfig, _Mapping]] = ..., security: _Optional[_Union[SecurityContext, _Mapping]] = ..., command: _Optional[str] = ..., args: _Optional[_Iterable[bytes]] = ..., stdin: _Optional[bytes] = ..., timeout_s: _Optional[float] = ..., files: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PatchRecord(_message.Message):
    __slots__ = ("version", "key", "base_version", "tier", "patch", "timestamp", "update_id", "container_id")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    UPDATE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    version: int
    key: str
    base_version: int
    tier: StateTier
    patch: bytes
    timestamp: float
    update_id: str
    container_id: str
    def __init__(self, version: _Optional[int] = ..., key: _Optional[str] = ..., base_version: _Optional[int] = ..., tier: _Optional[_Union[StateTier, str]] = ..., patch: _Optional[bytes] = ..., timestamp: _Optional[float] = ..., update_id: _Optional[str] = ..., container_id: _Optional[str] = ...) -> None: ...

class CheckpointStateEntry(_message.Message):
    __slots__ = ("key", "tier", "version", "size", "sha1")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA1_FIELD_NUMBER: _ClassVar[int]
    key: str
    tier: StateTier
    version: int
    size: int
    sha1: str
    def __init__(self, key: _Optional[str] = ..., tier: _Optional[_Union[StateTier, str]] = ..., version: _Optional[int] = ..., size: _Optional[int] = ..., sha1: _Optional[str] = ...) -> None: ...

class CheckpointBlob(_message.Message):
    __slots__ = ("name", "size", "chunk_size", "chunk_sha1", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SHA1_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    chunk_size: int
    chunk_sha1: _containers.RepeatedScalarFieldContainer[str]
    sha256: str
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ..., chunk_size: _Optional[int] = ..., chunk_sha1: _Optional[_Iterable[str]] = ..., sha256: _Optional[str] = ...) -> None: ...

class CheckpointManifest(_message.Message):
    __slots__ = ("container_id", "checkpoint_id", "version", "created_at", "entries", "blobs")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    container_id: str
    checkpoint_id: str
    version: int
    created_at: float
    entries: _containers.RepeatedCompositeFieldContainer[CheckpointStateEntry]
    blobs: _containers.RepeatedCompositeFieldContainer[CheckpointBlob]
    def __init__(self, container_id: _Optional[str] = ..., checkpoint_id: _Optional[str] = ..., version: _Optional[int] = ..., created_at: _Optional[float] = ..., entries: _Optional[_Iterable[_Union[CheckpointStateEntry, _Mapping]]] = ..., blobs: _Optional[_Iterable[_Union[CheckpointBlob, _Mapping]]] = ...) -> None: ...
