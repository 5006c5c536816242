"""The scheduler actor: routes workloads, runs them, learns, explains.

One named, detached scheduler actor serves a Ray namespace. ``submit``
decides a placement for a workload and queues it on that node; per-node
worker threads run queued workloads through an in-actor ContainerManager.
Results are kept by workload id; a second result for an id is logged and
dropped, so each id has exactly one.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from incontainer.config import EnvironmentType
from incontainer.errors import (
    CapacityError,
    IncontainerError,
    InvalidInputError,
    SandboxError,
)
from incontainer.scheduler.cost import CostModel, Placement
from incontainer.scheduler.feasibility import Requirements, analyze
from incontainer.scheduler.placement import (
    POLICIES,
    Decision,
    NodeView,
    decide,
    unschedulable_error,
)
from incontainer.workload import Workload, WorkloadResult, run_workload

__all__ = ["SchedulerService", "SchedulerSettings"]

logger = logging.getLogger(__name__)

# stderr of a WASM run that failed because the sandbox lacks a capability
# rather than because the program is wrong: a module missing from the WASM
# build, or a system call WASI does not offer (ENOSYS 52, ENOTSUP 58).
_CAPABILITY_ERRORS = re.compile(
    rb"ModuleNotFoundError|No module named|\[Errno (52|58)\]|"
    rb"not supported on this platform|cannot fork|OSError: \[Errno 76\]"
)
MAX_ATTEMPTS = 3
# How long a workload waits for a container actor that is being recycled on
# its node before it starts one cold. Recycling takes milliseconds for WASM
# and about 0.2 s for gVisor; a cold actor start about 0.6 s of CPU.
POOL_WAIT_S = 2.0


@dataclass(frozen=True)
class SchedulerSettings:
    """Tunables of the scheduler; the README describes each one.

    ``queue_limit`` is the number of workloads a node may have waiting or
    running. ``when_full`` is "wait" (submit blocks up to ``wait_s``) or
    "fail" (submit raises CapacityError at once). ``slots`` is how many
    workloads run at once per node (0: the node's CPU count). ``pool_size``
    is how many idle container actors each node keeps started; finished
    one-shot containers hand their actors back to it (0: no pool, and every
    container gets a new actor).
    """

    queue_limit: int = 64
    when_full: str = "wait"
    wait_s: float = 300.0
    slots: int = 0
    pool_size: int = 2
    policy: str = "cost"
    # Run-time estimates to start from, as {"KIND|BACKEND": seconds}; the
    # benchmark's oracle preloads the measured true run times here.
    preload: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InvalidInputError(
                f"invalid policy {self.policy!r}: expected one of {POLICIES}",
                field="policy",
                value=self.policy,
            )
        if self.when_full not in ("wait", "fail"):
            raise InvalidInputError(
                f"invalid when_full {self.when_full!r}: expected 'wait' or 'fail'",
                field="when_full",
                value=self.when_full,
            )
        for name in ("queue_limit", "slots", "pool_size"):
            value = getattr(self, name)
            if (
                not isinstance(value, int)
                or value < 0
                or (name == "queue_limit" and value == 0)
            ):
                raise InvalidInputError(
                    f"invalid {name} {value!r}: expected a non-negative whole number",
                    field=name,
                    value=value,
                )


@dataclass
class _Task:
    workload_id: str
    workload: Workload
    requirements: Requirements
    decision: Decision
    submitted: float
    avoid: set[Placement] = dataclasses.field(default_factory=set)


class _Node:
    """Per-node bookkeeping: executor, load, reserved memory."""

    def __init__(self, node_id: str, gvisor: bool, memory_mb: float, slots: int):
        self.node_id = node_id
        self.gvisor = gvisor
        self.memory_mb = memory_mb
        self.slots = slots
        self.executor = ThreadPoolExecutor(
            slots, thread_name_prefix=f"node-{node_id[:6]}"
        )
        self.assigned = 0
        self.running = 0
        self.reserved_mb = 0.0
        self.expected_s = 0.0
        self.alive = True


class SchedulerService:
    """The body of the scheduler actor (plain Python, wrapped by Ray)."""

    def __init__(
        self, redis_url: str, data_dir: str, namespace: str, settings: SchedulerSettings
    ):
        from incontainer.actors.pool import WarmPool
        from incontainer.manager import create_container_manager

        self.settings = settings
        self.model = CostModel()
        for key, seconds in settings.preload:
            kind, _, backend = key.rpartition("|")
            self.model.observe_run(kind, backend, seconds)
        self._turn = 0
        self.manager = create_container_manager(
            redis_url=redis_url, data_dir=data_dir, namespace=namespace
        )
        self.pool = WarmPool(namespace, redis_url, data_dir, settings.pool_size)
        self._teardown = ThreadPoolExecutor(4, thread_name_prefix="teardown")
        self._nodes: dict[str, _Node] = {}
        self._tasks: dict[str, _Task] = {}
        self._results: dict[str, WorkloadResult] = {}
        self._done = threading.Condition()
        self._space = threading.Condition()
        self._lock = threading.RLock()
        self._refresh_nodes()
        for node_id in list(self._nodes):
            self._refill(node_id)

    def __repr__(self) -> str:
        return (
            f"<Scheduler nodes={len(self._nodes)} tasks={len(self._tasks)} "
            f"done={len(self._results)} {self.pool!r}>"
        )

    # Nodes ----------------------------------------------------------------

    def _refresh_nodes(self) -> None:
        import ray

        alive = {}
        for node in ray.nodes():  # type: ignore[no-untyped-call]
            if node.get("Alive"):
                alive[node["NodeID"]] = node.get("Resources", {})
        with self._lock:
            for node_id, node in self._nodes.items():
                if node_id not in alive and node.alive:
                    node.alive = False
                    self.pool.drop_node(node_id)
            for node_id, resources in alive.items():
                if node_id in self._nodes:
                    continue
                cpus = int(resources.get("CPU", 1)) or 1
                self._nodes[node_id] = _Node(
                    node_id,
                    gvisor=resources.get("gvisor", 0) > 0,
                    memory_mb=resources.get("memory", 8 << 30) / 2**20,
                    slots=self.settings.slots or max(cpus, 1),
                )

    def _refill(self, node_id: str) -> None:
        if self.settings.pool_size == 0:
            return
        threading.Thread(
            target=self._refill_now, args=(node_id,), daemon=True, name="pool-refill"
        ).start()

    def _refill_now(self, node_id: str) -> None:
        try:
            self.pool.refill(node_id)
        except Exception:
            # A node that vanished while its pool filled; its work is rerouted.
            logger.warning("warm pool refill on node %s failed", node_id, exc_info=True)

    def _views(self) -> list[NodeView]:
        limit = self.settings.queue_limit
        with self._lock:
            return [
                NodeView(
                    node_id=n.node_id,
                    gvisor=n.gvisor,
                    memory_mb=n.memory_mb,
                    reserved_mb=n.reserved_mb,
                    queued_s=max(n.assigned - n.slots + 1, 0) * n.expected_s / n.slots
                    if n.assigned >= n.slots
                    else 0.0,
                    queue_full=n.assigned >= n.slots + limit,
                    warm_actor=self.pool.has_warm(n.node_id),
                )
                for n in self._nodes.values()
                if n.alive
            ]

    # Submission -----------------------------------------------------------

    def submit(self, workload: Workload) -> str:
        """Place ``workload`` and queue it; return its workload id."""
        if not isinstance(workload, Workload):
            raise InvalidInputError(
                f"invalid workload {workload!r}: expected incontainer.Workload",
                field="workload",
                value=type(workload).__name__,
            )
        workload_id = "w-" + uuid.uuid4().hex[:12]
        requirements = analyze(workload)
        decision = self._place(workload_id, workload, requirements, frozenset())
        task = _Task(workload_id, workload, requirements, decision, time.time())
        with self._lock:
            self._tasks[workload_id] = task
        if decision.chosen is None:
            self._finish(
                task, None, unschedulable_error(decision, workload.config.environment)
            )
        else:
            self._enqueue(task)
        return workload_id

    def _place(
        self,
        workload_id: str,
        workload: Workload,
        requirements: Requirements,
        avoid: frozenset[Placement],
    ) -> Decision:
        """Decide, waiting for queue space when every feasible node is full."""
        deadline = time.monotonic() + self.settings.wait_s
        while True:
            self._refresh_nodes()
            with self._lock:
                self._turn += 1
                turn = self._turn
            decision = decide(
                workload_id,
                workload.name,
                requirements,
                workload.config.environment,
                self._views(),
                self.model,
                avoid=avoid,
                policy=self.settings.policy,
                turn=turn,
            )
            full = [p for p, rs in decision.excluded if "node queue is full" in rs]
            if decision.chosen is not None or not full:
                return decision
            if self.settings.when_full == "fail" or time.monotonic() >= deadline:
                raise CapacityError(
                    f"every feasible node queue is full ({self.settings.queue_limit} "
                    f"workloads each) for workload {workload.name!r}; retry later, "
                    "raise queue_limit, or add nodes"
                )
            with self._space:
                self._space.wait(timeout=min(1.0, max(deadline - time.monotonic(), 0)))

    def _enqueue(self, task: _Task) -> None:
        placement = task.decision.chosen
        assert placement is not None
        task.decision.attempts.append(str(placement))
        with self._lock:
            node = self._nodes[placement.node_id]
            node.assigned += 1
            node.reserved_mb += task.requirements.memory_mb
            estimate = next(c for c in task.decision.costs if c.placement == placement)
            node.expected_s += 0.3 * (estimate.run_s - node.expected_s)
            node.executor.submit(self._run, task, placement)

    # Running --------------------------------------------------------------

    def _run(self, task: _Task, placement: Placement) -> None:
        try:
            outcome = self._attempt(task, placement)
        except Exception as exc:
            logger.exception("workload %s failed in the scheduler", task.workload_id)
            outcome = None
            error: IncontainerError | None = SandboxError(f"scheduler failed: {exc!r}")
        else:
            error = None
        finally:
            self._release(placement, task)
        if outcome is None and error is None:
            return  # rerouted: another attempt owns the task now
        self._finish(task, outcome, error)

    def _attempt(self, task: _Task, placement: Placement) -> WorkloadResult | None:
        with self._lock:
            node = self._nodes[placement.node_id]
            alive = node.alive
        if not alive and self._reroute(task, placement, "node left the cluster"):
            return None
        pooled = None
        if self.settings.pool_size:
            pooled = self.pool.take(placement.node_id, wait_s=POOL_WAIT_S)
            self._refill(placement.node_id)
        leased = pooled.actor_name if pooled else ""

        def release(container_id: str) -> None:
            self._release_container(container_id, placement.node_id, leased)

        started = time.monotonic()
        outcome = run_workload(
            self.manager,
            task.workload,
            backend=placement.backend,
            node_id=placement.node_id,
            pooled=pooled,
            release=release,
        )
        if pooled is not None and not outcome.container_id:
            # Creation failed, so no release follows. The actor may be half
            # set up or already killed, so it is not reused.
            self.pool.give_back(
                placement.node_id, leased, None, keep=0, announced=False
            )
            import ray

            ray.kill(pooled.handle, no_restart=True)
        self._learn(task, placement, outcome, pooled is not None, started)
        if self._lost(outcome) and self._reroute(task, placement, str(outcome.error)):
            return None
        if self._lacks_capability(placement, outcome) and self._escalate(task):
            return None
        return outcome

    def _release_container(self, container_id: str, node_id: str, leased: str) -> None:
        """End a one-shot container off the node's slot, recycling its actor."""
        if not self.settings.pool_size:
            self._submit_teardown(self._terminate_quietly, container_id)
            return
        self.pool.recycling(node_id)
        self._submit_teardown(self._recycle, container_id, node_id, leased)

    def _submit_teardown(self, function: Callable[..., None], *args: str) -> None:
        try:
            self._teardown.submit(function, *args)
        except RuntimeError:
            # The scheduler is closing and its teardown pool is shut down.
            function(*args)

    def _terminate_quietly(self, container_id: str) -> None:
        try:
            self.manager.terminate_container(container_id)
        except IncontainerError:
            # No caller waits for a background teardown, so log it. The gVisor
            # reaper removes what a failed one leaves.
            logger.warning(
                "terminating container %s failed", container_id, exc_info=True
            )

    def _recycle(self, container_id: str, node_id: str, leased: str) -> None:
        recycled = None
        try:
            recycled = self.manager.recycle_container(container_id)
        except Exception:
            # Runs on the teardown pool, where no caller sees the error.
            logger.warning("recycling container %s failed", container_id, exc_info=True)
        finally:
            with self._lock:
                node = self._nodes.get(node_id)
                keep = max(self.settings.pool_size, node.slots if node else 0)
            self.pool.give_back(node_id, leased, recycled, keep=keep)

    def _learn(
        self,
        task: _Task,
        placement: Placement,
        outcome: WorkloadResult,
        warm: bool,
        started: float,
    ) -> None:
        if outcome.result is None:
            return
        run_s = outcome.result.duration_s
        self.model.observe_run(task.requirements.kind, placement.backend, run_s)
        total = time.monotonic() - started
        name = f"start.{placement.backend}.{'warm' if warm else 'cold'}"
        self.model.observe_start(name, max(total - run_s, 0.0))

    def _lost(self, outcome: WorkloadResult) -> bool:
        error = outcome.error
        return isinstance(error, SandboxError) and "unavailable" in str(error)

    def _lacks_capability(self, placement: Placement, outcome: WorkloadResult) -> bool:
        result = outcome.result
        return (
            placement.backend == "wasm"
            and result is not None
            and result.exit_code != 0
            and bool(_CAPABILITY_ERRORS.search(result.stderr))
        )

    def _reroute(self, task: _Task, placement: Placement, why: str) -> bool:
        """Place ``task`` again away from ``placement``; False if out of tries."""
        self._refresh_nodes()
        task.avoid.add(placement)
        if len(task.decision.attempts) >= MAX_ATTEMPTS:
            return False
        decision = self._place(
            task.workload_id, task.workload, task.requirements, frozenset(task.avoid)
        )
        decision.attempts = task.decision.attempts
        decision.escalations = [
            *task.decision.escalations,
            f"rerouted from {placement}: {why}",
        ]
        task.decision = decision
        if decision.chosen is None:
            return False
        self._enqueue(task)
        return True

    def _escalate(self, task: _Task) -> bool:
        """Retry a WASM failure caused by a missing capability on gVisor."""
        if task.workload.config.environment is EnvironmentType.CLIENT:
            return False
        nodes = [v for v in self._views() if v.gvisor and not v.queue_full]
        if not nodes:
            return False
        avoid = {Placement("wasm", v.node_id) for v in self._views()}
        decision = decide(
            task.workload_id, task.workload.name, task.requirements,
            EnvironmentType.SERVER, nodes, self.model, avoid=frozenset(avoid),
        )  # fmt: skip
        if decision.chosen is None:
            return False
        decision.attempts = task.decision.attempts
        decision.escalations = [
            *task.decision.escalations,
            "escalated from wasm to gvisor: the WASM run failed for a missing "
            "capability",
        ]
        task.decision = decision
        self._enqueue(task)
        return True

    def _release(self, placement: Placement, task: _Task) -> None:
        with self._lock:
            node = self._nodes[placement.node_id]
            node.assigned -= 1
            node.reserved_mb -= task.requirements.memory_mb
        with self._space:
            self._space.notify_all()

    def _finish(
        self,
        task: _Task,
        outcome: WorkloadResult | None,
        error: IncontainerError | None,
    ) -> None:
        decision = task.decision
        placement = {
            "backend": decision.chosen.backend if decision.chosen else "",
            "node_id": decision.chosen.node_id if decision.chosen else "",
            "reason": decision.reason(),
            "attempts": list(decision.attempts),
            "escalations": list(decision.escalations),
        }
        if outcome is None:
            outcome = WorkloadResult(task.workload, None, error, "", 0.0, placement)
        else:
            outcome = dataclasses.replace(outcome, placement=placement)
        with self._done:
            if task.workload_id in self._results:
                logger.error(
                    "workload %s finished twice; keeping the first", task.workload_id
                )
                return
            self._results[task.workload_id] = outcome
            self._done.notify_all()

    # Results and explanations ---------------------------------------------

    def _task(self, workload_id: str) -> _Task:
        with self._lock:
            task = self._tasks.get(workload_id)
        if task is None:
            raise InvalidInputError(
                f"workload {workload_id!r} not found: pass an id returned by submit",
                field="workload_id",
                value=workload_id,
            )
        return task

    def result(
        self, workload_id: str, timeout_s: float | None = None
    ) -> WorkloadResult | None:
        """Return the workload's result, waiting up to ``timeout_s`` (None: forever)."""
        self._task(workload_id)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._done:
            while workload_id not in self._results:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._done.wait(timeout=remaining)
            return self._results[workload_id]

    def wait_any(self, workload_ids: Sequence[str], timeout_s: float) -> list[str]:
        """Return the ids among ``workload_ids`` that have finished, waiting for one."""
        deadline = time.monotonic() + timeout_s
        with self._done:
            while True:
                finished = [w for w in workload_ids if w in self._results]
                remaining = deadline - time.monotonic()
                if finished or remaining <= 0:
                    return finished
                self._done.wait(timeout=remaining)

    def explain(self, workload_id: str) -> dict[str, Any]:
        return self._task(workload_id).decision.explain()

    def explain_workload(self, workload: Workload) -> dict[str, Any]:
        """Explain where ``workload`` would go now, without running it."""
        self._refresh_nodes()
        decision = decide(
            "preview", workload.name, analyze(workload), workload.config.environment,
            self._views(), self.model,
        )  # fmt: skip
        return decision.explain()

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        """Wait until every alive node's warm pool is full; return whether it is."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._refresh_nodes()
            with self._lock:
                alive = [n.node_id for n in self._nodes.values() if n.alive]
            idle = self.pool.statistics()["idle"]
            if all(idle.get(n, 0) >= self.settings.pool_size for n in alive):
                return True
            for node_id in alive:
                self._refill(node_id)
            time.sleep(0.05)
        return False

    def node_id(self) -> str:
        """Return the id of the Ray node this scheduler runs on."""
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def statistics(self) -> dict[str, Any]:
        with self._lock:
            nodes = {
                n.node_id: {
                    "alive": n.alive,
                    "gvisor": n.gvisor,
                    "assigned": n.assigned,
                    "slots": n.slots,
                    "reserved_mb": n.reserved_mb,
                }
                for n in self._nodes.values()
            }
        return {
            "nodes": nodes,
            "submitted": len(self._tasks),
            "finished": len(self._results),
            "pool": self.pool.statistics(),
            "model": self.model.statistics(),
        }

    def close(self) -> None:
        # Queued workloads are dropped; running ones end their containers
        # themselves once the teardown pool is shut down.
        for node in self._nodes.values():
            node.executor.shutdown(wait=False, cancel_futures=True)
        self._teardown.shutdown(wait=True)
        self.pool.close()
        self.manager.close()
