"""Cost estimates per placement, learned online from observed runs.

A placement's cost is the estimated seconds until the workload's result is
back. It adds four parts: the start latency (a warm pooled actor or a new
one), the expected run time for this kind of workload on that backend, the
wait behind the node's queue, and moving the workload's data to the node
when it lives elsewhere.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULTS", "CostBreakdown", "CostModel", "Placement"]

# Starting estimates in seconds, measured on a 2-core Debian 12 VM (Ray 2.60,
# wasmtime 50, runsc 2022-12-19); learned values replace them after runs.
# A start estimate covers the whole container around the run, as the
# scheduler observes it: create, start, the execution's overhead and
# terminate. In bench/bench_scheduler.py runs with recycled actors and both
# cores busy, the model learned 0.04 s (warm WASM) and 0.4 to 0.5 s (warm
# gVisor).
DEFAULTS: Mapping[str, float] = {
    # A recycled or pooled actor adopts the container in a few milliseconds
    # and already has a WASM worker process running.
    "start.wasm.warm": 0.05,
    # A new Ray actor (about 0.6 s), its worker process, and loading the
    # cached CPython module: 1.1 to 1.5 s.
    "start.wasm.cold": 1.3,
    # A new container actor, runsc create and start of a sandbox with the
    # curated rootfs, and its teardown: 1.4 to 2.1 s.
    "start.gvisor.cold": 1.6,
    # A pooled actor saves the Ray actor start (about 0.6 s); runsc create,
    # start and teardown of a sandbox remain.
    "start.gvisor.warm": 0.5,
    # CPython for WASI starts in about 31 ms; native CPython in gVisor in
    # about 60 ms including runsc exec.
    "run.wasm.python": 0.06,
    "run.gvisor.python": 0.08,
    "run.wasm.tool": 0.01,
    "run.gvisor.tool": 0.05,
    "run.gvisor.native": 0.06,
    # CPU-bound Python in WASM runs about 7x slower than native CPython.
    "wasm.slowdown": 7.0,
    # Bytes per second when a workload's data must move to another node.
    "transfer.bytes_per_s": 100e6,
}

# Weight of a new observation in the moving averages.
LEARNING_RATE = 0.3


@dataclass(frozen=True, order=True)
class Placement:
    """Candidate location of a workload: a backend on a node."""

    backend: str
    node_id: str

    def __str__(self) -> str:
        return f"{self.backend}@{self.node_id[:8]}"


@dataclass(frozen=True)
class CostBreakdown:
    """The estimated seconds of each part of a placement's cost."""

    placement: Placement
    start_s: float
    run_s: float
    queue_s: float
    transfer_s: float
    learned: bool = False
    parts: Mapping[str, str] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.start_s + self.run_s + self.queue_s + self.transfer_s

    def as_dict(self) -> dict[str, object]:
        return {
            "placement": str(self.placement),
            "backend": self.placement.backend,
            "node_id": self.placement.node_id,
            "total_s": round(self.total_s, 4),
            "start_s": round(self.start_s, 4),
            "run_s": round(self.run_s, 4),
            "queue_s": round(self.queue_s, 4),
            "transfer_s": round(self.transfer_s, 4),
            "learned": self.learned,
        }


def _family(kind: str) -> str:
    return kind.split(":", 1)[0]


class CostModel:
    """Estimates per (workload kind, backend), updated from observed runs.

    Run-time estimates are exponential moving averages per kind and backend.
    A kind seen on one backend only is estimated on the other through the
    learned ratio between the backends (starting at the measured 7x).
    """

    def __init__(self, defaults: Mapping[str, float] | None = None):
        self.defaults = dict(DEFAULTS)
        self.defaults.update(defaults or {})
        self._runs: dict[tuple[str, str], float] = {}
        self._starts: dict[str, float] = {}
        self._observations = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<CostModel kinds={len(self._runs)} observations={self._observations}>"

    def statistics(self) -> dict[str, object]:
        with self._lock:
            return {
                "observations": self._observations,
                "run_estimates": {f"{k}|{b}": v for (k, b), v in self._runs.items()},
                "start_estimates": dict(self._starts),
            }

    def observe_run(self, kind: str, backend: str, seconds: float) -> None:
        """Fold one observed run time into the estimate for ``kind``."""
        with self._lock:
            self._observations += 1
            key = (kind, backend)
            old = self._runs.get(key)
            self._runs[key] = (
                seconds if old is None else old + LEARNING_RATE * (seconds - old)
            )

    def observe_start(self, name: str, seconds: float) -> None:
        """Fold one observed start latency (``start.wasm.warm`` etc.) in."""
        with self._lock:
            old = self._starts.get(name, self.defaults.get(name, seconds))
            self._starts[name] = old + LEARNING_RATE * (seconds - old)

    def start_s(self, name: str) -> float:
        with self._lock:
            return self._starts.get(name, self.defaults[name])

    def run_s(
        self, kind: str, backend: str, cpu_estimate_s: float | None = None
    ) -> tuple[float, bool]:
        """Return (estimated run seconds, whether it was learned).

        ``cpu_estimate_s`` is a static estimate of native CPU seconds, used
        only while nothing was learned for this kind.
        """
        with self._lock:
            own = self._runs.get((kind, backend))
            if own is not None:
                return own, True
            other_backend = "gvisor" if backend == "wasm" else "wasm"
            other = self._runs.get((kind, other_backend))
        family = _family(kind)
        if other is not None:
            # Only the CPU-bound part scales; the fixed part is the default.
            ratio = self.defaults["wasm.slowdown"]
            base = self.defaults.get(f"run.{other_backend}.{family}", 0.05)
            variable = max(other - base, 0.0)
            scaled = variable * ratio if backend == "wasm" else variable / ratio
            return self.defaults.get(f"run.{backend}.{family}", 0.05) + scaled, True
        base = self.defaults.get(f"run.{backend}.{family}", 0.06)
        if cpu_estimate_s is not None:
            scale = self.defaults["wasm.slowdown"] if backend == "wasm" else 1.0
            return base + cpu_estimate_s * scale, False
        return base, False

    def estimate(
        self,
        placement: Placement,
        kind: str,
        *,
        warm: bool,
        queued_s: float,
        transfer_bytes: int,
        cpu_estimate_s: float | None = None,
    ) -> CostBreakdown:
        """Return the cost of running a workload of ``kind`` at ``placement``."""
        backend = placement.backend
        start_name = f"start.{backend}.{'warm' if warm else 'cold'}"
        run, learned = self.run_s(kind, backend, cpu_estimate_s)
        transfer = transfer_bytes / self.defaults["transfer.bytes_per_s"]
        return CostBreakdown(
            placement=placement,
            start_s=self.start_s(start_name),
            run_s=run,
            queue_s=queued_s,
            transfer_s=transfer,
            learned=learned,
            parts={"start": start_name},
        )
