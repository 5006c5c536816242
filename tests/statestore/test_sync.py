"""Synchronizer against a real redis-server: tiers, log, retention, bad input."""

from __future__ import annotations

import math
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from incontainer.errors import (
    CapacityError,
    InvalidInputError,
    InvalidStateError,
    PatchError,
    StateKeyNotFoundError,
    VersionNotRetainedError,
)
from incontainer.statestore import (
    StateSynchronizer,
    SyncEvent,
    SynchronizerConfig,
    Tier,
    create_state_synchronizer,
)

MakeSync = Callable[..., StateSynchronizer]


def test_critical_update_is_applied_before_return(
    sync: StateSynchronizer, raw_redis: redis.Redis
) -> None:
    result = sync.update_state("c1", "k", {"a": 1})
    assert result.status == "applied"
    assert result.version == 1
    assert raw_redis.hget("ic:{c1}:ver", "k") == b"1"
    assert sync.get_entry("c1", "k").tier is Tier.CRITICAL


def test_update_sends_patch_not_value(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "k", {"big": "x" * 10_000, "n": 1})
    sync.update_state("c1", "k", {"big": "x" * 10_000, "n": 2})
    last = sync.history("c1")[-1]
    assert last.patch == [{"op": "replace", "path": "/n", "value": 2}]
    assert last.base_version == 1
    assert last.version == 2


def test_get_state_all_keys(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "a", 1)
    sync.update_state("c1", "b", [1, {"c": None}])
    assert sync.get_state("c1") == {"a": 1, "b": [1, {"c": None}]}


def test_missing_key_raises(sync: StateSynchronizer) -> None:
    with pytest.raises(StateKeyNotFoundError) as caught:
        sync.get_state("c1", "nope")
    assert caught.value.key == "nope"


def test_value_copied_at_call(sync: StateSynchronizer) -> None:
    value = {"items": [1]}
    sync.update_state("c1", "k", value, tier="operational")
    value["items"].append(2)
    sync.flush()
    assert sync.get_state("c1", "k") == {"items": [1]}


def test_tier_order_on_flush(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "n1", 1, tier="non_critical")
    sync.update_state("c1", "o1", 1, tier="operational")
    sync.update_state("c1", "o2", 1, tier="operational")
    sync.update_state("c1", "c1", 1, tier="critical")
    assert sync.statistics().pending == {
        Tier.CRITICAL: 0,
        Tier.OPERATIONAL: 2,
        Tier.NON_CRITICAL: 1,
    }
    sync.flush()
    assert [entry.key for entry in sync.history("c1")] == ["c1", "o1", "o2", "n1"]


def test_lower_tier_update_of_same_key_keeps_order(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "k", {"v": 1}, tier="operational")
    sync.update_state("c1", "k", {"v": 2}, tier="critical")
    assert [entry.patch for entry in sync.history("c1")] == [
        [{"op": "add", "path": "", "value": {"v": 1}}],
        [{"op": "replace", "path": "/v", "value": 2}],
    ]
    assert sync.get_state("c1", "k") == {"v": 2}


def test_operational_batched_until_flush(sync: StateSynchronizer) -> None:
    for index in range(5):
        sync.update_state("c1", f"o{index}", index, tier="operational")
    assert sync.statistics().pending[Tier.OPERATIONAL] == 5
    with pytest.raises(StateKeyNotFoundError):
        sync.get_state("c1", "o0")
    before = sync.statistics().batches_sent
    assert sync.flush() == ()
    assert sync.statistics().batches_sent == before + 1
    assert sync.get_state("c1") == {f"o{index}": index for index in range(5)}


def test_operational_chain_of_one_key(sync: StateSynchronizer) -> None:
    for index in range(4):
        sync.update_state("c1", "k", {"n": index}, tier="operational")
    sync.flush()
    history = sync.history("c1")
    assert [entry.version for entry in history] == [1, 2, 3, 4]
    assert sync.get_state("c1", "k") == {"n": 3}


def test_operational_sent_by_thread_at_zero_interval(make_sync: MakeSync) -> None:
    sync = make_sync(flush_interval_s=0.0)
    sync.initialize_sync("c1")
    applied = threading.Event()

    def on_event(event: SyncEvent) -> None:
        if event.kind == "applied" and event.key == "o4":
            applied.set()

    sync.add_listener(on_event)
    for index in range(5):
        sync.update_state("c1", f"o{index}", index, tier="operational")
    assert applied.wait(30)
    assert sync.get_state("c1", "o4") == 4


def test_non_critical_coalesced(sync: StateSynchronizer) -> None:
    for index in range(10):
        sync.update_state("c1", "metric", index, tier="non_critical")
    stats = sync.statistics()
    assert stats.pending[Tier.NON_CRITICAL] == 1
    assert stats.coalesced_non_critical == 9
    sync.flush()
    assert [entry.key for entry in sync.history("c1")] == ["metric"]
    assert sync.get_state("c1", "metric") == 9


def test_non_critical_ttl_set(sync: StateSynchronizer, raw_redis: redis.Redis) -> None:
    sync.update_state("c1", "m", {"x": 1}, tier="non_critical", ttl_s=30)
    sync.flush()
    ttl_ms = raw_redis.pttl("ic:{c1}:val:m")
    assert 0 < ttl_ms <= 30_000


@pytest.mark.realtime
def test_non_critical_expires_and_rewrites(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "m", {"x": 1}, tier="non_critical", ttl_s=0.001)
    sync.flush()
    # Redis expires a key lazily on access once its 1 ms TTL passed; the
    # 10 s bound only guards against a stalled host.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            sync.get_state("c1", "m")
        except StateKeyNotFoundError:
            break
        time.sleep(0.005)
    with pytest.raises(StateKeyNotFoundError):
        sync.get_state("c1", "m")
    # The synchronizer still caches the old value; the store reports it
    # expired and the update is sent again as a whole value.
    sync.update_state("c1", "m", {"x": 2}, tier="non_critical")
    sync.flush()
    assert sync.get_state("c1", "m") == {"x": 2}


def test_non_critical_dropped_when_full(make_sync: MakeSync) -> None:
    sync = make_sync(max_pending=3)
    sync.initialize_sync("c1")
    dropped: list[str] = []
    sync.add_listener(
        lambda event: dropped.append(event.key) if event.kind == "dropped" else None
    )
    for index in range(5):
        sync.update_state("c1", f"n{index}", index, tier="non_critical")
    assert sync.statistics().dropped_non_critical == 2
    assert dropped == ["n0", "n1"]
    sync.flush()
    assert sync.get_state("c1") == {"n2": 2, "n3": 3, "n4": 4}


def test_operational_never_dropped(make_sync: MakeSync) -> None:
    sync = make_sync(max_pending=2)
    sync.initialize_sync("c1")
    sync.update_state("c1", "n", 0, tier="non_critical")
    sync.update_state("c1", "o1", 1, tier="operational")
    sync.update_state("c1", "o2", 2, tier="operational")
    with pytest.raises(CapacityError):
        sync.update_state("c1", "o3", 3, tier="operational")
    assert sync.statistics().dropped_non_critical == 1
    sync.flush()
    assert sync.get_state("c1") == {"o1": 1, "o2": 2}


def test_point_in_time_reads(sync: StateSynchronizer) -> None:
    expected: dict[int, dict[str, Any]] = {0: {}}
    current: dict[str, Any] = {}
    for index in range(6):
        key = "a" if index % 2 else "b"
        current[key] = {"step": index, "list": list(range(index))}
        version = sync.update_state("c1", key, current[key]).version
        assert version is not None
        expected[version] = {k: dict(v) for k, v in current.items()}
    for version, state in expected.items():
        assert sync.get_state("c1", version=version) == state
    assert sync.get_state("c1", "a", version=4) == {"step": 3, "list": [0, 1, 2]}


def test_future_version_rejected(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "a", 1)
    with pytest.raises(InvalidInputError) as caught:
        sync.get_state("c1", version=2)
    assert caught.value.field == "version"


def test_retention_trims_log(make_sync: MakeSync, raw_redis: redis.Redis) -> None:
    sync = make_sync(retention_versions=3)
    sync.initialize_sync("c1")
    for index in range(1, 11):
        sync.update_state("c1", "k", {"n": index, "history": list(range(index))})
    assert raw_redis.xlen("ic:{c1}:log") == 3
    with pytest.raises(VersionNotRetainedError) as caught:
        sync.get_state("c1", version=6)
    assert caught.value.oldest_version == 7
    assert "oldest available version is 7" in str(caught.value)
    for version in range(7, 11):
        state = sync.get_state("c1", "k", version=version)
        assert state == {"n": version, "history": list(range(version))}


def test_retention_keeps_other_keys(make_sync: MakeSync) -> None:
    sync = make_sync(retention_versions=2)
    sync.initialize_sync("c1")
    sync.update_state("c1", "early", {"x": 1})
    for index in range(5):
        sync.update_state("c1", "late", index)
    assert sync.get_state("c1", version=6) == {"early": {"x": 1}, "late": 4}
    assert sync.get_state("c1", version=5) == {"early": {"x": 1}, "late": 3}


# -- bad input ------------------------------------------------------------------


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


BAD_UPDATES: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("object value", {"value": object()}, InvalidInputError, "k"),
    ("set value", {"value": {1, 2}}, InvalidInputError, "k"),
    ("nested set", {"value": {"a": [1, {2}]}}, InvalidInputError, "k/a/1"),
    ("nan", {"value": {"x": math.nan}}, InvalidInputError, "k/x"),
    ("infinity", {"value": [math.inf]}, InvalidInputError, "k/0"),
    ("int too large", {"value": 2**64}, InvalidInputError, "k"),
    ("non-string dict key", {"value": {"a": {1: 2}}}, InvalidInputError, "k/a"),
    ("too deep", {"value": _nested(129)}, InvalidInputError, "k" + "/0" * 128),
    ("int key", {"key": 1}, InvalidInputError, "key"),
    ("empty key", {"key": ""}, InvalidInputError, "key"),
    ("none key", {"key": None}, InvalidInputError, "key"),
    ("bad tier", {"tier": "urgent"}, InvalidInputError, "tier"),
    ("ttl on critical", {"ttl_s": 5}, InvalidInputError, "ttl_s"),
    ("negative ttl", {"tier": "non_critical", "ttl_s": -1}, InvalidInputError, "ttl_s"),
    ("negative base", {"base_version": -1}, InvalidInputError, "base_version"),
    ("bool base", {"base_version": True}, InvalidInputError, "base_version"),
    ("bad container", {"container_id": "a{b}"}, InvalidInputError, "container_id"),
]


@pytest.mark.parametrize(
    ("name", "override", "error", "field"), BAD_UPDATES, ids=[b[0] for b in BAD_UPDATES]
)
def test_bad_update_leaves_store_unchanged(
    sync: StateSynchronizer,
    dump_all: Callable[[], dict[bytes, Any]],
    name: str,
    override: dict[str, Any],
    error: type[Exception],
    field: str,
) -> None:
    sync.update_state("c1", "k", {"a": [1, 2]})
    before = dump_all()
    arguments: dict[str, Any] = {"container_id": "c1", "key": "k", "value": {"a": 1}}
    arguments.update(override)
    with pytest.raises(error) as caught:
        sync.update_state(**arguments)
    assert isinstance(caught.value, InvalidInputError)
    assert caught.value.field == field
    assert dump_all() == before
    assert sync.statistics().pending[Tier.CRITICAL] == 0


def test_depth_limit_allows_exact_depth(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "deep", _nested(128))
    assert sync.get_state("c1", "deep") == _nested(128)


BAD_PATCHES: list[tuple[str, Any]] = [
    ("not a list", {"op": "add"}),
    ("unknown op", [{"op": "merge", "path": "/a"}]),
    ("bad pointer", [{"op": "add", "path": "a", "value": 1}]),
    ("bad escape", [{"op": "remove", "path": "/~2"}]),
    ("missing value", [{"op": "replace", "path": "/a"}]),
    ("value not encodable", [{"op": "add", "path": "/b", "value": object()}]),
    ("failing test", [{"op": "add", "path": "/b", "value": 1},
                      {"op": "test", "path": "/a", "value": 5}]),
    ("missing target", [{"op": "remove", "path": "/zzz"}]),
    ("result too deep", [{"op": "add", "path": "/b", "value": _nested(128)}]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "patch"), BAD_PATCHES, ids=[b[0] for b in BAD_PATCHES]
)
def test_bad_patch_leaves_store_unchanged(
    sync: StateSynchronizer,
    dump_all: Callable[[], dict[bytes, Any]],
    name: str,
    patch: Any,
) -> None:
    sync.update_state("c1", "k", {"a": [1, 2]})
    before = dump_all()
    with pytest.raises(InvalidInputError) as caught:
        sync.patch_state("c1", "k", patch)
    assert caught.value.field in ("patch", "k (operation 0)")
    if isinstance(caught.value, PatchError) and caught.value.op_index >= 0:
        assert caught.value.key == "k" or caught.value.key == ""
    assert dump_all() == before


def test_update_before_initialize_rejected(make_sync: MakeSync) -> None:
    sync = make_sync()
    with pytest.raises(InvalidStateError) as caught:
        sync.update_state("c9", "k", 1)
    assert caught.value.state == "not initialized"


def test_config_validation() -> None:
    with pytest.raises(InvalidInputError):
        SynchronizerConfig(redis_url="http://127.0.0.1:1")
    with pytest.raises(InvalidInputError):
        SynchronizerConfig(redis_url=None, max_batch=0)
    with pytest.raises(InvalidInputError):
        create_state_synchronizer(None)


# -- lifecycle ------------------------------------------------------------------


def test_close_twice_and_use_after_close(redis_url: str) -> None:
    sync = create_state_synchronizer(redis_url, flush_interval_s=3600)
    sync.initialize_sync("c1")
    sync.update_state("c1", "o", 1, tier="operational")
    sync.close()
    sync.close()
    assert sync.statistics().closed
    with pytest.raises(InvalidStateError) as caught:
        sync.update_state("c1", "o", 2)
    assert caught.value.state == "closed"
    with create_state_synchronizer(redis_url) as reader:
        # close() sent the queued operational update.
        assert reader.get_state("c1", "o") == 1


def test_terminate_sync_flushes_and_purges(
    sync: StateSynchronizer, raw_redis: redis.Redis
) -> None:
    sync.update_state("c1", "o", 1, tier="operational")
    sync.terminate_sync("c1")
    assert sync.get_state("c1", "o") == 1
    with pytest.raises(InvalidStateError):
        sync.update_state("c1", "o", 2)
    sync.initialize_sync("c1")
    sync.terminate_sync("c1", purge=True)
    assert raw_redis.keys("ic:{c1}:*") == []


def test_pickled_synchronizer_opens_own_connection(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "k", {"a": 1})
    copy = pickle.loads(pickle.dumps(sync))
    try:
        assert copy is not sync
        assert copy.get_state("c1", "k") == {"a": 1}
    finally:
        copy.close()


def test_listener_removed(sync: StateSynchronizer) -> None:
    events: list[SyncEvent] = []
    remove = sync.add_listener(events.append)
    sync.update_state("c1", "k", 1)
    remove()
    sync.update_state("c1", "k", 2)
    assert [(e.kind, e.key, e.version) for e in events] == [("applied", "k", 1)]


def test_repr_and_statistics(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "k", 1)
    assert "online" in repr(sync)
    stats = sync.statistics()
    assert stats.applied[Tier.CRITICAL] == 1
    assert stats.containers == 1
    assert stats.bytes_sent > 0


def test_retention_folds_in_batches(make_sync: MakeSync) -> None:
    # Retention 16 folds two versions at a time, over several keys.
    sync = make_sync(retention_versions=16)
    sync.initialize_sync("c1")
    expected: dict[int, dict[str, Any]] = {}
    current: dict[str, Any] = {}
    for index in range(1, 41):
        key = f"k{index % 3}"
        current[key] = {"n": index, "seen": sorted(current)}
        sync.update_state("c1", key, current[key])
        expected[index] = {k: dict(v) for k, v in current.items()}
    oldest = min(v.version for v in sync.history("c1")) - 1
    assert 40 - 16 - 2 <= oldest <= 40 - 16
    for version in range(oldest, 41):
        assert sync.get_state("c1", version=version) == expected[version]
    with pytest.raises(VersionNotRetainedError):
        sync.get_state("c1", version=oldest - 1)
