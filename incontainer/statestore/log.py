"""Patch log records (protobuf) and point-in-time reads from the log.

Each applied update appends one PatchRecord to the container's Redis stream
under the id ``<version>-0``. The log keeps the last ``retention_versions``
versions. Older records are folded into a base snapshot, so the state at any
version from ``base_version`` up to the current one is rebuilt by applying
the retained records to that snapshot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from incontainer.errors import InvalidInputError, VersionNotRetainedError
from incontainer.statestore import codec
from incontainer.statestore._wire import pb
from incontainer.statestore.jsonpatch import ABSENT, apply_patch
from incontainer.statestore.store import RedisStateStore, Tier

__all__ = ["LogEntry", "encode_record", "read_log", "state_at"]

_PROTO_TIERS = {tier.proto: tier for tier in Tier}


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One decoded patch log record."""

    version: int
    key: str
    base_version: int
    tier: Tier
    patch: list[dict[str, Any]]
    timestamp: float
    update_id: str


def encode_record(
    container_id: str,
    key: str,
    base_version: int,
    tier: Tier,
    patch: bytes,
    update_id: str,
) -> bytes:
    """Serialize a PatchRecord without its version (the store appends it)."""
    record = pb.PatchRecord(
        key=key,
        base_version=max(base_version, 0),
        tier=tier.proto,
        patch=patch,
        timestamp=time.time(),
        update_id=update_id,
        container_id=container_id,
    )
    data: bytes = record.SerializeToString()
    return data


def _decode(record: Any) -> LogEntry:
    return LogEntry(
        version=record.version,
        key=record.key,
        base_version=record.base_version,
        tier=_PROTO_TIERS.get(record.tier, Tier.CRITICAL),
        patch=codec.unpack(record.patch),
        timestamp=record.timestamp,
        update_id=record.update_id,
    )


def _check_version(container_id: str, version: int, base: int, current: int) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidInputError(
            f"invalid version {version!r}: expected an integer >= 0",
            field="version",
            value=version,
        )
    if version > current:
        raise InvalidInputError(
            f"version {version} of container {container_id!r} does not exist yet: "
            f"the current version is {current}",
            field="version",
            value=version,
        )
    if version < base:
        raise VersionNotRetainedError(
            f"version {version} of container {container_id!r} is no longer in the "
            f"patch log: the oldest available version is {base}; raise "
            "retention_versions to keep more history",
            version=version,
            oldest_version=base,
        )


def read_log(
    store: RedisStateStore, container_id: str, upto: int | None = None
) -> list[LogEntry]:
    """Return the retained log records up to version ``upto`` (all if None)."""
    limit = upto if upto is not None else 2**63 - 1
    _current, _base, _snapshot, records = store.read_history(container_id, limit)
    return [_decode(record) for record in records]


def state_at(store: RedisStateStore, container_id: str, version: int) -> dict[str, Any]:
    """Rebuild the values of all state keys as of container ``version``.

    Raises VersionNotRetainedError when the version is older than the log
    retains and InvalidInputError when it is newer than the current one.
    """
    current, base, snapshot, records = store.read_history(container_id, version)
    _check_version(container_id, version, base, current)
    values: dict[str, Any] = {key: codec.unpack(raw) for key, raw in snapshot.items()}
    for record in records:
        if record.version <= base:
            continue
        entry = _decode(record)
        values[entry.key] = apply_patch(values.get(entry.key, ABSENT), entry.patch)
    return values
