"""The state synchronizer: differential updates, tiers, offline queue.

What "acknowledged" means: a critical ``update_state`` returns after Redis
applied the update (one Lua script call) and replied. The embedded
redis-server runs with ``appendonly yes`` and ``appendfsync everysec``. An
acknowledged update therefore survives a kill -9 of redis-server, because
the AOF write is in the kernel page cache. On a power loss, at most about
one second of updates is at risk. Redis 7.0 has no WAITAOF (added in 7.2),
so the store cannot wait for the fsync itself.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from incontainer.errors import (
    ConflictError,
    IncontainerError,
    InvalidInputError,
    InvalidStateError,
    PatchError,
    StoreUnavailableError,
)
from incontainer.statestore import codec
from incontainer.statestore.jsonpatch import ABSENT, copy_value, make_patch
from incontainer.statestore.log import encode_record
from incontainer.statestore.queue import Backoff, PendingUpdate, SyncQueue
from incontainer.statestore.store import (
    EntryResult,
    RedisStateStore,
    Status,
    Tier,
    WireUpdate,
)
from incontainer.statestore.types import SyncEvent, SynchronizerConfig

__all__ = ["SyncCore", "parse_tier"]

logger = logging.getLogger(__name__)

Listener = Callable[[SyncEvent], None]
# Lua base version meaning "apply on top of whatever version is current".
ANY_VERSION = -2
CHAINED = -1


def parse_tier(tier: object) -> Tier:
    if isinstance(tier, Tier):
        return tier
    if isinstance(tier, str):
        normalized = tier.strip().lower().replace("-", "_")
        for member in Tier:
            if member.value == normalized:
                return member
    raise InvalidInputError(
        f"invalid tier {tier!r}: expected 'critical', 'operational' or 'non_critical'",
        field="tier",
        value=tier,
    )


def _is_disconnect(exc: BaseException) -> bool:
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return True
    cause = exc.__cause__
    return isinstance(exc, StoreUnavailableError) and isinstance(
        cause, redis.ConnectionError | redis.TimeoutError
    )


class _Raw:
    """A pending raw RFC 6902 patch (``patch_state``) instead of a full value."""

    __slots__ = ("operations",)

    def __init__(self, operations: list[dict[str, Any]]) -> None:
        self.operations = operations


class SyncCore:
    """Queue, sender thread, cache and connection shared by the public API."""

    def __init__(
        self,
        config: SynchronizerConfig,
        *,
        client: redis.Redis | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self._owns_client = client is None
        if client is None:
            if config.redis_url is None:
                raise InvalidInputError(
                    "missing redis_url: pass the URL of the state store's Redis "
                    "(redis://127.0.0.1:PORT/0) or a redis.Redis client",
                    field="redis_url",
                )
            client = redis.Redis.from_url(
                config.redis_url,
                socket_timeout=config.socket_timeout_s,
                socket_connect_timeout=config.socket_timeout_s,
                retry=Retry(NoBackoff(), 0),
            )
        self.client = client
        self.store = RedisStateStore(
            client,
            retention_versions=config.retention_versions,
            max_depth=config.max_depth,
        )
        self.clock = clock
        self._sleep = sleep
        self.backoff = backoff or Backoff(
            base_s=config.backoff_base_s, max_s=config.backoff_max_s
        )
        self.lock = threading.Lock()
        self._wakeup = threading.Condition(self.lock)
        self._send_lock = threading.Lock()
        self._stopped = threading.Event()
        self.queue = SyncQueue(max_pending=config.max_pending)
        self.cache: dict[tuple[str, str], tuple[int, Any]] = {}
        self.containers: set[str] = set()
        self.conflicts: dict[tuple[str, str], tuple[Any, int, int]] = {}
        self.listeners: list[Listener] = []
        self.offline = False
        self.closed = False
        self._flush_requested = False
        self._thread: threading.Thread | None = None
        self.applied = dict.fromkeys(Tier, 0)
        self.batches_sent = 0
        self.bytes_sent = 0
        self.conflict_count = 0
        self.reconnect_attempts = 0
        self._listener_errors = 0

    # -- events -----------------------------------------------------------

    def emit(self, event: SyncEvent) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                # Listeners run on the sender thread too, where no caller can
                # receive the exception; log the first few and count the rest.
                self._listener_errors += 1
                if self._listener_errors <= 5:
                    logger.exception("state listener failed on %s event", event.kind)

    # -- background thread ------------------------------------------------

    def start(self) -> None:
        with self.lock:
            if self._thread is not None or self.closed:
                return
            self._thread = threading.Thread(
                target=self._run, name="incontainer-state-sync", daemon=True
            )
            self._thread.start()

    def notify(self) -> None:
        with self._wakeup:
            self._wakeup.notify_all()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while True:
                    if self.closed:
                        return
                    if self.offline:
                        break
                    due = self.queue.due_in(self.clock(), self.config.flush_interval_s)
                    if due == 0.0:
                        break
                    self._wakeup.wait(timeout=due)
                offline = self.offline
            if offline:
                self._reconnect_step()
            else:
                self.drain(force=False)

    def _pause(self, delay: float) -> None:
        if self._sleep is not None:
            self._sleep(delay)
        else:
            self._stopped.wait(delay)

    def _reconnect_step(self) -> None:
        delay = self.backoff.next_delay()
        self._pause(delay)
        if self.closed:
            return
        with self.lock:
            self.reconnect_attempts += 1
        try:
            self.store.ping()
        except StoreUnavailableError:
            logger.debug("state store still unreachable, next try after backoff")
            return
        with self.lock:
            self.offline = False
            self.backoff.reset()
        logger.info("state store reachable again, replaying queued updates")
        self.emit(SyncEvent("online", detail=f"after {delay:.3f} s backoff"))
        self.drain(force=True)

    def go_offline(self, exc: BaseException) -> None:
        with self.lock:
            was_offline, self.offline = self.offline, True
        if not was_offline:
            logger.warning("state store unreachable, queueing updates: %s", exc)
            self.emit(SyncEvent("offline", detail=str(exc)))
        self.start()
        self.notify()

    # -- sending ----------------------------------------------------------

    def drain(
        self,
        *,
        force: bool,
        until: Future[int] | None = None,
        conflicts: list[ConflictError] | None = None,
    ) -> None:
        """Send batches, highest tier first, until there is nothing due.

        With ``until``, stop as soon as that update has a result.
        """
        with self._send_lock:
            while until is None or not until.done():
                with self.lock:
                    if self.offline:
                        return
                    batch = self.queue.take_batch(
                        self.clock(),
                        self.config.flush_interval_s,
                        self.config.max_batch,
                        force=force,
                    )
                if not batch:
                    return
                self._send_batch(batch, conflicts)

    def _send_batch(
        self, batch: list[PendingUpdate], conflicts: list[ConflictError] | None
    ) -> None:
        groups: dict[str, list[PendingUpdate]] = {}
        for update in batch:
            groups.setdefault(update.container_id, []).append(update)
        remaining = list(batch)
        for container_id, updates in groups.items():
            try:
                results = self._send_group(container_id, updates)
            except (redis.RedisError, StoreUnavailableError) as exc:
                if not _is_disconnect(exc):
                    self._fail_all(updates, exc)
                    remaining = [u for u in remaining if u not in updates]
                    continue
                self._requeue_after_disconnect(remaining, exc)
                return
            remaining = [u for u in remaining if u not in updates]
            self._settle(updates, results, conflicts)

    def _requeue_after_disconnect(
        self, updates: list[PendingUpdate], exc: BaseException
    ) -> None:
        rejected = [u for u in updates if u.future is not None and not u.offline_ok]
        with self.lock:
            self.queue.requeue_front([u for u in updates if u not in rejected])
        for update in rejected:
            _fail(
                update,
                StoreUnavailableError(
                    f"state store unreachable while writing critical key "
                    f"{update.key!r} of {update.container_id!r}: {exc}; the update "
                    "may or may not have been applied, read it back with "
                    "get_state() or pass allow_offline=True to queue it"
                ),
            )
        self.go_offline(exc)

    def _fail_all(self, updates: list[PendingUpdate], exc: BaseException) -> None:
        error = exc if isinstance(exc, IncontainerError) else StoreUnavailableError(
            f"state store rejected the update: {exc}"
        )  # fmt: skip
        for update in updates:
            _fail(update, error)
            self.emit(SyncEvent("failed", update.container_id, update.key, error=error))

    def base_for(self, update: PendingUpdate) -> tuple[int, Any] | int:
        """Return (version, document) to diff against, or the current version
        when the update's base version is stale (a conflict)."""
        slot = update.slot
        with self.lock:
            cached = self.cache.get(slot)
        expected = update.base_version
        if cached is not None and (expected is None or expected == cached[0]):
            return cached
        _version, key_version, _tier, raw = self.store.read_one(*slot)
        current = (key_version, ABSENT if raw is None else codec.unpack(raw))
        if expected is not None and expected != key_version:
            return key_version
        self.remember(update.container_id, update.key, *current)
        return current

    def _send_group(
        self, container_id: str, updates: list[PendingUpdate]
    ) -> list[EntryResult]:
        results: list[EntryResult | None] = [None] * len(updates)
        wire: list[WireUpdate] = []
        positions: list[int] = []
        chain: dict[str, Any] = {}
        for index, update in enumerate(updates):
            prepared = self._prepare(update, chain)
            if isinstance(prepared, EntryResult):
                results[index] = prepared
                continue
            wire.append(prepared)
            positions.append(index)
        if wire:
            applied = self.store.apply(container_id, wire)
            for position, result in zip(positions, applied, strict=True):
                results[position] = result
            with self.lock:
                self.batches_sent += 1
                self.bytes_sent += sum(len(w.patch) + len(w.record) for w in wire)
        return [r if r is not None else EntryResult(Status.SKIPPED, 0) for r in results]

    def _prepare(
        self, update: PendingUpdate, chain: dict[str, Any]
    ) -> WireUpdate | EntryResult:
        raw = update.value if isinstance(update.value, _Raw) else None
        if update.key in chain:
            previous = chain[update.key]
            if previous is None:
                return EntryResult(Status.SKIPPED, 0)
            base_version, base_doc = CHAINED, previous
        elif raw is not None:
            explicit = update.base_version
            base_version = ANY_VERSION if explicit is None else explicit
            base_doc = None
        else:
            base = self.base_for(update)
            if isinstance(base, int):
                chain[update.key] = None
                return EntryResult(Status.CONFLICT, base)
            base_version, base_doc = base
        if raw is not None:
            operations = raw.operations
            chain[update.key] = None  # later updates of the key re-read it
        else:
            operations = make_patch(base_doc, update.value)
            chain[update.key] = update.value
        patch = codec.pack(operations)
        record = encode_record(
            update.container_id,
            update.key,
            base_version,
            update.tier,
            patch,
            update.update_id,
        )
        update.sent_base = base_version
        return WireUpdate(
            update.key,
            base_version,
            update.tier,
            update.ttl_ms,
            patch,
            record,
            update.update_id,
        )

    def remember(self, container_id: str, key: str, version: int, value: Any) -> None:
        with self.lock:
            cached = self.cache.get((container_id, key))
            if cached is None or cached[0] <= version:
                self.cache[(container_id, key)] = (version, value)

    def _settle(
        self,
        updates: list[PendingUpdate],
        results: list[EntryResult],
        conflicts: list[ConflictError] | None,
    ) -> None:
        for update, result in zip(updates, results, strict=True):
            status = result.status
            if status in (Status.APPLIED, Status.DUPLICATE):
                self._settle_applied(update, result.version)
            elif status is Status.EXPIRED:
                # The value expired after it was cached: send the whole value.
                with self.lock:
                    self.cache.pop(update.slot, None)
                    self.queue.requeue_front([update])
            elif status is Status.PATCH_FAILED:
                failure = PatchError(
                    f"patch for state key {update.key!r} of {update.container_id!r} "
                    f"failed at operation {result.op_index}: {result.message}",
                    op_index=result.op_index,
                    key=update.key,
                    path=_op_path(update, result.op_index),
                )
                _fail(update, failure)
                self.emit(
                    SyncEvent("failed", update.container_id, update.key, error=failure)
                )
            else:
                conflict = self._conflict(update, result)
                if conflicts is not None:
                    conflicts.append(conflict)

    def _settle_applied(self, update: PendingUpdate, version: int) -> None:
        with self.lock:
            self.applied[update.tier] += 1
            if isinstance(update.value, _Raw):
                self.cache.pop(update.slot, None)
            else:
                self.cache[update.slot] = (version, update.value)
            self.conflicts.pop(update.slot, None)
        if update.future is not None and not update.future.done():
            update.future.set_result(version)
        if self.listeners:
            self.emit(
                SyncEvent(
                    "applied", update.container_id, update.key, version, update.tier
                )
            )

    def _conflict(self, update: PendingUpdate, result: EntryResult) -> ConflictError:
        current = result.version
        base = update.base_version
        if base is None:
            base = update.sent_base if update.sent_base >= 0 else current
        error = ConflictError(
            f"state key {update.key!r} of container {update.container_id!r} changed: "
            f"the update was based on version {base} but the store has version "
            f"{current}; read it again, or call resolve_conflict()",
            container_id=update.container_id,
            key=update.key,
            base_version=base,
            current_version=current,
        )
        with self.lock:
            self.conflict_count += 1
            self.cache.pop(update.slot, None)
            if not isinstance(update.value, _Raw):
                self.conflicts[update.slot] = (update.value, base, current)
        _fail(update, error)
        self.emit(
            SyncEvent("conflict", update.container_id, update.key, current, error=error)
        )
        return error

    # -- queueing ---------------------------------------------------------

    def enqueue(
        self,
        container_id: str,
        key: str,
        value: Any,
        tier: Tier,
        base_version: int | None,
        ttl_ms: int,
        offline_ok: bool,
        *,
        wait: bool,
    ) -> PendingUpdate:
        """Queue an update; with ``wait`` it goes out in the critical queue and
        carries a future for its version."""
        update = PendingUpdate(
            container_id=container_id,
            key=key,
            value=value,
            tier=tier,
            base_version=base_version,
            ttl_ms=ttl_ms,
            update_id=uuid.uuid4().hex,
            enqueued_at=self.clock(),
            future=Future() if wait else None,
            offline_ok=offline_ok,
        )
        with self.lock:
            self.check_open(container_id, "update_state")
            if self.offline and wait and not offline_ok:
                raise StoreUnavailableError(
                    f"state store is unreachable, so critical key {key!r} of "
                    f"{container_id!r} was not written; retry later or pass "
                    "allow_offline=True to queue it"
                )
            dropped = self.queue.put(update)
        for item in dropped:
            self.emit(
                SyncEvent(
                    "dropped",
                    item.container_id,
                    item.key,
                    tier=Tier.NON_CRITICAL,
                    detail="sync queue full",
                )
            )
        return update

    def check_open(self, container_id: str | None, operation: str) -> None:
        if self.closed:
            raise InvalidStateError(
                f"state synchronizer is closed; {operation} needs a new one from "
                "create_state_synchronizer()",
                container_id=container_id or "",
                state="closed",
                operation=operation,
            )
        if container_id is not None and container_id not in self.containers:
            raise InvalidStateError(
                f"container {container_id!r} is not synchronized; call "
                f"initialize_sync({container_id!r}) before {operation}",
                container_id=container_id,
                state="not initialized",
                operation=operation,
            )

    def new_raw(self, operations: list[dict[str, Any]]) -> _Raw:
        return _Raw(copy_value(operations))


def _fail(update: PendingUpdate, error: BaseException) -> None:
    if update.future is not None and not update.future.done():
        update.future.set_exception(error)


def _op_path(update: PendingUpdate, op_index: int) -> str:
    if isinstance(update.value, _Raw) and 0 <= op_index < len(update.value.operations):
        return str(update.value.operations[op_index].get("path", ""))
    return ""
