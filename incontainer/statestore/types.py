"""Configuration, results, events and statistics of the state synchronizer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from incontainer.errors import InvalidInputError
from incontainer.statestore.store import Tier

__all__ = [
    "StateEntry",
    "SyncEvent",
    "SyncStatistics",
    "SynchronizerConfig",
    "UpdateResult",
]

EventKind = Literal[
    "applied",
    "conflict",
    "failed",
    "dropped",
    "offline",
    "online",
    "checkpoint",
    "restore_critical",
    "restore_complete",
]


def _require(condition: bool, name: str, value: object, expectation: str) -> None:
    if not condition:
        raise InvalidInputError(
            f"invalid {name} {value!r}: expected {expectation}", field=name, value=value
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seconds(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


@dataclass(frozen=True)
class SynchronizerConfig:
    """Settings of a StateSynchronizer; picklable, so it can go to a Ray actor.

    ``flush_interval_s``: how long operational and non-critical updates wait
    to be batched (0 sends them as soon as the background thread runs).
    ``max_batch``: updates per Redis call. ``max_pending``: bound of the local
    queue (non-critical updates are dropped first). ``retention_versions``:
    versions the patch log keeps (0 keeps all). ``max_depth``: nesting limit
    of values. ``max_conflict_retries``: attempts of ``resolve_conflict`` when
    the key keeps changing. ``allow_offline``: queue critical updates while
    Redis is unreachable instead of raising StoreUnavailableError.
    """

    redis_url: str | None = None
    flush_interval_s: float = 0.05
    max_batch: int = 64
    max_pending: int = 10_000
    retention_versions: int = 1000
    max_depth: int = 128
    max_conflict_retries: int = 5
    allow_offline: bool = False
    socket_timeout_s: float = 5.0
    backoff_base_s: float = 0.05
    backoff_max_s: float = 5.0
    chunk_size: int = 1 << 20

    def __post_init__(self) -> None:
        url = self.redis_url
        _require(
            url is None
            or (
                isinstance(url, str)
                and url.startswith(("redis://", "rediss://", "unix://"))
            ),
            "redis_url",
            url,
            "a redis://, rediss:// or unix:// URL",
        )
        for name in ("flush_interval_s", "backoff_base_s"):
            _require(
                _is_seconds(getattr(self, name)),
                name,
                getattr(self, name),
                "seconds >= 0",
            )
        for name in ("socket_timeout_s", "backoff_max_s"):
            value = getattr(self, name)
            _require(_is_seconds(value) and value > 0, name, value, "seconds > 0")
        for name, low in (
            ("max_batch", 1),
            ("max_pending", 1),
            ("retention_versions", 0),
            ("max_depth", 1),
            ("max_conflict_retries", 0),
            ("chunk_size", 1024),
        ):
            value = getattr(self, name)
            _require(
                _is_int(value) and value >= low, name, value, f"an integer >= {low}"
            )
        _require(
            isinstance(self.allow_offline, bool),
            "allow_offline",
            self.allow_offline,
            "a bool",
        )


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """Outcome of ``update_state``.

    ``status`` is ``"applied"`` when Redis applied the update before the call
    returned (``version`` is then the new version of the key) and
    ``"queued"`` when it waits in the local queue (``version`` is None).
    """

    container_id: str
    key: str
    tier: Tier
    status: Literal["applied", "queued"]
    version: int | None
    update_id: str


@dataclass(frozen=True, slots=True)
class StateEntry:
    """A state value with the version of its last update and its tier."""

    key: str
    value: Any
    version: int
    tier: Tier


@dataclass(frozen=True, slots=True)
class SyncEvent:
    """Event passed to listeners; ``error`` is set for conflicts and failures."""

    kind: EventKind
    container_id: str = ""
    key: str = ""
    version: int | None = None
    tier: Tier | None = None
    error: Exception | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SyncStatistics:
    """Snapshot of a synchronizer's counters."""

    containers: int
    pending: dict[Tier, int] = field(default_factory=dict)
    applied: dict[Tier, int] = field(default_factory=dict)
    batches_sent: int = 0
    bytes_sent: int = 0
    conflicts: int = 0
    dropped_non_critical: int = 0
    coalesced_non_critical: int = 0
    offline: bool = False
    reconnect_attempts: int = 0
    closed: bool = False
