"""Conflicts: detection, strategies, three-way merge, concurrent writers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from incontainer.errors import ConflictError, InvalidInputError
from incontainer.statestore import (
    ConflictStrategy,
    StateSynchronizer,
    SyncEvent,
    three_way_merge,
)
from incontainer.statestore.jsonpatch import ABSENT

MakeSync = Callable[..., StateSynchronizer]


@pytest.fixture
def pair(make_sync: MakeSync) -> tuple[StateSynchronizer, StateSynchronizer]:
    """Two writers on container c1; ``first`` wrote version 1 of key k and
    ``second`` has read it."""
    first, second = make_sync(), make_sync()
    first.initialize_sync("c1")
    second.initialize_sync("c1")
    first.update_state("c1", "k", {"a": 1, "b": 1, "c": [1]})
    second.get_state("c1", "k")
    return first, second


def test_stale_base_raises_conflict(
    pair: tuple[StateSynchronizer, StateSynchronizer],
) -> None:
    first, second = pair
    events: list[SyncEvent] = []
    second.add_listener(events.append)
    first.update_state("c1", "k", {"a": 2, "b": 1, "c": [1]})
    with pytest.raises(ConflictError) as caught:
        second.update_state("c1", "k", {"a": 1, "b": 3, "c": [1]})
    error = caught.value
    assert (error.key, error.base_version, error.current_version) == ("k", 1, 2)
    assert [(e.kind, e.key) for e in events] == [("conflict", "k")]
    assert events[0].error is error
    assert first.get_state("c1", "k") == {"a": 2, "b": 1, "c": [1]}
    assert second.statistics().conflicts == 1


def test_explicit_stale_base_conflicts(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "k", 1)
    sync.update_state("c1", "k", 2)
    with pytest.raises(ConflictError) as caught:
        sync.update_state("c1", "k", 3, base_version=1)
    assert caught.value.current_version == 2
    assert sync.get_state("c1", "k") == 2


def test_create_conflicts_with_existing_key(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "k", 1)
    with pytest.raises(ConflictError) as caught:
        sync.update_state("c1", "k", 5, base_version=0)
    assert caught.value.base_version == 0


def test_queued_conflict_reported_by_flush(
    pair: tuple[StateSynchronizer, StateSynchronizer],
) -> None:
    first, second = pair
    first.update_state("c1", "k", {"a": 2})
    second.update_state("c1", "k", {"a": 3}, tier="operational")
    second.update_state("c1", "k", {"a": 4}, tier="operational")
    conflicts = second.flush()
    # The second update depends on the first, so it fails with it.
    assert [c.key for c in conflicts] == ["k", "k"]
    assert first.get_state("c1", "k") == {"a": 2}
    second.resolve_conflict("c1", "k", "client_wins")
    assert first.get_state("c1", "k") == {"a": 4}


def test_client_wins(pair: tuple[StateSynchronizer, StateSynchronizer]) -> None:
    first, second = pair
    first.update_state("c1", "k", {"a": 2})
    with pytest.raises(ConflictError):
        second.update_state("c1", "k", {"mine": True})
    result = second.resolve_conflict("c1", "k", "client-wins")
    assert result.strategy is ConflictStrategy.CLIENT_WINS
    assert result.version == 3
    assert first.get_state("c1", "k") == {"mine": True}


def test_server_wins(pair: tuple[StateSynchronizer, StateSynchronizer]) -> None:
    first, second = pair
    first.update_state("c1", "k", {"a": 2})
    with pytest.raises(ConflictError):
        second.update_state("c1", "k", {"mine": True})
    result = second.resolve_conflict("c1", "k", ConflictStrategy.SERVER_WINS)
    assert result.value == {"a": 2}
    assert result.version == 2
    # The synchronizer now has the current version cached: the next write
    # goes through.
    assert second.update_state("c1", "k", {"a": 3}).version == 3


def test_explicit_value(sync: StateSynchronizer) -> None:
    sync.update_state("c1", "k", 1)
    result = sync.resolve_conflict("c1", "k", "value", {"chosen": 1})
    assert result.value == {"chosen": 1}
    assert sync.get_state("c1", "k") == {"chosen": 1}


def test_value_strategy_needs_value(sync: StateSynchronizer) -> None:
    with pytest.raises(InvalidInputError) as caught:
        sync.resolve_conflict("c1", "k", "value")
    assert caught.value.field == "value"


def test_client_wins_needs_recorded_conflict(sync: StateSynchronizer) -> None:
    with pytest.raises(InvalidInputError) as caught:
        sync.resolve_conflict("c1", "k", "client_wins")
    assert "no conflict recorded" in str(caught.value)


def test_unknown_strategy(sync: StateSynchronizer) -> None:
    with pytest.raises(InvalidInputError) as caught:
        sync.resolve_conflict("c1", "k", "loudest-wins")
    assert caught.value.field == "strategy"


def test_merge_from_patch_log_base(
    pair: tuple[StateSynchronizer, StateSynchronizer],
) -> None:
    first, second = pair
    first.update_state("c1", "k", {"a": 2, "b": 1, "c": [2]})
    with pytest.raises(ConflictError):
        second.update_state("c1", "k", {"a": 1, "b": 3, "c": [3], "d": 4})
    result = second.resolve_conflict("c1", "k", "merge")
    assert result.value == {"a": 2, "b": 3, "c": [2], "d": 4}
    assert result.unmerged_paths == ("/c",)
    assert first.get_state("c1", "k") == {"a": 2, "b": 3, "c": [2], "d": 4}


def test_resolve_retries_are_bounded(make_sync: MakeSync) -> None:
    sync = make_sync(max_conflict_retries=2)
    sync.initialize_sync("c1")
    sync.update_state("c1", "k", 1)
    store = sync._core.store
    real_read_one = store.read_one
    calls: list[int] = []

    # Report the key one version behind, as if another writer always got in
    # between the read and the write.
    def stale_read_one(container_id: str, key: str) -> Any:
        calls.append(1)
        version, key_version, tier, raw = real_read_one(container_id, key)
        return version, key_version - 1, tier, raw

    store.read_one = stale_read_one  # type: ignore[method-assign]
    with pytest.raises(ConflictError) as caught:
        sync.resolve_conflict("c1", "k", "value", 5)
    store.read_one = real_read_one  # type: ignore[method-assign]
    assert "3 attempts" in str(caught.value)
    assert sync.get_state("c1", "k") == 1


def test_three_way_merge_cases() -> None:
    base = {"keep": 1, "ours": 1, "theirs": 1, "both": 1, "gone": 1, "nested": {"x": 1}}
    ours = {"keep": 1, "ours": 2, "theirs": 1, "both": 3, "nested": {"x": 1, "y": 2}}
    theirs = {
        "keep": 1,
        "ours": 1,
        "theirs": 2,
        "both": 4,
        "gone": 1,
        "nested": {"x": 5},
    }
    result = three_way_merge(base, ours, theirs)
    assert result.value == {
        "keep": 1,
        "ours": 2,
        "theirs": 2,
        "both": 4,
        "nested": {"x": 5, "y": 2},
    }
    assert result.unmerged_paths == ("/both",)


def test_three_way_merge_absent_base() -> None:
    result = three_way_merge(ABSENT, {"a": 1}, {"b": 2})
    assert result.value == {"a": 1, "b": 2}
    assert result.unmerged_paths == ()


def test_three_way_merge_type_change_conflicts() -> None:
    result = three_way_merge({"a": 1}, {"a": 1.0}, {"a": 2})
    assert result.unmerged_paths == ("/a",)


def test_concurrent_increments(make_sync: MakeSync) -> None:
    writers, increments = 4, 25
    setup = make_sync()
    setup.initialize_sync("c1")
    setup.update_state("c1", "counter", {"n": 0})
    conflicts = [0] * writers

    def work(index: int) -> None:
        sync = make_sync()  # its own connection pool
        sync.initialize_sync("c1")
        done = 0
        while done < increments:
            entry = sync.get_entry("c1", "counter")
            try:
                sync.update_state(
                    "c1",
                    "counter",
                    {"n": entry.value["n"] + 1},
                    base_version=entry.version,
                )
            except ConflictError:
                conflicts[index] += 1
                continue
            done += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert setup.get_state("c1", "counter") == {"n": writers * increments}
    assert len(setup.history("c1")) == writers * increments + 1
