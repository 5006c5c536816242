"""The local sync queue: tier order, batching, coalescing and backoff.

The queue is pure logic with no I/O, so tests drive it with a fake clock.
``take_batch`` always returns critical updates first, then operational, then
non-critical, so no lower-tier update is sent while a higher one waits.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from incontainer.errors import CapacityError
from incontainer.statestore.store import Tier

__all__ = ["Backoff", "PendingUpdate", "SyncQueue"]


@dataclass(slots=True, eq=False)
class PendingUpdate:
    """An update waiting to be sent.

    ``value`` is a private copy of the caller's value. ``base_version`` is the
    version the value was derived from, or None to use the version this
    synchronizer last saw when the update is sent.
    """

    container_id: str
    key: str
    value: Any
    tier: Tier
    base_version: int | None
    ttl_ms: int
    update_id: str
    enqueued_at: float
    future: Future[int] | None = field(default=None)
    # Critical updates only: queue it while Redis is unreachable, or fail.
    offline_ok: bool = True
    # Base version the last send used (-1 chained, -2 any), for error messages.
    sent_base: int = -1

    @property
    def slot(self) -> tuple[str, str]:
        return (self.container_id, self.key)

    @property
    def queue_tier(self) -> Tier:
        """Queue it waits in: a caller blocked on the result jumps to critical."""
        return Tier.CRITICAL if self.future is not None else self.tier


class SyncQueue:
    """Three FIFO queues, one per tier; non-critical keeps one entry per key.

    ``max_pending`` bounds all three together. When it is reached, the oldest
    non-critical update is dropped and counted in ``dropped``. When only
    critical and operational updates remain, ``put`` raises CapacityError,
    because those are never dropped.
    """

    def __init__(self, *, max_pending: int) -> None:
        self.max_pending = max_pending
        self.dropped = 0
        self.coalesced = 0
        self._critical: deque[PendingUpdate] = deque()
        self._operational: deque[PendingUpdate] = deque()
        self._non_critical: OrderedDict[tuple[str, str], PendingUpdate] = OrderedDict()

    def __len__(self) -> int:
        return len(self._critical) + len(self._operational) + len(self._non_critical)

    def counts(self) -> dict[Tier, int]:
        return {
            Tier.CRITICAL: len(self._critical),
            Tier.OPERATIONAL: len(self._operational),
            Tier.NON_CRITICAL: len(self._non_critical),
        }

    def put(self, update: PendingUpdate) -> list[PendingUpdate]:
        """Queue ``update`` and return the non-critical updates it dropped."""
        dropped: list[PendingUpdate] = []
        if update.queue_tier is Tier.NON_CRITICAL and update.slot in self._non_critical:
            # Coalesce: only the latest value of a key is sent.
            self._non_critical[update.slot] = update
            self.coalesced += 1
            return dropped
        while len(self) >= self.max_pending and self._non_critical:
            dropped.append(self._non_critical.popitem(last=False)[1])
        if len(self) >= self.max_pending:
            if update.queue_tier is Tier.NON_CRITICAL:
                dropped.append(update)
                self.dropped += len(dropped)
                return dropped
            self.dropped += len(dropped)
            raise CapacityError(
                f"sync queue is full: {len(self)} critical and operational updates "
                "are waiting to be sent; wait for the store to come back or raise "
                "max_pending"
            )
        self.dropped += len(dropped)
        self._promote(update)
        if update.queue_tier is Tier.NON_CRITICAL:
            self._non_critical[update.slot] = update
        else:
            self._queue_of(update.queue_tier).append(update)
        return dropped

    def _queue_of(self, tier: Tier) -> deque[PendingUpdate]:
        return self._critical if tier is Tier.CRITICAL else self._operational

    def _promote(self, update: PendingUpdate) -> None:
        # Earlier updates of the same key in a lower tier go first, in the
        # higher tier, so that the key's updates are applied in call order.
        if update.queue_tier is Tier.NON_CRITICAL:
            return
        target = self._queue_of(update.queue_tier)
        if update.queue_tier is Tier.CRITICAL:
            earlier = [u for u in self._operational if u.slot == update.slot]
            for item in earlier:
                self._operational.remove(item)
            waiting = self._non_critical.pop(update.slot, None)
            if waiting is not None:
                target.append(waiting)
            target.extend(earlier)
            return
        waiting = self._non_critical.pop(update.slot, None)
        if waiting is not None:
            target.append(waiting)

    def due_in(
        self, now: float, interval_s: float, *, force: bool = False
    ) -> float | None:
        """Return seconds until a batch is due (0 for now), None when empty."""
        if self._critical:
            return 0.0
        oldest = [
            queue[0].enqueued_at
            for queue in (self._operational, list(self._non_critical.values()))
            if queue
        ]
        if not oldest:
            return None
        if force:
            return 0.0
        return max(0.0, min(oldest) + interval_s - now)

    def take_batch(
        self, now: float, interval_s: float, max_batch: int, *, force: bool = False
    ) -> list[PendingUpdate]:
        """Remove and return the next batch, highest tier first; may be empty."""
        if self._critical:
            return _pop_left(self._critical, max_batch)
        if self._operational and (
            force or now >= self._operational[0].enqueued_at + interval_s
        ):
            return _pop_left(self._operational, max_batch)
        if self._non_critical:
            first = next(iter(self._non_critical.values()))
            if force or now >= first.enqueued_at + interval_s:
                count = min(max_batch, len(self._non_critical))
                return [self._non_critical.popitem(last=False)[1] for _ in range(count)]
        return []

    def requeue_front(self, batch: list[PendingUpdate]) -> None:
        """Put an unsent batch back at the head of its queues, in order."""
        for update in reversed(batch):
            if update.queue_tier is Tier.NON_CRITICAL:
                if update.slot in self._non_critical:
                    continue  # a newer value of the key is already waiting
                self._non_critical[update.slot] = update
                self._non_critical.move_to_end(update.slot, last=False)
            else:
                self._queue_of(update.queue_tier).appendleft(update)

    def remove(self, update: PendingUpdate) -> bool:
        for queue in (self._critical, self._operational):
            if update in queue:
                queue.remove(update)
                return True
        if self._non_critical.get(update.slot) is update:
            del self._non_critical[update.slot]
            return True
        return False

    def drain_all(self) -> list[PendingUpdate]:
        """Remove and return everything, highest tier first."""
        items = [*self._critical, *self._operational, *self._non_critical.values()]
        self._critical.clear()
        self._operational.clear()
        self._non_critical.clear()
        return items


def _pop_left(queue: deque[PendingUpdate], count: int) -> list[PendingUpdate]:
    return [queue.popleft() for _ in range(min(count, len(queue)))]


class Backoff:
    """Exponential backoff with jitter for reconnection attempts.

    Delay ``n`` (from 0) is ``min(max_s, base_s * factor**n)`` scaled by a
    random factor in ``[1 - jitter, 1]``, so clients that lost the same server
    do not retry in lockstep.
    """

    def __init__(
        self,
        *,
        base_s: float = 0.05,
        max_s: float = 5.0,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.base_s * self.factor**self.attempt)
        self.attempt += 1
        return ceiling * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self.attempt = 0
