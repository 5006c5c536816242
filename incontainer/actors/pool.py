"""Starting container actors, and warm pools of pre-started WASM actors.

A Ray actor start costs about 0.6 s on a 2-core VM, far more than a WASM
execution, so the scheduler keeps a few WASM container actors started ahead
of need. A pooled actor has its container id and has loaded wasmtime, but no
record and no sandbox until a manager adopts it for a container.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

from incontainer.actors.container import ContainerActorImpl
from incontainer.actors.records import ContainerRecord

__all__ = [
    "ACTOR_CONCURRENCY",
    "ACTOR_PREFIX",
    "PooledActor",
    "WarmPool",
    "new_container_id",
    "spawn_container_actor",
]

ACTOR_PREFIX = "incontainer-container-"
# Concurrent calls a container actor accepts, so that terminate and info are
# served while an execution runs.
ACTOR_CONCURRENCY = 8


def new_container_id() -> str:
    return "c-" + uuid.uuid4().hex[:12]


def spawn_container_actor(
    namespace: str,
    container_id: str,
    node_id: str | None,
    record: ContainerRecord | None,
    redis_url: str,
    data_dir: str,
    gvisor_node: Any = None,
) -> Any:
    """Start a detached container actor named after ``container_id``."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options: dict[str, Any] = {
        "name": ACTOR_PREFIX + container_id,
        "namespace": namespace,
        "lifetime": "detached",
        "max_concurrency": ACTOR_CONCURRENCY,
        # Containers do not hold Ray CPUs: their sandboxes are limited by
        # fuel, deadlines and cgroups, and the scheduler bounds concurrency.
        "num_cpus": 0,
    }
    if node_id:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
            node_id, soft=False
        )
    actor_class = ray.remote(ContainerActorImpl)
    return actor_class.options(**options).remote(
        record, redis_url, data_dir, gvisor_node, container_id
    )


@dataclass(frozen=True)
class PooledActor:
    """A started WASM container actor waiting for a container to adopt it."""

    container_id: str
    node_id: str
    handle: Any


class WarmPool:
    """Keeps up to ``size`` started WASM container actors per node.

    ``take`` returns a warm actor or None (the caller then starts one cold);
    ``refill`` starts actors in the background. ``close`` kills the actors
    that were never taken.
    """

    def __init__(self, namespace: str, redis_url: str, data_dir: str, size: int = 2):
        self.namespace = namespace
        self.redis_url = redis_url
        self.data_dir = data_dir
        self.size = size
        self._idle: dict[str, list[PooledActor]] = {}
        self._starting: dict[str, int] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        idle = sum(len(v) for v in self._idle.values())
        return (
            f"<WarmPool size={self.size} idle={idle} hits={self.hits} "
            f"misses={self.misses}>"
        )

    def statistics(self) -> dict[str, Any]:
        with self._lock:
            return {
                "size": self.size,
                "idle": {n: len(v) for n, v in self._idle.items()},
                "hits": self.hits,
                "misses": self.misses,
            }

    def has_warm(self, node_id: str) -> bool:
        with self._lock:
            return bool(self._idle.get(node_id))

    def take(self, node_id: str) -> PooledActor | None:
        with self._lock:
            idle = self._idle.get(node_id)
            if idle:
                self.hits += 1
                return idle.pop(0)
            self.misses += 1
            return None

    def refill(self, node_id: str) -> None:
        """Start actors on ``node_id`` until the pool is full; waits for them."""
        import ray

        with self._lock:
            wanted = (
                self.size
                - len(self._idle.get(node_id, []))
                - self._starting.get(node_id, 0)
            )
            if wanted <= 0:
                return
            self._starting[node_id] = self._starting.get(node_id, 0) + wanted
        started = []
        for _ in range(wanted):
            container_id = new_container_id()
            handle = spawn_container_actor(
                self.namespace,
                container_id,
                node_id,
                None,
                self.redis_url,
                self.data_dir,
            )
            started.append(PooledActor(container_id, node_id, handle))
        try:
            ray.get([p.handle.warm.remote() for p in started])
        finally:
            with self._lock:
                self._starting[node_id] -= wanted
        with self._lock:
            self._idle.setdefault(node_id, []).extend(started)

    def drop_node(self, node_id: str) -> None:
        with self._lock:
            self._idle.pop(node_id, None)

    def close(self) -> None:
        import ray

        with self._lock:
            idle = [p for actors in self._idle.values() for p in actors]
            self._idle.clear()
        for pooled in idle:
            ray.kill(pooled.handle, no_restart=True)
