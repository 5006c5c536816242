"""The synchronizer used from inside a Ray actor and from the client side."""

from __future__ import annotations

import ray

from incontainer.statestore import StateSynchronizer


@ray.remote(num_cpus=0)
class _Writer:
    """Stands in for a container actor that keeps its state in the store."""

    def __init__(self, sync: StateSynchronizer, container_id: str):
        # The pickled synchronizer opens its own connection here, and each
        # synchronizer joins a container's sync session itself.
        self.sync = sync
        self.sync.initialize_sync(container_id)

    def write(self, container_id: str, step: int) -> int | None:
        result = self.sync.update_state(container_id, "progress", {"step": step})
        return result.version

    def read(self, container_id: str) -> object:
        return self.sync.get_state(container_id, "progress")

    def close(self) -> None:
        self.sync.close()


def test_actor_and_client_share_state(
    ray_cluster: None, sync: StateSynchronizer
) -> None:
    sync.update_state("c1", "progress", {"step": -1})
    writer = _Writer.remote(sync, "c1")  # type: ignore[attr-defined]
    try:
        assert ray.get(writer.read.remote("c1")) == {"step": -1}
        versions = [ray.get(writer.write.remote("c1", step)) for step in range(3)]
        assert versions == sorted(versions)
        assert sync.get_state("c1", "progress") == {"step": 2}
        sync.update_state("c1", "progress", {"step": 10})
        assert ray.get(writer.read.remote("c1")) == {"step": 10}
        history = sync.get_state("c1", "progress", version=versions[0])
        assert history == {"step": 0}
    finally:
        ray.get(writer.close.remote())
        ray.kill(writer)
