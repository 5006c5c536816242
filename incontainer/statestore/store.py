"""Redis access for the state store: key layout, Lua scripts, error mapping.

Every key of a container starts with ``ic:{<container_id>}:`` so that all of
them share one Redis Cluster hash slot and one Lua script may touch them all:

============================  ==============================================
``meta`` (hash)               ``version``: container version, bumped by one
                              per applied update; ``base_version``: version
                              of the ``base`` snapshot; ``epoch``: version at
                              which the last restore began
``ver`` (hash)                state key -> version of its last update
``tier`` (hash)               state key -> ``c``, ``o`` or ``n``
``val:<key>`` (string)        msgpack value; non-critical values may expire
``log`` (stream)              entry id ``<version>-0``, field ``r`` contains a
                              PatchRecord protobuf
``ids`` (sorted set)          update id -> version, for idempotent replay
``base`` (hash)               state key -> msgpack value at ``base_version``
``ckpts`` (sorted set)        checkpoint id -> version
``ckpt:<id>:manifest``        CheckpointManifest protobuf
``ckpt:<id>:val:<key>``       copy of a value
``ckpt:<id>:blob:<name>:<n>`` chunk ``n`` of a workspace tar or memory image
============================  ==============================================
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import redis
from redis.commands.core import Script

from incontainer.errors import StoreUnavailableError
from incontainer.statestore import _lua
from incontainer.statestore._wire import pb

__all__ = [
    "EntryResult",
    "RedisStateStore",
    "Status",
    "StoredItem",
    "Tier",
    "WireUpdate",
    "container_prefix",
]

# Patches that fell out of the retention window, folded per apply call at
# most. Folding starts once `fold_slack` of them piled up, so its fixed cost
# (trim, meta update) is paid once per slack updates, not on every update.
FOLD_BUDGET: Final = 256


class Tier(enum.StrEnum):
    """Tier of a state key: how fast and how reliably it is written."""

    CRITICAL = "critical"
    OPERATIONAL = "operational"
    NON_CRITICAL = "non_critical"

    @property
    def code(self) -> str:
        return _TIER_CODES[self]

    @property
    def proto(self) -> int:
        return int(_TIER_PROTO[self])

    @classmethod
    def from_code(cls, code: str) -> Tier:
        return _CODE_TIERS[code]


_TIER_CODES = {Tier.CRITICAL: "c", Tier.OPERATIONAL: "o", Tier.NON_CRITICAL: "n"}
_CODE_TIERS = {code: tier for tier, code in _TIER_CODES.items()}
_TIER_PROTO = {
    Tier.CRITICAL: pb.STATE_TIER_CRITICAL,
    Tier.OPERATIONAL: pb.STATE_TIER_OPERATIONAL,
    Tier.NON_CRITICAL: pb.STATE_TIER_NON_CRITICAL,
}


class Status(enum.IntEnum):
    """Outcome of one update in an apply batch, as the Lua script returns it."""

    APPLIED = 0
    CONFLICT = 1
    PATCH_FAILED = 2
    DUPLICATE = 3
    EXPIRED = 4
    SKIPPED = 5


@dataclass(frozen=True, slots=True)
class WireUpdate:
    """One update as sent to Redis; ``base_version`` -1 chains to the previous."""

    key: str
    base_version: int
    tier: Tier
    ttl_ms: int
    patch: bytes
    record: bytes
    update_id: str


@dataclass(frozen=True, slots=True)
class EntryResult:
    status: Status
    version: int
    op_index: int = -1
    message: str = ""


@dataclass(frozen=True, slots=True)
class StoredItem:
    key: str
    version: int
    tier: Tier
    raw: bytes


def container_prefix(container_id: str) -> str:
    return f"ic:{{{container_id}}}:"


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn redis-py errors into StoreUnavailableError, keeping the cause."""
    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailableError(
            f"state store request failed while {what}: {exc}; check that "
            "Redis is running and reachable, then retry"
        ) from exc


class RedisStateStore:
    """Lua-backed operations on one Redis connection pool."""

    def __init__(
        self, client: redis.Redis, *, retention_versions: int, max_depth: int
    ) -> None:
        self.client = client
        self.retention_versions = retention_versions
        self.max_depth = max_depth
        self.fold_slack = max(1, min(64, retention_versions // 8))
        self._apply: Script = client.register_script(_lua.APPLY_BATCH)
        self._read_all: Script = client.register_script(_lua.READ_ALL)
        self._snapshot: Script = client.register_script(_lua.SNAPSHOT)
        self._sha1: Script = client.register_script(_lua.SHA1_KEYS)
        self._restore_begin: Script = client.register_script(_lua.RESTORE_BEGIN)
        self._restore_rest: Script = client.register_script(_lua.RESTORE_REST)

    def ping(self) -> None:
        with translate_errors("checking the connection"):
            self.client.ping()

    def ensure_container(self, container_id: str, now: float) -> int:
        meta = container_prefix(container_id) + "meta"
        with translate_errors(f"initializing container {container_id!r}"):
            pipe = self.client.pipeline(transaction=True)
            pipe.hsetnx(meta, "version", 0)
            pipe.hsetnx(meta, "base_version", 0)
            pipe.hsetnx(meta, "created", repr(now))
            pipe.hget(meta, "version")
            return int(pipe.execute()[-1])

    def apply(
        self, container_id: str, updates: Sequence[WireUpdate]
    ) -> list[EntryResult]:
        args: list[Any] = [
            container_prefix(container_id),
            self.retention_versions,
            self.max_depth,
            FOLD_BUDGET,
            self.fold_slack,
        ]
        for update in updates:
            args += [
                update.key,
                update.base_version,
                update.tier.code,
                update.ttl_ms,
                update.patch,
                update.record,
                update.update_id,
            ]
        # Connection errors are not translated here, because the synchronizer
        # must distinguish them to switch to offline mode.
        raw = self._apply(keys=[], args=args)
        return [_entry_result(item) for item in raw]

    def read_all(self, container_id: str) -> tuple[int, int, dict[str, StoredItem]]:
        with translate_errors(f"reading the state of {container_id!r}"):
            raw = self._read_all(keys=[], args=[container_prefix(container_id)])
        items: dict[str, StoredItem] = {}
        for index in range(2, len(raw), 4):
            key = raw[index].decode()
            items[key] = StoredItem(
                key, int(raw[index + 1]), Tier.from_code(raw[index + 2].decode()),
                raw[index + 3],
            )  # fmt: skip
        return int(raw[0]), int(raw[1]), items

    def read_one(
        self, container_id: str, key: str
    ) -> tuple[int, int, Tier | None, bytes | None]:
        """Return container version, key version (0 if never written), tier
        and msgpack value (None when missing or expired), read atomically."""
        prefix = container_prefix(container_id)
        with translate_errors(f"reading state key {key!r} of {container_id!r}"):
            pipe = self.client.pipeline(transaction=True)
            pipe.hget(prefix + "meta", "version")
            pipe.hget(prefix + "ver", key)
            pipe.hget(prefix + "tier", key)
            pipe.get(prefix + "val:" + key)
            version, key_version, tier, raw = pipe.execute()
        parsed_tier = Tier.from_code(tier.decode()) if tier is not None else None
        return int(version or 0), int(key_version or 0), parsed_tier, raw

    def read_history(
        self, container_id: str, upto: int
    ) -> tuple[int, int, dict[str, bytes], list[Any]]:
        """Read meta, the base snapshot and log records up to ``upto`` at once."""
        prefix = container_prefix(container_id)
        with translate_errors(f"reading the patch log of {container_id!r}"):
            pipe = self.client.pipeline(transaction=True)
            pipe.hmget(prefix + "meta", "version", "base_version")
            pipe.hgetall(prefix + "base")
            pipe.xrange(prefix + "log", "-", f"{upto}-0")
            meta, base, entries = pipe.execute()
        records = []
        for _entry_id, fields in entries:
            record = pb.PatchRecord()
            record.ParseFromString(fields[b"r"])
            records.append(record)
        snapshot = {name.decode(): value for name, value in base.items()}
        return int(meta[0] or 0), int(meta[1] or 0), snapshot, records

    def snapshot(self, container_id: str, target_prefix: str) -> list[bytes]:
        with translate_errors(f"snapshotting the state of {container_id!r}"):
            result: list[bytes] = self._snapshot(
                keys=[], args=[container_prefix(container_id), target_prefix]
            )
        return result

    def sha1_of(self, keys: Sequence[str]) -> list[str]:
        with translate_errors("verifying checkpoint data"):
            raw = self._sha1(keys=[], args=list(keys))
        return [item.decode() for item in raw]

    def restore_begin(self, container_id: str, source: str, entries: list[Any]) -> int:
        with translate_errors(f"restoring the state of {container_id!r}"):
            epoch = self._restore_begin(
                keys=[], args=[container_prefix(container_id), source, *entries]
            )
        return int(epoch)

    def restore_rest(
        self, container_id: str, source: str, epoch: int, entries: list[Any]
    ) -> int:
        with translate_errors(f"restoring the state of {container_id!r}"):
            written = self._restore_rest(
                keys=[], args=[container_prefix(container_id), source, epoch, *entries]
            )
        return int(written)

    def delete_container(self, container_id: str) -> int:
        """Delete every key of a container; return how many were deleted."""
        pattern = container_prefix(container_id).replace("{", "\\{").replace(
            "}", "\\}"
        ) + "*"  # fmt: skip
        deleted = 0
        with translate_errors(f"deleting the state of {container_id!r}"):
            batch: list[bytes] = []
            for name in self.client.scan_iter(match=pattern, count=500):
                batch.append(name)
                if len(batch) >= 500:
                    deleted += int(self.client.delete(*batch))
                    batch.clear()
            if batch:
                deleted += int(self.client.delete(*batch))
        return deleted

    def call(self, what: str, function: Callable[[], Any]) -> Any:
        with translate_errors(what):
            return function()


def _entry_result(item: list[Any]) -> EntryResult:
    status = Status(int(item[0]))
    if status is Status.PATCH_FAILED:
        message = item[2].decode() if isinstance(item[2], bytes) else str(item[2])
        return EntryResult(status, 0, int(item[1]), message)
    return EntryResult(status, int(item[1]))
