"""Choosing a placement: feasibility first, then the cheapest estimate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from incontainer.config import EnvironmentType
from incontainer.errors import (
    BackendUnavailableError,
    IncontainerError,
    UnschedulableError,
)
from incontainer.scheduler.cost import CostBreakdown, CostModel, Placement
from incontainer.scheduler.feasibility import Requirements

__all__ = ["Decision", "NodeView", "decide"]

RUNSC_HINT = (
    "install runsc (`apt-get install runsc`) on a node and give it the Ray "
    "resource 'gvisor'"
)


@dataclass(frozen=True)
class NodeView:
    """The scheduler's view of one alive Ray node at decision time."""

    node_id: str
    gvisor: bool
    memory_mb: float
    reserved_mb: float
    queued_s: float
    queue_full: bool
    warm_actor: bool


@dataclass
class Decision:
    """A placement decision with its evidence; ``chosen`` is None if nowhere."""

    workload_id: str
    workload_name: str
    requirements: Requirements
    chosen: Placement | None
    costs: list[CostBreakdown]
    excluded: list[tuple[str, list[str]]]
    escalations: list[str] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)

    def reason(self) -> str:
        """Return a one-line reason for the choice, for tables and logs."""
        if self.chosen is None:
            reasons = sorted({r for _, rs in self.excluded for r in rs})
            return "unschedulable: " + "; ".join(reasons)
        best = next(c for c in self.costs if c.placement == self.chosen)
        others = [c for c in self.costs if c.placement.backend != self.chosen.backend]
        text = f"{self.chosen.backend}: est {best.total_s * 1000:.0f} ms"
        if others:
            runner_up = min(others, key=lambda c: c.total_s)
            text += (
                f" vs {runner_up.placement.backend} {runner_up.total_s * 1000:.0f} ms"
            )
        else:
            blocked = [
                rs for p, rs in self.excluded if not p.startswith(self.chosen.backend)
            ]
            if blocked and blocked[0]:
                text += f"; other backend excluded: {blocked[0][0]}"
        if self.escalations:
            text += "; " + "; ".join(self.escalations)
        return text

    def explain(self) -> dict[str, Any]:
        """Return the decision as plain data: choice, costs, exclusions."""
        return {
            "workload_id": self.workload_id,
            "workload": self.workload_name,
            "kind": self.requirements.kind,
            "chosen": str(self.chosen) if self.chosen else None,
            "backend": self.chosen.backend if self.chosen else None,
            "node_id": self.chosen.node_id if self.chosen else None,
            "reason": self.reason(),
            "costs": [c.as_dict() for c in sorted(self.costs, key=lambda c: c.total_s)],
            "excluded": [{"placement": p, "reasons": rs} for p, rs in self.excluded],
            "escalations": list(self.escalations),
            "attempts": list(self.attempts),
        }


def _exclusions(
    requirements: Requirements,
    environment: EnvironmentType,
    node: NodeView,
    backend: str,
) -> list[str]:
    reasons = []
    if environment is EnvironmentType.CLIENT and backend == "gvisor":
        reasons.append("environment.type is client, which pins WASM")
    if environment is EnvironmentType.SERVER and backend == "wasm":
        reasons.append("environment.type is server, which pins gVisor")
    if backend == "wasm":
        reasons.extend(requirements.wasm_blockers())
    if backend == "gvisor" and requirements.network:
        reasons.append("needs network access, and this runsc build offers none")
    if requirements.memory_mb > node.memory_mb - node.reserved_mb:
        free = max(node.memory_mb - node.reserved_mb, 0)
        reasons.append(
            f"needs {requirements.memory_mb} MB, node has {free:.0f} MB free"
        )
    if node.queue_full:
        reasons.append("node queue is full")
    return reasons


POLICIES = ("cost", "gvisor", "wasm", "round_robin")
NO_GVISOR_NODE = "no gVisor node in the cluster"


def unschedulable_error(
    decision: Decision, environment: EnvironmentType
) -> IncontainerError:
    """Return the error for a workload that no placement can run.

    Only a workload that could use gVisor, and finds no gVisor node, gets
    BackendUnavailableError with the install hint. Anything else gets
    UnschedulableError with every exclusion reason.
    """
    reason = decision.reason()
    missing_gvisor = any(
        r.startswith(NO_GVISOR_NODE) for _, rs in decision.excluded for r in rs
    )
    if missing_gvisor and environment is not EnvironmentType.CLIENT:
        return BackendUnavailableError(
            f"workload {decision.workload_name!r} is {reason}",
            program="runsc",
            hint=RUNSC_HINT,
        )
    reasons = tuple(sorted({r for _, rs in decision.excluded for r in rs}))
    return UnschedulableError(
        f"workload {decision.workload_name!r} is {reason}", reasons=reasons
    )


def _choose(costs: list[CostBreakdown], policy: str, turn: int) -> Placement | None:
    if not costs:
        return None
    if policy == "round_robin":
        ordered = sorted(c.placement for c in costs)
        return ordered[turn % len(ordered)]
    preferred = [c for c in costs if c.placement.backend == policy] or costs
    return min(preferred, key=lambda c: (c.total_s, c.placement)).placement


def decide(
    workload_id: str,
    workload_name: str,
    requirements: Requirements,
    environment: EnvironmentType,
    nodes: Sequence[NodeView],
    model: CostModel,
    *,
    transfer_bytes: Mapping[str, int] | None = None,
    avoid: frozenset[Placement] = frozenset(),
    policy: str = "cost",
    turn: int = 0,
) -> Decision:
    """List placements, exclude the infeasible with reasons, pick one.

    ``policy`` "cost" picks the cheapest estimate. The baselines the
    benchmark compares against: "gvisor" and "wasm" prefer that backend
    wherever it is feasible, and "round_robin" takes feasible placements in
    turn (``turn`` is the submission counter).
    """
    costs: list[CostBreakdown] = []
    excluded: list[tuple[str, list[str]]] = []
    if not any(n.gvisor for n in nodes):
        excluded.append(("gvisor", [f"{NO_GVISOR_NODE}; {RUNSC_HINT}"]))
    for node in nodes:
        backends = ["wasm", "gvisor"] if node.gvisor else ["wasm"]
        for backend in backends:
            placement = Placement(backend, node.node_id)
            reasons = _exclusions(requirements, environment, node, backend)
            if placement in avoid:
                reasons.append("an earlier attempt there failed")
            if reasons:
                excluded.append((str(placement), reasons))
                continue
            moved = sum(
                size
                for where, size in (transfer_bytes or {}).items()
                if where != node.node_id
            )
            costs.append(
                model.estimate(
                    placement,
                    requirements.kind,
                    warm=node.warm_actor,
                    queued_s=node.queued_s,
                    transfer_bytes=moved,
                    cpu_estimate_s=requirements.cpu_estimate_s,
                )
            )
    chosen = _choose(costs, policy, turn)
    return Decision(workload_id, workload_name, requirements, chosen, costs, excluded)
