"""Container records and events in Redis, encoded as ``incontainer.v1`` protobuf.

Key layout (all under the ``incontainer:`` prefix):

- ``incontainer:containers``: hash of container id to a ContainerInfo record.
- ``incontainer:container:{id}:events``: stream of ContainerEvent records,
  field ``event``, trimmed to about ``EVENT_STREAM_MAXLEN`` entries.
- ``incontainer:container:{id}:snapshot``: the last suspend snapshot.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis

from incontainer.config import (
    ContainerConfig,
    ContainerEvent,
    ContainerInfo,
    ContainerState,
    EnvironmentType,
    EventType,
    IsolationLevel,
    Mount,
    Resources,
    SecurityContext,
)
from incontainer.errors import StoreUnavailableError
from incontainer.wire import incontainer_pb2 as pb

__all__ = [
    "ContainerRecord",
    "RecordStore",
    "config_from_pb",
    "config_to_pb",
    "event_from_pb",
    "event_to_pb",
]

CONTAINERS_KEY = "incontainer:containers"
EVENT_STREAM_MAXLEN = 1000


def events_key(container_id: str) -> str:
    return f"incontainer:container:{container_id}:events"


def snapshot_key(container_id: str) -> str:
    return f"incontainer:container:{container_id}:snapshot"


E = TypeVar("E", bound=enum.Enum)


def _pb_codes(enum_type: type[E], pb_enum: Any, prefix: str) -> dict[E, Any]:
    """Map each member of ``enum_type`` to the number of its protobuf value.

    The values are typed Any because the generated stubs give each protobuf
    enum its own int subtype.
    """
    return {
        member: int(pb_enum.Value(f"{prefix}_{member.value.upper().replace('-', '_')}"))
        for member in enum_type
    }


_ENVIRONMENT = _pb_codes(EnvironmentType, pb.EnvironmentType, "ENVIRONMENT_TYPE")
_ISOLATION = _pb_codes(IsolationLevel, pb.IsolationLevel, "ISOLATION_LEVEL")
_STATE = _pb_codes(ContainerState, pb.ContainerState, "CONTAINER_STATE")
_EVENT = _pb_codes(EventType, pb.EventType, "EVENT_TYPE")
_ENVIRONMENT_FROM = {v: k for k, v in _ENVIRONMENT.items()}
_ISOLATION_FROM = {v: k for k, v in _ISOLATION.items()}
_STATE_FROM = {v: k for k, v in _STATE.items()}
_EVENT_FROM = {v: k for k, v in _EVENT.items()}


def config_to_pb(config: ContainerConfig) -> pb.ContainerConfig:
    res = config.resources
    message = pb.ContainerConfig(
        name=config.name,
        environment=_ENVIRONMENT[config.environment],
        resources=pb.Resources(
            cpu=res.cpu, memory_mb=res.memory_mb, disk_mb=res.disk_mb
        ),
        mounts=[
            pb.Mount(
                host_path=m.host_path, guest_path=m.guest_path, read_only=m.read_only
            )
            for m in config.mounts
        ],
        env=dict(config.env),
    )
    if res.fuel is not None:
        message.resources.fuel = res.fuel
    if res.wall_time_s is not None:
        message.resources.wall_time_s = res.wall_time_s
    if res.pids is not None:
        message.resources.pids = res.pids
    return message


def config_from_pb(message: pb.ContainerConfig) -> ContainerConfig:
    res = message.resources
    return ContainerConfig(
        name=message.name,
        environment=_ENVIRONMENT_FROM.get(message.environment, EnvironmentType.CLIENT),
        resources=Resources(
            cpu=res.cpu,
            memory_mb=res.memory_mb,
            disk_mb=res.disk_mb,
            fuel=res.fuel if res.HasField("fuel") else None,
            wall_time_s=res.wall_time_s if res.HasField("wall_time_s") else None,
            pids=res.pids if res.HasField("pids") else None,
        ),
        mounts=tuple(
            Mount(m.host_path, m.guest_path, m.read_only) for m in message.mounts
        ),
        env=dict(message.env),
    )


def security_to_pb(security: SecurityContext) -> pb.SecurityContext:
    return pb.SecurityContext(
        user_id=security.user_id,
        permissions=sorted(security.permissions),
        isolation_level=_ISOLATION[security.isolation_level],
    )


def security_from_pb(message: pb.SecurityContext) -> SecurityContext:
    return SecurityContext(
        user_id=message.user_id,
        permissions=frozenset(message.permissions),
        isolation_level=_ISOLATION_FROM.get(
            message.isolation_level, IsolationLevel.STANDARD
        ),
    )


def _state_to_pb(state: ContainerState | None) -> Any:
    return 0 if state is None else _STATE[state]


def _state_from_pb(value: int) -> ContainerState | None:
    return _STATE_FROM.get(value)


def event_to_pb(event: ContainerEvent) -> pb.ContainerEvent:
    return pb.ContainerEvent(
        type=_EVENT[event.type],
        container_id=event.container_id,
        timestamp=event.timestamp,
        previous_state=_state_to_pb(event.previous_state),
        state=_state_to_pb(event.state),
        detail=event.detail,
    )


def event_from_pb(message: pb.ContainerEvent) -> ContainerEvent:
    return ContainerEvent(
        type=_EVENT_FROM.get(message.type, EventType.STATE_CHANGED),
        container_id=message.container_id,
        timestamp=message.timestamp,
        previous_state=_state_from_pb(message.previous_state),
        state=_state_from_pb(message.state),
        detail=message.detail,
    )


@dataclass
class ContainerRecord:
    """Everything the store keeps about one container."""

    container_id: str
    config: ContainerConfig
    security: SecurityContext
    state: ContainerState
    backend: str
    node_id: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    exec_count: int = 0
    last_error: str = ""
    # The Ray actor holding the container; empty when none does.
    actor_name: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def info(self) -> ContainerInfo:
        return ContainerInfo(
            container_id=self.container_id,
            name=self.config.name,
            state=self.state,
            backend=self.backend,
            node_id=self.node_id,
            user_id=self.security.user_id,
            created_at=self.created_at,
            updated_at=self.updated_at,
            exec_count=self.exec_count,
            last_error=self.last_error,
        )

    def to_bytes(self) -> bytes:
        message = pb.ContainerInfo(
            container_id=self.container_id,
            name=self.config.name,
            state=_state_to_pb(self.state),
            backend=self.backend,
            node_id=self.node_id,
            user_id=self.security.user_id,
            created_at=self.created_at,
            updated_at=self.updated_at,
            exec_count=self.exec_count,
            last_error=self.last_error,
            config=config_to_pb(self.config),
            security=security_to_pb(self.security),
            actor_name=self.actor_name,
        )
        return bytes(message.SerializeToString())

    @classmethod
    def from_bytes(cls, data: bytes) -> ContainerRecord:
        message = pb.ContainerInfo.FromString(data)
        state = _state_from_pb(message.state) or ContainerState.FAILED
        return cls(
            container_id=message.container_id,
            config=config_from_pb(message.config),
            security=security_from_pb(message.security),
            state=state,
            backend=message.backend,
            node_id=message.node_id,
            created_at=message.created_at,
            updated_at=message.updated_at,
            exec_count=message.exec_count,
            last_error=message.last_error,
            actor_name=message.actor_name,
        )


class RecordStore:
    """Reads and writes container records, events and snapshots in Redis."""

    def __init__(self, redis_url: str):
        self.redis_url = redis_url
        self._client = redis.Redis.from_url(redis_url, socket_timeout=30)

    def __repr__(self) -> str:
        return f"<RecordStore {self.redis_url}>"

    def close(self) -> None:
        self._client.close()

    def _call(self, what: str, fn: Callable[..., Any], *args: object) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise StoreUnavailableError(
                f"state store at {self.redis_url} failed to {what}: {exc}; check "
                "that redis-server is running and reachable"
            ) from exc

    def put(self, record: ContainerRecord) -> None:
        self._call(
            "save a container record",
            self._client.hset,
            CONTAINERS_KEY,
            record.container_id,
            record.to_bytes(),
        )

    def get(self, container_id: str) -> ContainerRecord | None:
        data = self._call(
            "read a container record", self._client.hget, CONTAINERS_KEY, container_id
        )
        return ContainerRecord.from_bytes(data) if data else None

    def all(self) -> list[ContainerRecord]:
        data = self._call("list containers", self._client.hgetall, CONTAINERS_KEY)
        records = [ContainerRecord.from_bytes(v) for v in data.values()]
        return sorted(records, key=lambda r: (r.created_at, r.container_id))

    def append_events(self, events: Iterable[ContainerEvent]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for event in events:
            pipe.xadd(
                events_key(event.container_id),
                {"event": event_to_pb(event).SerializeToString()},
                maxlen=EVENT_STREAM_MAXLEN,
                approximate=True,
            )
        self._call("append container events", pipe.execute)

    def read_events(self, container_id: str) -> list[ContainerEvent]:
        entries = self._call(
            "read container events", self._client.xrange, events_key(container_id)
        )
        return [
            event_from_pb(pb.ContainerEvent.FromString(fields[b"event"]))
            for _, fields in entries
        ]

    def put_snapshot(self, container_id: str, snapshot: bytes) -> None:
        self._call(
            "save a snapshot", self._client.set, snapshot_key(container_id), snapshot
        )

    def get_snapshot(self, container_id: str) -> bytes | None:
        data: bytes | None = self._call(
            "read a snapshot", self._client.get, snapshot_key(container_id)
        )
        return data

    def delete_snapshot(self, container_id: str) -> None:
        self._call("delete a snapshot", self._client.delete, snapshot_key(container_id))
