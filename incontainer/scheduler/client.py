"""Client side of the scheduler: find or start it, submit, map, explain."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from incontainer.config import short_repr
from incontainer.errors import IncontainerError, InvalidInputError, TimedOutError
from incontainer.scheduler.service import SchedulerService, SchedulerSettings
from incontainer.workload import Workload, WorkloadResult

__all__ = ["SCHEDULER_NAME", "WorkloadHandle", "get_scheduler", "map_workloads"]

SCHEDULER_NAME = "incontainer-scheduler"
# Threads of the scheduler actor: submissions, waits and explanations are
# served while workloads run on the per-node executors.
SCHEDULER_CONCURRENCY = 64


def get_scheduler(
    namespace: str,
    redis_url: str,
    data_dir: str,
    settings: SchedulerSettings | None = None,
) -> Any:
    """Return the namespace's scheduler actor, starting it if there is none.

    A new scheduler is placed on the caller's node (on a cluster launched
    from cluster.yaml, the head), so that losing a worker node does not take
    the scheduler and its bookkeeping with it.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor_class = ray.remote(SchedulerService)
    here = ray.get_runtime_context().get_node_id()
    return actor_class.options(
        name=SCHEDULER_NAME,
        namespace=namespace,
        lifetime="detached",
        get_if_exists=True,
        max_concurrency=SCHEDULER_CONCURRENCY,
        num_cpus=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True),
    ).remote(redis_url, data_dir, namespace, settings or SchedulerSettings())


def stop_scheduler(namespace: str, timeout_s: float = 120.0) -> None:
    """Close the namespace's scheduler actor, kill it and wait until its name is free.

    Closing lets the scheduler finish the background teardown of finished
    workloads. Raises TimedOutError when close or the name release takes
    longer than ``timeout_s``.
    """
    import ray

    try:
        scheduler = ray.get_actor(SCHEDULER_NAME, namespace=namespace)
    except ValueError:
        return
    deadline = time.monotonic() + timeout_s
    try:
        ray.get(scheduler.close.remote(), timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise TimedOutError(
            f"scheduler {SCHEDULER_NAME!r} did not close within {timeout_s} s"
        ) from None
    finally:
        ray.kill(scheduler, no_restart=True)
    while time.monotonic() < deadline:
        try:
            ray.get_actor(SCHEDULER_NAME, namespace=namespace)
        except ValueError:
            return
        time.sleep(0.1)
    raise TimedOutError(
        f"scheduler actor {SCHEDULER_NAME!r} still exists {timeout_s} s after kill"
    )


def _get(ref: Any) -> Any:
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.as_instanceof_cause()  # type: ignore[no-untyped-call]
        if isinstance(cause, IncontainerError):
            raise cause from None
        raise


@dataclass(frozen=True)
class WorkloadHandle:
    """A submitted workload: wait for its result or ask why it went where."""

    workload_id: str
    scheduler: Any

    def result(self, timeout: float | None = None) -> WorkloadResult:
        """Wait for the result; raise TimedOutError after ``timeout`` seconds."""
        outcome = _get(self.scheduler.result.remote(self.workload_id, timeout))
        if outcome is None:
            raise TimedOutError(
                f"workload {self.workload_id} did not finish within {timeout} s; "
                "call result() again to keep waiting"
            )
        return outcome  # type: ignore[no-any-return]

    def explain(self) -> dict[str, Any]:
        """Return the placement decision: choice, costs, exclusions."""
        return _get(self.scheduler.explain.remote(self.workload_id))  # type: ignore[no-any-return]


def submit_workload(scheduler: Any, workload: Workload) -> WorkloadHandle:
    return WorkloadHandle(_get(scheduler.submit.remote(workload)), scheduler)


def map_workloads(
    scheduler: Any, workloads: Iterable[Workload], *, poll_s: float = 5.0
) -> Iterator[tuple[WorkloadHandle, WorkloadResult]]:
    """Submit every workload, then yield (handle, result) as each finishes.

    Every item is checked before the first is submitted, so a bad item
    raises InvalidInputError and nothing runs.
    """
    batch = list(workloads)
    for index, workload in enumerate(batch):
        if not isinstance(workload, Workload):
            raise InvalidInputError(
                f"invalid workloads[{index}] {short_repr(workload)}: expected "
                "incontainer.Workload; nothing was submitted",
                field=f"workloads[{index}]",
                value=type(workload).__name__,
            )
    handles = {h.workload_id: h for h in (submit_workload(scheduler, w) for w in batch)}
    pending = list(handles)
    while pending:
        finished = _get(scheduler.wait_any.remote(pending, poll_s))
        for workload_id in finished:
            pending.remove(workload_id)
            handle = handles[workload_id]
            yield handle, handle.result()
