"""The public state synchronizer and ``create_state_synchronizer``."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from incontainer.errors import (
    ConflictError,
    InvalidInputError,
    InvalidStateError,
    StateKeyNotFoundError,
    StoreUnavailableError,
)
from incontainer.statestore import checkpoint as _checkpoint
from incontainer.statestore import codec
from incontainer.statestore.conflicts import (
    ConflictStrategy,
    MergeResult,
    three_way_merge,
)
from incontainer.statestore.jsonpatch import ABSENT, copy_value, validate_patch
from incontainer.statestore.log import LogEntry, read_log, state_at
from incontainer.statestore.queue import Backoff
from incontainer.statestore.store import Tier
from incontainer.statestore.sync import SyncCore, parse_tier
from incontainer.statestore.types import (
    StateEntry,
    SyncEvent,
    SynchronizerConfig,
    SyncStatistics,
    UpdateResult,
)

__all__ = ["ResolveResult", "StateSynchronizer", "create_state_synchronizer"]

logger = logging.getLogger(__name__)

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class ResolveResult:
    """Outcome of ``resolve_conflict``: the value now stored and its version.

    ``unmerged_paths`` lists the JSON Pointers a MERGE could not merge; the
    stored value keeps the server's value there.
    """

    key: str
    strategy: ConflictStrategy
    version: int
    value: Any
    unmerged_paths: tuple[str, ...] = ()


def _check_base_version(base_version: object) -> int | None:
    if base_version is None:
        return None
    if isinstance(base_version, bool) or not isinstance(base_version, int):
        raise InvalidInputError(
            f"invalid base_version {base_version!r}: expected an integer >= 0 or None",
            field="base_version",
            value=base_version,
        )
    if base_version < 0:
        raise InvalidInputError(
            f"invalid base_version {base_version}: expected an integer >= 0 or None",
            field="base_version",
            value=base_version,
        )
    return base_version


def _ttl_ms(ttl_s: object, tier: Tier) -> int:
    if ttl_s is None:
        return 0
    if tier is not Tier.NON_CRITICAL:
        raise InvalidInputError(
            f"invalid ttl_s {ttl_s!r} for tier {tier.value!r}: only non_critical "
            "state may expire",
            field="ttl_s",
            value=ttl_s,
        )
    valid = isinstance(ttl_s, int | float) and not isinstance(ttl_s, bool)
    if not valid or not math.isfinite(ttl_s) or ttl_s <= 0:  # type: ignore[arg-type,operator]
        raise InvalidInputError(
            f"invalid ttl_s {ttl_s!r}: expected seconds > 0", field="ttl_s", value=ttl_s
        )
    return max(1, round(float(ttl_s) * 1000))  # type: ignore[arg-type]


class StateSynchronizer:
    """Synchronizes container state with Redis; see the module ``sync``.

    Thread-safe. ``close()`` is safe to call twice and the object is a
    context manager. Pickling it (for example to pass it to a Ray actor)
    sends only its configuration; the copy opens its own connection.
    """

    def __init__(
        self,
        config: SynchronizerConfig,
        *,
        client: redis.Redis | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._core = SyncCore(
            config, client=client, clock=clock, sleep=sleep, backoff=backoff
        )
        self.config = config

    def __repr__(self) -> str:
        core = self._core
        state = "online"
        if core.closed:
            state = "closed"
        elif core.offline:
            state = "offline"
        return (
            f"<StateSynchronizer {state} {self.config.redis_url or 'client'} "
            f"containers={len(core.containers)} pending={len(core.queue)}>"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        if self.config.redis_url is None:
            raise InvalidStateError(
                "a state synchronizer built on a redis.Redis client cannot be "
                "pickled; create it with a redis_url instead",
                container_id="",
                state="client-bound",
                operation="pickle",
            )
        return (StateSynchronizer, (self.config,))

    def __enter__(self) -> StateSynchronizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lifecycle --------------------------------------------------------

    def initialize_sync(self, container_id: str) -> int:
        """Start synchronizing a container and return its current version."""
        container_id = codec.check_container_id(container_id)
        self._core.check_open(None, "initialize_sync")
        version = self._core.store.ensure_container(container_id, time.time())
        with self._core.lock:
            self._core.containers.add(container_id)
        self._core.start()
        return version

    def terminate_sync(self, container_id: str, *, purge: bool = False) -> None:
        """Send the container's queued updates and stop synchronizing it.

        With ``purge``, also delete all of its state, log and checkpoints.
        Raises StoreUnavailableError, leaving the container synchronized,
        when its queued updates cannot be sent.
        """
        container_id = codec.check_container_id(container_id)
        core = self._core
        core.check_open(container_id, "terminate_sync")
        self.flush()
        with core.lock:
            core.containers.discard(container_id)
            for slot in [s for s in core.cache if s[0] == container_id]:
                del core.cache[slot]
            for slot in [s for s in core.conflicts if s[0] == container_id]:
                del core.conflicts[slot]
        if purge:
            core.store.delete_container(container_id)

    def close(self) -> None:
        """Send what is queued (when Redis is reachable) and release resources."""
        core = self._core
        with core.lock:
            if core.closed:
                return
        try:
            if not core.offline:
                self.flush()
        except StoreUnavailableError as exc:
            logger.warning("state synchronizer closing while the store fails: %s", exc)
        with core.lock:
            core.closed = True
            lost = len(core.queue)
            core.queue.drain_all()
        core.notify()
        core._stopped.set()
        if core._thread is not None:
            core._thread.join(timeout=10)
        if lost:
            logger.warning("state synchronizer closed with %d unsent updates", lost)
        if core._owns_client:
            core.client.close()

    # -- writes -----------------------------------------------------------

    def update_state(
        self,
        container_id: str,
        key: str,
        value: Any,
        tier: Tier | str = Tier.CRITICAL,
        base_version: int | None = None,
        *,
        ttl_s: float | None = None,
        allow_offline: bool | None = None,
    ) -> UpdateResult:
        """Write ``value`` as the new value of ``key``, sent as a JSON Patch.

        ``base_version`` is the version the value derives from; None means the
        version this synchronizer last read or wrote (the current one if it
        never saw the key). A stale base raises ConflictError for critical
        updates and is reported to listeners for queued ones. Critical
        updates return once Redis applied them; operational and non-critical
        ones return ``status="queued"``. While Redis is unreachable a critical
        update raises StoreUnavailableError unless ``allow_offline`` (default:
        the synchronizer's setting) queues it.
        """
        container_id = codec.check_container_id(container_id)
        key = codec.check_key(key)
        parsed_tier = parse_tier(tier)
        base = _check_base_version(base_version)
        ttl_ms = _ttl_ms(ttl_s, parsed_tier)
        codec.check_value(value, key=key, max_depth=self.config.max_depth)
        offline_ok = (
            self.config.allow_offline if allow_offline is None else allow_offline
        )
        critical = parsed_tier is Tier.CRITICAL
        update = self._core.enqueue(
            container_id, key, copy_value(value), parsed_tier, base, ttl_ms,
            offline_ok, wait=critical,
        )  # fmt: skip
        if not critical:
            self._core.notify()
            return UpdateResult(
                container_id, key, parsed_tier, "queued", None, update.update_id
            )
        version = self._wait(update.future, offline_ok)
        if version is None:
            return UpdateResult(
                container_id, key, parsed_tier, "queued", None, update.update_id
            )
        return UpdateResult(
            container_id, key, parsed_tier, "applied", version, update.update_id
        )

    def patch_state(
        self,
        container_id: str,
        key: str,
        patch: Sequence[dict[str, Any]],
        *,
        base_version: int | None = None,
        tier: Tier | str = Tier.CRITICAL,
    ) -> int:
        """Apply an RFC 6902 patch to ``key`` in Redis and return the version.

        With ``base_version`` the patch applies only if the key is still at
        that version (else ConflictError); without it, it applies to the
        current value. A failing operation raises PatchError and changes
        nothing. This call always waits for Redis, whatever the tier.
        """
        container_id = codec.check_container_id(container_id)
        key = codec.check_key(key)
        parsed_tier = parse_tier(tier)
        base = _check_base_version(base_version)
        operations = validate_patch(patch)
        for index, operation in enumerate(operations):
            if "value" in operation:
                codec.check_value(
                    operation["value"],
                    key=f"{key} (operation {index})",
                    max_depth=self.config.max_depth,
                )
        raw = self._core.new_raw(operations)
        update = self._core.enqueue(
            container_id, key, raw, parsed_tier, base, 0, False, wait=True
        )
        version = self._wait(update.future, False)
        assert version is not None
        return version

    def _wait(self, future: Future[int] | None, offline_ok: bool) -> int | None:
        assert future is not None
        self._core.drain(force=False, until=future)
        if not future.done():
            if offline_ok:
                return None
            raise StoreUnavailableError("state store unreachable; the update is queued")
        return future.result()

    def flush(self) -> tuple[ConflictError, ...]:
        """Send every queued update now and return the conflicts among them.

        Raises StoreUnavailableError when Redis is unreachable; the updates
        stay queued and are replayed when it comes back.
        """
        core = self._core
        core.check_open(None, "flush")
        conflicts: list[ConflictError] = []
        core.drain(force=True, conflicts=conflicts)
        with core.lock:
            offline, pending = core.offline, len(core.queue)
        if offline and pending:
            raise StoreUnavailableError(
                f"state store unreachable: {pending} updates stay queued and are "
                "sent when it is back"
            )
        return tuple(conflicts)

    # -- reads ------------------------------------------------------------

    def get_state(
        self, container_id: str, key: str | None = None, *, version: int | None = None
    ) -> Any:
        """Read one value (``key``) or a dict of all values from Redis.

        ``version`` reads the state as of that container version from the
        patch log. Updates still in the local queue are not included; call
        ``flush()`` first to include them.
        """
        if key is None:
            return {
                name: entry.value
                for name, entry in self._read(container_id, version).items()
            }
        return self.get_entry(container_id, key, version=version).value

    def get_entry(
        self, container_id: str, key: str, *, version: int | None = None
    ) -> StateEntry:
        """Read a value together with its version and tier."""
        container_id = codec.check_container_id(container_id)
        key = codec.check_key(key)
        if version is not None:
            entries = self._read(container_id, version)
            if key not in entries:
                raise StateKeyNotFoundError(container_id, key)
            return entries[key]
        self._core.check_open(None, "get_state")
        _current, key_version, tier, raw = self._core.store.read_one(container_id, key)
        if raw is None or tier is None:
            raise StateKeyNotFoundError(container_id, key)
        value = codec.unpack(raw)
        self._core.remember(container_id, key, key_version, copy_value(value))
        return StateEntry(key, value, key_version, tier)

    def _read(self, container_id: str, version: int | None) -> dict[str, StateEntry]:
        container_id = codec.check_container_id(container_id)
        self._core.check_open(None, "get_state")
        if version is not None:
            values = state_at(self._core.store, container_id, version)
            # Point-in-time entries carry the requested version, not the
            # version of each key's last update before it.
            return {
                key: StateEntry(key, value, version, Tier.CRITICAL)
                for key, value in values.items()
            }
        _version, _base, items = self._core.store.read_all(container_id)
        entries = {}
        for key, item in items.items():
            value = codec.unpack(item.raw)
            self._core.remember(container_id, key, item.version, copy_value(value))
            entries[key] = StateEntry(key, value, item.version, item.tier)
        return entries

    def history(self, container_id: str, *, upto: int | None = None) -> list[LogEntry]:
        """Return the retained patch log records of a container, oldest first."""
        container_id = codec.check_container_id(container_id)
        self._core.check_open(None, "history")
        return read_log(self._core.store, container_id, upto)

    # -- conflicts --------------------------------------------------------

    def resolve_conflict(
        self,
        container_id: str,
        key: str,
        strategy: ConflictStrategy | str,
        value: Any = _MISSING,
    ) -> ResolveResult:
        """Settle the last conflict on ``key`` with a strategy.

        ``client_wins`` and ``merge`` need a conflict this synchronizer saw;
        ``value`` needs the ``value`` argument. Retries up to
        ``max_conflict_retries`` times while the key keeps changing, then
        raises ConflictError.
        """
        container_id = codec.check_container_id(container_id)
        key = codec.check_key(key)
        parsed = ConflictStrategy.parse(strategy)
        core = self._core
        core.check_open(container_id, "resolve_conflict")
        if parsed is ConflictStrategy.VALUE:
            if value is _MISSING:
                raise InvalidInputError(
                    "missing value: strategy 'value' writes the value you pass",
                    field="value",
                )
            codec.check_value(value, key=key, max_depth=self.config.max_depth)
        with core.lock:
            recorded = core.conflicts.get((container_id, key))
        if recorded is None and parsed in (
            ConflictStrategy.CLIENT_WINS,
            ConflictStrategy.MERGE,
        ):
            raise InvalidInputError(
                f"no conflict recorded for state key {key!r} of {container_id!r}: "
                f"strategy {parsed.value!r} needs one; use 'value' to write a value",
                field="strategy",
                value=parsed.value,
            )
        if parsed is ConflictStrategy.SERVER_WINS:
            return self._server_wins(container_id, key)
        return self._resolve_loop(container_id, key, parsed, value, recorded)

    def _server_wins(self, container_id: str, key: str) -> ResolveResult:
        with self._core.lock:
            self._core.conflicts.pop((container_id, key), None)
        entry = self.get_entry(container_id, key)
        return ResolveResult(
            key, ConflictStrategy.SERVER_WINS, entry.version, entry.value
        )

    def _current(self, container_id: str, key: str) -> tuple[int, Any, Tier]:
        _c, key_version, tier, raw = self._core.store.read_one(container_id, key)
        value = ABSENT if raw is None else codec.unpack(raw)
        return key_version, value, tier or Tier.CRITICAL

    def _resolve_loop(
        self,
        container_id: str,
        key: str,
        strategy: ConflictStrategy,
        value: Any,
        recorded: tuple[Any, int, int] | None,
    ) -> ResolveResult:
        attempts = self.config.max_conflict_retries + 1
        last: ConflictError | None = None
        for _attempt in range(attempts):
            version, current, tier = self._current(container_id, key)
            unmerged: tuple[str, ...] = ()
            if strategy is ConflictStrategy.VALUE:
                target = value
            elif strategy is ConflictStrategy.CLIENT_WINS:
                assert recorded is not None
                target = recorded[0]
            else:
                assert recorded is not None
                merged = self._merge(container_id, key, recorded, current)
                target, unmerged = merged.value, merged.unmerged_paths
            try:
                written = self._write_now(container_id, key, target, tier, version)
            except ConflictError as exc:
                last = exc
                continue
            with self._core.lock:
                self._core.conflicts.pop((container_id, key), None)
            return ResolveResult(key, strategy, written, copy_value(target), unmerged)
        assert last is not None
        raise ConflictError(
            f"state key {key!r} of {container_id!r} kept changing: "
            f"{attempts} attempts to resolve the conflict with {strategy.value!r} "
            "failed; try again later",
            container_id=container_id,
            key=key,
            base_version=last.base_version,
            current_version=last.current_version,
        ) from last

    def _merge(
        self, container_id: str, key: str, recorded: tuple[Any, int, int], current: Any
    ) -> MergeResult:
        ours, base_version, _seen = recorded
        base: Any = ABSENT
        if base_version > 0:
            base = state_at(self._core.store, container_id, base_version).get(
                key, ABSENT
            )
        return three_way_merge(base, ours, current)

    def _write_now(
        self, container_id: str, key: str, value: Any, tier: Tier, base_version: int
    ) -> int:
        update = self._core.enqueue(
            container_id,
            key,
            copy_value(value),
            tier,
            base_version,
            0,
            False,
            wait=True,
        )
        version = self._wait(update.future, False)
        assert version is not None
        return version

    # -- checkpoints ------------------------------------------------------

    def checkpoint(
        self,
        container_id: str,
        *,
        workspace: Path | None = None,
        memory_image_hook: Callable[[], bytes | Path] | None = None,
    ) -> _checkpoint.CheckpointInfo:
        """Snapshot all tiers at one version plus workspace and memory image.

        Queued updates are sent first. The stored checkpoint is verified by
        checksums before this returns; on a mismatch it is deleted and
        CheckpointError is raised.
        """
        container_id = codec.check_container_id(container_id)
        self._core.check_open(container_id, "checkpoint")
        self.flush()
        info = _checkpoint.create_checkpoint(
            self._core.store,
            container_id,
            workspace=workspace,
            memory_image_hook=memory_image_hook,
            chunk_size=self.config.chunk_size,
        )
        self._core.emit(SyncEvent("checkpoint", container_id, version=info.version))
        return info

    def list_checkpoints(self, container_id: str) -> list[_checkpoint.CheckpointInfo]:
        container_id = codec.check_container_id(container_id)
        self._core.check_open(None, "list_checkpoints")
        return _checkpoint.list_checkpoints(self._core.store, container_id)

    def restore(
        self,
        container_id: str,
        source: str | int,
        *,
        workspace: Path | None = None,
        memory_image_path: Path | None = None,
        background: bool = True,
    ) -> _checkpoint.RestoreHandle:
        """Restore a container from a checkpoint id or a log version.

        Returns once critical state is in Redis (event ``restore_critical``).
        Operational and non-critical state, the workspace and the memory
        image follow in a background thread (inline when ``background`` is
        False), and event ``restore_complete`` ends the restore. The restored
        state gets a new version (a new epoch), so writers holding an older
        base version get a conflict. Log history before the restore is
        dropped.
        """
        container_id = codec.check_container_id(container_id)
        core = self._core
        core.check_open(container_id, "restore")
        self.flush()
        with core.lock:
            for slot in [s for s in core.cache if s[0] == container_id]:
                del core.cache[slot]
        return _checkpoint.restore(
            core.store,
            container_id,
            source,
            workspace=workspace,
            memory_image_path=memory_image_path,
            background=background,
            emit=core.emit,
        )

    # -- observers --------------------------------------------------------

    def add_listener(self, callback: Callable[[SyncEvent], None]) -> Callable[[], None]:
        """Register ``callback`` for SyncEvents; return a function removing it.

        Callbacks run on the thread that caused the event (the caller or the
        background sender) and must not block.
        """
        if not callable(callback):
            raise InvalidInputError(
                f"invalid listener {callback!r}: expected a callable",
                field="callback",
                value=callback,
            )
        core = self._core
        with core.lock:
            core.listeners.append(callback)

        def remove() -> None:
            with core.lock:
                if callback in core.listeners:
                    core.listeners.remove(callback)

        return remove

    def statistics(self) -> SyncStatistics:
        core = self._core
        with core.lock:
            return SyncStatistics(
                containers=len(core.containers),
                pending=core.queue.counts(),
                applied=dict(core.applied),
                batches_sent=core.batches_sent,
                bytes_sent=core.bytes_sent,
                conflicts=core.conflict_count,
                dropped_non_critical=core.queue.dropped,
                coalesced_non_critical=core.queue.coalesced,
                offline=core.offline,
                reconnect_attempts=core.reconnect_attempts,
                closed=core.closed,
            )


def create_state_synchronizer(
    redis_url: str | None = None,
    *,
    client: redis.Redis | None = None,
    flush_interval_s: float = 0.05,
    max_batch: int = 64,
    max_pending: int = 10_000,
    retention_versions: int = 1000,
    max_depth: int = codec.DEFAULT_MAX_DEPTH,
    max_conflict_retries: int = 5,
    allow_offline: bool = False,
    socket_timeout_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
    backoff: Backoff | None = None,
) -> StateSynchronizer:
    """Create a StateSynchronizer on ``redis_url`` or an existing ``client``.

    ``clock``, ``sleep`` and ``backoff`` exist for tests: ``sleep`` replaces
    the wait between reconnection attempts.
    """
    if client is not None and not isinstance(client, redis.Redis):
        raise InvalidInputError(
            f"invalid client {client!r}: expected a redis.Redis",
            field="client",
            value=client,
        )
    config = SynchronizerConfig(
        redis_url=redis_url,
        flush_interval_s=flush_interval_s,
        max_batch=max_batch,
        max_pending=max_pending,
        retention_versions=retention_versions,
        max_depth=max_depth,
        max_conflict_retries=max_conflict_retries,
        allow_offline=allow_offline,
        socket_timeout_s=socket_timeout_s,
    )
    return StateSynchronizer(
        config, client=client, clock=clock, sleep=sleep, backoff=backoff
    )
