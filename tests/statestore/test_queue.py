"""The sync queue as pure logic: tier order, promotion, coalescing, bounds."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from incontainer.errors import CapacityError
from incontainer.statestore.queue import PendingUpdate, SyncQueue
from incontainer.statestore.store import Tier


def update(key: str, tier: Tier, at: float = 0.0, value: Any = None) -> PendingUpdate:
    return PendingUpdate(
        container_id="c1",
        key=key,
        value=value,
        tier=tier,
        base_version=None,
        ttl_ms=0,
        update_id=f"{key}-{tier.value}-{value}",
        enqueued_at=at,
        future=Future() if tier is Tier.CRITICAL else None,
    )


def keys(batch: list[PendingUpdate]) -> list[str]:
    return [item.key for item in batch]


def test_drains_strictly_by_tier() -> None:
    queue = SyncQueue(max_pending=100)
    queue.put(update("n1", Tier.NON_CRITICAL))
    queue.put(update("o1", Tier.OPERATIONAL))
    queue.put(update("c1", Tier.CRITICAL))
    queue.put(update("o2", Tier.OPERATIONAL))
    queue.put(update("c2", Tier.CRITICAL))
    sent = []
    while batch := queue.take_batch(10.0, 0.05, 1):
        sent.append(keys(batch))
    assert sent == [["c1"], ["c2"], ["o1"], ["o2"], ["n1"]]


def test_critical_arriving_mid_drain_goes_next() -> None:
    queue = SyncQueue(max_pending=100)
    for index in range(3):
        queue.put(update(f"o{index}", Tier.OPERATIONAL))
    queue.put(update("n", Tier.NON_CRITICAL))
    first = queue.take_batch(10.0, 0.05, 1)
    # While the first operational batch is "on the wire" a critical arrives.
    queue.put(update("urgent", Tier.CRITICAL))
    second = queue.take_batch(10.0, 0.05, 1)
    assert keys(first) == ["o0"]
    assert keys(second) == ["urgent"]
    assert keys(queue.take_batch(10.0, 0.05, 10)) == ["o1", "o2"]


def test_interval_gates_batched_tiers() -> None:
    queue = SyncQueue(max_pending=100)
    queue.put(update("o", Tier.OPERATIONAL, at=1.0))
    assert queue.take_batch(1.04, 0.05, 10) == []
    assert queue.due_in(1.04, 0.05) == pytest.approx(0.01)
    assert keys(queue.take_batch(1.05, 0.05, 10)) == ["o"]
    assert queue.due_in(1.05, 0.05) is None


def test_force_ignores_interval() -> None:
    queue = SyncQueue(max_pending=100)
    queue.put(update("n", Tier.NON_CRITICAL, at=1.0))
    assert keys(queue.take_batch(1.0, 60.0, 10, force=True)) == ["n"]


def test_critical_promotes_earlier_updates_of_key() -> None:
    queue = SyncQueue(max_pending=100)
    queue.put(update("k", Tier.NON_CRITICAL, value=0))
    queue.put(update("k", Tier.OPERATIONAL, value=1))
    queue.put(update("other", Tier.OPERATIONAL))
    queue.put(update("k", Tier.CRITICAL, value=2))
    batch = queue.take_batch(0.0, 60.0, 10)
    # The operational update already pulled the non-critical one ahead of it.
    assert [(item.key, item.value) for item in batch] == [("k", 0), ("k", 1), ("k", 2)]
    assert keys(queue.take_batch(0.0, 60.0, 10, force=True)) == ["other"]


def test_non_critical_coalesces_in_place() -> None:
    queue = SyncQueue(max_pending=100)
    queue.put(update("a", Tier.NON_CRITICAL, value=1))
    queue.put(update("b", Tier.NON_CRITICAL, value=1))
    queue.put(update("a", Tier.NON_CRITICAL, value=2))
    batch = queue.take_batch(0.0, 0.0, 10)
    assert [(item.key, item.value) for item in batch] == [("a", 2), ("b", 1)]
    assert queue.coalesced == 1


def test_full_queue_drops_non_critical_first() -> None:
    queue = SyncQueue(max_pending=2)
    queue.put(update("n", Tier.NON_CRITICAL))
    queue.put(update("o1", Tier.OPERATIONAL))
    dropped = queue.put(update("o2", Tier.OPERATIONAL))
    assert keys(dropped) == ["n"]
    with pytest.raises(CapacityError):
        queue.put(update("c", Tier.CRITICAL))
    assert keys(queue.put(update("n2", Tier.NON_CRITICAL))) == ["n2"]
    assert queue.dropped == 2
    assert len(queue) == 2


def test_requeue_front_keeps_order_and_newer_value() -> None:
    queue = SyncQueue(max_pending=100)
    for key in ("o1", "o2"):
        queue.put(update(key, Tier.OPERATIONAL))
    queue.put(update("n", Tier.NON_CRITICAL, value=1))
    batch = queue.take_batch(0.0, 0.0, 10, force=True)
    queue.put(update("o3", Tier.OPERATIONAL))
    queue.requeue_front(batch)
    assert keys(queue.take_batch(0.0, 0.0, 10)) == ["o1", "o2", "o3"]
    nc = queue.take_batch(0.0, 0.0, 10)
    queue.put(update("n", Tier.NON_CRITICAL, value=2))
    queue.requeue_front(nc)
    assert [item.value for item in queue.take_batch(0.0, 0.0, 10)] == [2]
