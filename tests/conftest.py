"""Fixtures shared by the whole suite: a real redis-server and a local Ray."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

from incontainer._util.redis_server import RedisServer, find_redis_server
from incontainer.manager import ContainerManager


def require_program(name: str) -> str:
    """Return the path of ``name`` or skip the test, naming the program."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed")
    return path


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server with AOF on, on a free 127.0.0.1 port."""
    if find_redis_server() is None:
        pytest.skip("redis-server not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of the session redis-server, flushed after each test."""
    import redis

    yield redis_server.url
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, for tests that kill or restart it."""
    if find_redis_server() is None:
        pytest.skip("redis-server not installed")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def _ensure_local_ray() -> None:
    import ray

    from incontainer._util.ray_local import init_ray

    if ray.is_initialized():
        return
    resources = {"gvisor": 1000.0} if shutil.which("runsc") else {}
    init_ray(num_cpus=4, resources=resources, namespace="incontainer-test")


@pytest.fixture
def ray_cluster() -> None:
    """A real local Ray on 127.0.0.1, shared by the tests of a session.

    It advertises the custom resource ``gvisor`` when runsc is installed, as
    the embedded default does. Multi-node tests shut it down and build their
    own cluster; the next test that asks for this fixture starts it again.
    """
    _ensure_local_ray()


@pytest.fixture(scope="session", autouse=True)
def _shutdown_ray_at_end() -> Iterator[None]:
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def container_manager(
    ray_cluster: None, redis_url: str, tmp_path: Path
) -> Iterator[ContainerManager]:
    """A manager on the local Ray and the shared redis-server, data in tmp_path."""
    from incontainer import create_container_manager

    with create_container_manager(
        redis_url=redis_url, data_dir=tmp_path / "data", namespace="incontainer-test"
    ) as created:
        yield created
