"""Redis going away: offline queue, replay, backoff, kill -9 durability."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from incontainer._util.redis_server import RedisServer
from incontainer.errors import StoreUnavailableError
from incontainer.statestore import (
    Backoff,
    StateSynchronizer,
    SyncEvent,
    Tier,
    create_state_synchronizer,
)


class GatedSleep:
    """Replaces the backoff sleep: records each delay and blocks until the
    test lets the reconnection attempt go ahead."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.entered = threading.Semaphore(0)
        self.proceed = threading.Semaphore(0)
        self.closed = False

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.entered.release()
        if not self.closed:
            self.proceed.acquire(timeout=60)

    def allow_one(self) -> None:
        assert self.entered.acquire(timeout=60), "no reconnection attempt started"
        self.proceed.release()

    def open(self) -> None:
        self.closed = True
        self.proceed.release()


def test_offline_queue_replays_in_order(fresh_redis: RedisServer) -> None:
    gate = GatedSleep()
    sync = create_state_synchronizer(
        fresh_redis.url,
        flush_interval_s=3600,
        sleep=gate,
        backoff=Backoff(base_s=0.1, max_s=1.0, rng=random.Random(7)),
        socket_timeout_s=2.0,
    )
    online = threading.Event()
    events: list[str] = []

    def on_event(event: SyncEvent) -> None:
        events.append(event.kind)
        if event.kind == "online":
            online.set()

    sync.add_listener(on_event)
    try:
        sync.initialize_sync("c1")
        sync.update_state("c1", "doc", {"n": 0})
        fresh_redis.stop()

        # Without allow_offline a critical update fails and is not queued.
        with pytest.raises(StoreUnavailableError):
            sync.update_state("c1", "doc", {"n": -1})
        assert sync.statistics().offline
        assert sync.statistics().pending[Tier.CRITICAL] == 0
        with pytest.raises(StoreUnavailableError):
            sync.update_state("c1", "doc", {"n": -2})

        queued = sync.update_state("c1", "doc", {"n": 1}, allow_offline=True)
        assert queued.status == "queued"
        assert queued.version is None
        for index in range(2, 5):
            sync.update_state("c1", "doc", {"n": index}, tier="operational")
        sync.update_state("c1", "side", "x", tier="non_critical")
        assert sync.statistics().pending == {
            Tier.CRITICAL: 1,
            Tier.OPERATIONAL: 3,
            Tier.NON_CRITICAL: 1,
        }
        with pytest.raises(StoreUnavailableError):
            sync.flush()

        # Two attempts fail while the server is down.
        gate.allow_one()
        gate.allow_one()
        assert gate.entered.acquire(timeout=60)
        fresh_redis.start()
        gate.open()
        assert online.wait(60)
        assert sync.flush() == ()

        history = sync.history("c1")
        assert [entry.patch[-1].get("value") for entry in history] == [
            {"n": 0}, 1, 2, 3, 4, "x",
        ]  # fmt: skip
        assert sync.get_state("c1") == {"doc": {"n": 4}, "side": "x"}
        assert events.count("offline") == 1
        stats = sync.statistics()
        assert not stats.offline
        assert stats.reconnect_attempts >= 3
        # Exponential growth: base 0.1 s doubling, jitter within [50%, 100%].
        for attempt, delay in enumerate(gate.delays[:3]):
            ceiling = min(1.0, 0.1 * 2**attempt)
            assert ceiling / 2 <= delay <= ceiling
    finally:
        gate.open()
        sync.close()


def test_replay_is_idempotent(fresh_redis: RedisServer) -> None:
    # An update that Redis applied but whose reply was lost is sent again on
    # replay; its update id makes the second application a no-op.
    with create_state_synchronizer(fresh_redis.url, flush_interval_s=3600) as sync:
        sync.initialize_sync("c1")
        sync.update_state("c1", "k", {"n": 1}, tier="operational")
        core = sync._core
        batch = core.queue.take_batch(0.0, 0.0, 10, force=True)
        core._send_batch(batch, None)
        core.queue.requeue_front(batch)
        sync.flush()
        assert [entry.version for entry in sync.history("c1")] == [1]
        assert sync.get_entry("c1", "k").version == 1


def test_backoff_sequence() -> None:
    backoff = Backoff(
        base_s=0.05, max_s=1.0, factor=2.0, jitter=0.5, rng=random.Random(1)
    )
    delays = [backoff.next_delay() for _ in range(8)]
    for attempt, delay in enumerate(delays):
        ceiling = min(1.0, 0.05 * 2**attempt)
        assert ceiling * 0.5 <= delay <= ceiling
    assert len(set(delays)) == len(delays)
    backoff.reset()
    assert backoff.next_delay() <= 0.05


@pytest.mark.slow
def test_kill_minus_nine_keeps_acknowledged(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    acknowledged: list[int] = []
    enough = threading.Event()
    try:
        sync = create_state_synchronizer(server.url, socket_timeout_s=2.0)
        sync.initialize_sync("c1")

        def write() -> None:
            index = 0
            while True:
                try:
                    sync.update_state("c1", f"k{index}", {"i": index, "pad": "x" * 100})
                except StoreUnavailableError:
                    return
                acknowledged.append(index)
                if len(acknowledged) >= 300:
                    enough.set()
                index += 1

        writer = threading.Thread(target=write)
        writer.start()
        assert enough.wait(60)
        server.kill()  # SIGKILL while the writer is mid-stream
        writer.join(timeout=60)
        assert not writer.is_alive()
        sync.close()

        restarted = RedisServer(tmp_path / "redis", port=server.port).start()
        try:
            with create_state_synchronizer(restarted.url) as reader:
                state = reader.get_state("c1")
            missing = [
                i
                for i in acknowledged
                if state.get(f"k{i}") != {"i": i, "pad": "x" * 100}
            ]
            assert missing == []
            assert len(acknowledged) >= 300
        finally:
            restarted.stop()
    finally:
        server.stop()


def test_critical_waits_for_no_lower_tier(sync: StateSynchronizer) -> None:
    # A critical update is sent even while operational updates are due.
    sync.update_state("c1", "o", 1, tier="operational")
    result = sync.update_state("c1", "c", 1)
    assert result.version == 1
    assert sync.statistics().pending[Tier.OPERATIONAL] == 1
