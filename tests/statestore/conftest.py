"""Fixtures of the state store tests: synchronizers on the session Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from incontainer.statestore import StateSynchronizer, create_state_synchronizer

MakeSync = Callable[..., StateSynchronizer]


@pytest.fixture
def make_sync(redis_url: str) -> Iterator[MakeSync]:
    """Build synchronizers on the test Redis and close them after the test.

    Batched tiers wait an hour by default, so a test decides when they are
    sent (``flush()``) instead of racing a timer.
    """
    made: list[StateSynchronizer] = []

    def make(**options: Any) -> StateSynchronizer:
        options.setdefault("flush_interval_s", 3600.0)
        sync = create_state_synchronizer(options.pop("url", redis_url), **options)
        made.append(sync)
        return sync

    yield make
    for sync in made:
        sync.close()


@pytest.fixture
def sync(make_sync: MakeSync) -> StateSynchronizer:
    """A synchronizer with container ``c1`` initialized."""
    synchronizer = make_sync()
    synchronizer.initialize_sync("c1")
    return synchronizer


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def dump_all(raw_redis: redis.Redis) -> Callable[[], dict[bytes, Any]]:
    """Return a function that serializes every key, to assert nothing changed."""

    def dump() -> dict[bytes, Any]:
        return {name: raw_redis.dump(name) for name in sorted(raw_redis.keys("*"))}

    return dump
