"""Fixtures for the gVisor backend tests: a node actor and leftover checks.

Every test here runs real runsc sandboxes through a real local Ray.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gvisor_helpers import new_container_id, require_runsc


@pytest.fixture(scope="session")
def gvisor_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_runsc()
    return tmp_path_factory.mktemp("gvisor-data")


@pytest.fixture(scope="session")
def _node_session(gvisor_data_dir: Path) -> Iterator[None]:
    import ray

    from incontainer.actors.gvisor import ensure_node_actor

    yield
    if not ray.is_initialized():
        return
    # Remove every sandbox the tests left, then the node actor itself.
    node = ensure_node_actor(data_dir=str(gvisor_data_dir))
    ray.get(node.close_all.remote())
    ray.kill(node)


@pytest.fixture
def node(ray_cluster: None, _node_session: None, gvisor_data_dir: Path) -> Any:
    """The node actor of this node, started on first use (reaps every 0.5 s)."""
    from incontainer.actors.gvisor import ensure_node_actor

    return ensure_node_actor(data_dir=str(gvisor_data_dir), reap_interval_s=0.5)


@pytest.fixture
def node_info(node: Any) -> dict[str, Any]:
    import ray

    info: dict[str, Any] = ray.get(node.info.remote())
    return info


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    os.chmod(path, 0o755)
    return path


@pytest.fixture
def make_backend(node: Any, workspace: Path) -> Iterator[Callable[..., Any]]:
    """Return a factory of started GVisorBackends, all closed after the test."""
    from incontainer.actors.gvisor import GVisorBackend
    from incontainer.config import IsolationLevel, Resources

    made: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("resources", Resources(memory_mb=256, wall_time_s=30.0))
        options.setdefault("mounts", ())
        options.setdefault("env", {})
        options.setdefault("isolation", IsolationLevel.STANDARD)
        options.setdefault("workspace", workspace)
        container_id = options.pop("container_id", None) or new_container_id()
        backend = GVisorBackend(node, container_id, **options)
        made.append(backend)
        backend.start()
        return backend

    yield make
    for backend in made:
        backend.close()
