"""Starting container actors, and warm pools of started, reusable actors.

A Ray actor start costs about 0.6 s of CPU on a 2-core VM, far more than a
WASM execution or a gVisor sandbox start, so the scheduler keeps container
actors started ahead of need and reuses them. An actor is named after
itself, not after a container, and the container record stores the name
of the actor that serves it now. A pooled actor has loaded wasmtime and started a
WASM worker process, but has no container until a manager adopts it for
one. After a one-shot container ends, the actor terminates it, wipes its
files and sandbox, and goes back to the pool.
"""

from __future__ import annotations

import threading
import time
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
    "new_actor_name",
    "new_container_id",
    "spawn_container_actor",
]

ACTOR_PREFIX = "incontainer-actor-"
# Concurrent calls a container actor accepts, so that terminate and info are
# served while an execution runs.
ACTOR_CONCURRENCY = 8


def new_container_id() -> str:
    return "c-" + uuid.uuid4().hex[:12]


def new_actor_name() -> str:
    return ACTOR_PREFIX + uuid.uuid4().hex[:12]


def spawn_container_actor(
    namespace: str,
    actor_name: str,
    node_id: str | None,
    record: ContainerRecord | None,
    redis_url: str,
    data_dir: str,
    gvisor_node: Any = None,
) -> Any:
    """Start a detached container actor named ``actor_name``."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options: dict[str, Any] = {
        "name": actor_name,
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
        record, redis_url, data_dir, gvisor_node, actor_name
    )


@dataclass(frozen=True)
class PooledActor:
    """A started container actor without a container."""

    actor_name: str
    node_id: str
    handle: Any


class WarmPool:
    """Keeps started container actors per node, ready to adopt a container.

    ``take`` leases an idle actor, or returns None (the caller then starts
    one cold). ``give_back`` returns a recycled actor, or reports that a
    leased one is gone. ``recycling`` announces a return in progress, so
    that ``take`` waits for it instead of starting a cold actor. ``refill`` starts
    actors until idle, starting and leased ones reach ``size``, so leased
    actors that will come back are not started twice. ``close`` kills the
    idle actors, and actors given back after it.
    """

    def __init__(self, namespace: str, redis_url: str, data_dir: str, size: int = 2):
        self.namespace = namespace
        self.redis_url = redis_url
        self.data_dir = data_dir
        self.size = size
        self._idle: dict[str, list[PooledActor]] = {}
        self._starting: dict[str, int] = {}
        self._returning: dict[str, int] = {}
        self._leased: dict[str, str] = {}
        self._dropped: set[str] = set()
        self._changed = threading.Condition()
        self._closed = False
        self.hits = 0
        self.misses = 0
        self.reused = 0

    def __repr__(self) -> str:
        idle = sum(len(v) for v in self._idle.values())
        return (
            f"<WarmPool size={self.size} idle={idle} leased={len(self._leased)} "
            f"hits={self.hits} misses={self.misses} reused={self.reused}>"
        )

    def statistics(self) -> dict[str, Any]:
        with self._changed:
            return {
                "size": self.size,
                "idle": {n: len(v) for n, v in self._idle.items()},
                "leased": len(self._leased),
                "hits": self.hits,
                "misses": self.misses,
                "reused": self.reused,
            }

    def has_warm(self, node_id: str) -> bool:
        with self._changed:
            return bool(self._idle.get(node_id) or self._returning.get(node_id))

    def take(self, node_id: str, wait_s: float = 0.0) -> PooledActor | None:
        """Lease an idle actor on ``node_id``, waiting up to ``wait_s`` for one
        that is being recycled; None when there is none."""
        deadline = time.monotonic() + wait_s
        with self._changed:
            while True:
                idle = self._idle.get(node_id)
                if idle:
                    self.hits += 1
                    pooled = idle.pop(0)
                    self._leased[pooled.actor_name] = node_id
                    return pooled
                remaining = deadline - time.monotonic()
                if not self._returning.get(node_id) or remaining <= 0:
                    self.misses += 1
                    return None
                self._changed.wait(remaining)

    def recycling(self, node_id: str) -> None:
        """Announce that an actor on ``node_id`` is being recycled."""
        with self._changed:
            self._returning[node_id] = self._returning.get(node_id, 0) + 1

    def give_back(
        self,
        node_id: str,
        actor_name: str,
        pooled: PooledActor | None,
        *,
        keep: int,
        announced: bool = True,
    ) -> None:
        """End the lease of ``actor_name``: keep ``pooled`` (the recycled
        actor, None when it could not be recycled) while fewer than ``keep``
        actors idle on the node, otherwise kill it."""
        import ray

        with self._changed:
            self._leased.pop(actor_name, None)
            if announced:
                self._returning[node_id] = max(self._returning.get(node_id, 0) - 1, 0)
            keep_it = (
                pooled is not None
                and not self._closed
                and node_id not in self._dropped
                and len(self._idle.get(node_id, [])) < keep
            )
            if keep_it:
                assert pooled is not None
                self._idle.setdefault(node_id, []).append(pooled)
                self.reused += 1
            self._changed.notify_all()
        if pooled is not None and not keep_it:
            ray.kill(pooled.handle, no_restart=True)

    def _missing(self, node_id: str) -> int:
        leased = sum(1 for n in self._leased.values() if n == node_id)
        return (
            self.size
            - len(self._idle.get(node_id, []))
            - self._starting.get(node_id, 0)
            - leased
        )

    def refill(self, node_id: str) -> None:
        """Start actors on ``node_id`` until the pool is full; waits for them."""
        import ray

        with self._changed:
            missing = self._missing(node_id)
            if missing <= 0 or self._closed or node_id in self._dropped:
                return
            self._starting[node_id] = self._starting.get(node_id, 0) + missing
        started = []
        for _ in range(missing):
            name = new_actor_name()
            handle = spawn_container_actor(
                self.namespace, name, node_id, None, self.redis_url, self.data_dir
            )
            started.append(PooledActor(name, node_id, handle))
        try:
            ray.get([p.handle.warm.remote() for p in started])
        except BaseException:
            for pooled in started:
                ray.kill(pooled.handle, no_restart=True)
            raise
        finally:
            with self._changed:
                self._starting[node_id] -= missing
        with self._changed:
            closed = self._closed or node_id in self._dropped
            if not closed:
                self._idle.setdefault(node_id, []).extend(started)
                self._changed.notify_all()
        if closed:
            for pooled in started:
                ray.kill(pooled.handle, no_restart=True)

    def drop_node(self, node_id: str) -> None:
        """Forget ``node_id``, which left the cluster, and its actors."""
        with self._changed:
            self._dropped.add(node_id)
            self._idle.pop(node_id, None)
            self._returning.pop(node_id, None)
            self._changed.notify_all()

    def close(self) -> None:
        import ray

        with self._changed:
            self._closed = True
            idle = [p for actors in self._idle.values() for p in actors]
            self._idle.clear()
            self._changed.notify_all()
        for pooled in idle:
            ray.kill(pooled.handle, no_restart=True)
